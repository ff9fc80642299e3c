//! The file adapter (`[target] kind = "file"`): the users as one SCIM ListResponse document of
//! the User resources the SCIM adapter would send, sorted by `userName` (ARCHITECTURE §4). For
//! the demo, air-gapped export and tests.
//!
//! Part of `target/`. Each apply reads the document, applies the changes, and replaces it
//! atomically (a temporary file beside it, fsync, rename, fsync of the folder): a crash leaves
//! the old document or the new one, never half of one. A new document is created 0600; one that
//! exists keeps its mode. A deactivated user stays with
//! `"active": false`; a deleted one goes. The SCIM `id` of each entry is the Entra object id.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::resource::{self, ENTERPRISE_SCHEMA};
use super::{Applied, Target, TargetError};
use crate::plan::{Change, Operation, PushedUser};

const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Writes the users to one JSON file.
#[derive(Debug, Clone)]
pub struct FileTarget {
    path: PathBuf,
}

impl FileTarget {
    pub fn new(path: impl Into<PathBuf>) -> FileTarget {
        FileTarget { path: path.into() }
    }

    /// The users the document holds now (empty when there is no file yet).
    pub fn read(&self) -> Result<Vec<Value>, TargetError> {
        read_users(&self.path)
    }

    fn apply_all(&self, changes: &[Change]) -> Result<Vec<Applied>, TargetError> {
        let mut users = read_users(&self.path)?;
        let mut index = Index::of(&users);
        let results = changes
            .iter()
            .map(|change| apply_one(&mut users, &mut index, change))
            .collect();
        users.retain(|u| !u.is_null());
        users.sort_by(|a, b| {
            let name = |u: &Value| u["userName"].as_str().unwrap_or_default().to_lowercase();
            name(a).cmp(&name(b))
        });
        let document = json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": users.len(),
            "Resources": users,
        });
        write_atomically(&self.path, &document).map_err(|err| TargetError::Unreadable {
            path: self.path.display().to_string(),
            detail: format!("cannot be written ({err})"),
        })?;
        Ok(results)
    }
}

impl Target for FileTarget {
    fn describe(&self) -> String {
        format!("file {}", self.path.display())
    }

    async fn check(&self) -> Result<(), TargetError> {
        read_users(&self.path).map(drop)
    }

    async fn apply(&self, changes: &[Change]) -> Vec<Applied> {
        if changes.is_empty() {
            return Vec::new();
        }
        match self.apply_all(changes) {
            Ok(results) => results,
            Err(err) => {
                let message = err.to_string();
                changes
                    .iter()
                    .map(|_| Applied::Failed {
                        message: message.clone(),
                    })
                    .collect()
            }
        }
    }

    /// The file's `id` is the Entra object id; its entries keep the permissions as `roles`.
    async fn read_back(
        &self,
        users: &[(String, PushedUser)],
    ) -> Vec<Result<Option<PushedUser>, String>> {
        match read_users(&self.path) {
            Ok(document) => {
                let index = Index::of(&document);
                users
                    .iter()
                    .map(|(id, template)| {
                        Ok(index
                            .by_id
                            .get(id)
                            .map(|&i| super::read_back::pushed_from(&document[i], template, true)))
                    })
                    .collect()
            }
            Err(err) => users.iter().map(|_| Err(err.to_string())).collect(),
        }
    }
}

/// Where each user is in the document, by id and by lower-cased userName, so a cycle of many
/// changes costs one lookup each. A deleted entry is left as `null` until the document is
/// written.
struct Index {
    by_id: std::collections::HashMap<String, usize>,
    by_name: std::collections::HashMap<String, usize>,
}

impl Index {
    fn of(users: &[Value]) -> Index {
        let mut index = Index {
            by_id: Default::default(),
            by_name: Default::default(),
        };
        for (i, user) in users.iter().enumerate() {
            index.add(user, i);
        }
        index
    }

    fn add(&mut self, user: &Value, at: usize) {
        if let Some(id) = user["id"].as_str() {
            self.by_id.insert(id.to_owned(), at);
        }
        if let Some(name) = user["userName"].as_str() {
            self.by_name.insert(name.to_lowercase(), at);
        }
    }

    fn remove(&mut self, user: &Value) {
        if let Some(id) = user["id"].as_str() {
            self.by_id.remove(id);
        }
        if let Some(name) = user["userName"].as_str() {
            self.by_name.remove(&name.to_lowercase());
        }
    }
}

fn apply_one(users: &mut Vec<Value>, index: &mut Index, change: &Change) -> Applied {
    let position = |index: &Index, id: &str| index.by_id.get(id).copied();
    match &change.operation {
        Operation::Create {
            attributes,
            permissions,
            department,
        } => {
            let mut user = resource::user(attributes, permissions, department.as_deref(), true);
            user["id"] = json!(change.id);
            let same_name = index.by_name.get(&change.user_name.to_lowercase()).copied();
            match position(index, &change.id).or(same_name) {
                Some(i) => {
                    index.remove(&users[i]);
                    index.add(&user, i);
                    users[i] = user;
                    Applied::Adopted {
                        target_id: change.id.clone(),
                    }
                }
                None => {
                    index.add(&user, users.len());
                    users.push(user);
                    Applied::Created {
                        target_id: change.id.clone(),
                    }
                }
            }
        }
        Operation::Update { delta } => {
            // Gone from the file behind entrasync's back: forget it, the next cycle creates it.
            let Some(i) = position(index, target_id(change)) else {
                return Applied::Missing;
            };
            index.remove(&users[i]);
            let user = &mut users[i];
            for (path, value) in &delta.attributes {
                resource::set(user, path, value.as_deref());
            }
            if let Some((_, after)) = &delta.permissions {
                match resource::roles(after) {
                    Value::Array(roles) if roles.is_empty() => {
                        if let Some(object) = user.as_object_mut() {
                            object.remove("roles");
                        }
                    }
                    roles => user["roles"] = roles,
                }
            }
            if let Some(department) = &delta.department {
                if let Some(object) = user.as_object_mut() {
                    resource::set_enterprise(object, "department", department.as_deref());
                }
            }
            if let Some(active) = delta.active {
                user["active"] = json!(active);
            }
            index.add(&users[i], i);
            Applied::Updated
        }
        Operation::Deactivate { .. } => match position(index, target_id(change)) {
            Some(i) => {
                users[i]["active"] = json!(false);
                Applied::Deactivated
            }
            None => Applied::Deactivated,
        },
        Operation::Delete { .. } => {
            if let Some(i) = position(index, target_id(change)) {
                index.remove(&users[i]);
                users[i] = Value::Null;
            }
            Applied::Deleted
        }
    }
}

fn target_id(change: &Change) -> &str {
    change.target_id.as_deref().unwrap_or(&change.id)
}

fn read_users(path: &Path) -> Result<Vec<Value>, TargetError> {
    let unreadable = |detail: String| TargetError::Unreadable {
        path: path.display().to_string(),
        detail,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(unreadable(err.to_string())),
    };
    let document: Value =
        serde_json::from_str(&text).map_err(|err| unreadable(format!("not JSON ({err})")))?;
    match document.get("Resources") {
        Some(Value::Array(users)) => Ok(users.clone()),
        None => Ok(Vec::new()),
        Some(_) => Err(unreadable("\"Resources\" is not a list".into())),
    }
}

/// Replaces `path` with `document` so that a crash leaves either the old or the new file.
fn write_atomically(path: &Path, document: &Value) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&folder)?;
    let name = path
        .file_name()
        .map_or_else(|| "users.json".into(), |n| n.to_string_lossy().into_owned());
    let temporary = folder.join(format!(".{name}.{}.tmp", std::process::id()));
    // A new document is for entrasync's user only (0600); one that exists keeps the mode its
    // owner gave it (chmod 640 lets the application's group read it). The mode is set before
    // any data is written.
    let mode = std::fs::metadata(path).map_or(crate::files::PRIVATE_FILE, |m| {
        std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777
    });
    {
        let mut file = crate::files::create_with_mode(&temporary, mode)?;
        let mut text = serde_json::to_vec_pretty(document)?;
        text.push(b'\n');
        file.write_all(&text)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(&folder)?.sync_all()
}

/// The enterprise department of a file entry (for tests and the demo's summary).
pub fn department_of(user: &Value) -> Option<&str> {
    user.get(ENTERPRISE_SCHEMA)?.get("department")?.as_str()
}

#[cfg(test)]
mod tests;
