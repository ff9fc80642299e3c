//! The SCIM 2.0 User resource (RFC 7643) that both adapters write: the file adapter as its
//! document's entries, the SCIM adapter as its request bodies — the shape Entra's provisioning
//! service sends (`shared/design/entra-scim-dialect.md`).
//!
//! Part of `target/`. Attributes arrive as the rules name them — SCIM paths such as
//! `name.givenName`, `emails[type eq "work"].value` or the enterprise extension's
//! `urn:…:enterprise:2.0:User:department` — and are laid out here as nested JSON.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The core User schema.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The enterprise User extension (department, division, organization, employeeNumber).
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Where one attribute path goes in a User resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot<'a> {
    /// A top-level attribute (`userName`, `displayName`, `title`, `externalId`, `active`).
    Top(&'a str),
    /// A sub-attribute of a complex one (`name.givenName`).
    Sub(&'a str, &'a str),
    /// The `value` of the element of a multi-valued attribute with this `type`
    /// (`emails[type eq "work"].value`).
    Typed(&'a str, &'a str),
    /// An attribute of the enterprise extension.
    Enterprise(&'a str),
}

/// Reads an attribute path as the rules write it.
pub fn slot(path: &str) -> Slot<'_> {
    if let Some(name) = path
        .strip_prefix(ENTERPRISE_SCHEMA)
        .and_then(|rest| rest.strip_prefix(':'))
    {
        return Slot::Enterprise(name);
    }
    if let Some((attribute, rest)) = path.split_once("[type eq \"") {
        if let Some((kind, _)) = rest.split_once("\"]") {
            return Slot::Typed(attribute, kind);
        }
    }
    match path.split_once('.') {
        Some((parent, child)) => Slot::Sub(parent, child),
        None => Slot::Top(path),
    }
}

/// A User resource with these attributes, permissions as `roles` (primary first, marked
/// `primary`), the department in the enterprise extension, and `active`.
pub fn user(
    attributes: &BTreeMap<String, String>,
    roles: &[String],
    department: Option<&str>,
    active: bool,
) -> Value {
    let mut object = Map::new();
    let mut enterprise = Map::new();
    for (path, value) in attributes {
        match slot(path) {
            Slot::Top(name) => {
                object.insert(name.to_owned(), json!(value));
            }
            Slot::Sub(parent, child) => {
                let parent = object.entry(parent).or_insert_with(|| json!({}));
                if let Some(parent) = parent.as_object_mut() {
                    parent.insert(child.to_owned(), json!(value));
                }
            }
            Slot::Typed(attribute, kind) => {
                let list = object.entry(attribute).or_insert_with(|| json!([]));
                if let Some(list) = list.as_array_mut() {
                    let primary = list.is_empty();
                    list.push(json!({"value": value, "type": kind, "primary": primary}));
                }
            }
            Slot::Enterprise(name) => {
                enterprise.insert(name.to_owned(), json!(value));
            }
        }
    }
    if let Some(department) = department {
        enterprise.insert("department".into(), json!(department));
    }
    object.insert("active".into(), json!(active));
    if !roles.is_empty() {
        object.insert("roles".into(), self::roles(roles));
    }
    let mut schemas = vec![json!(USER_SCHEMA)];
    if !enterprise.is_empty() {
        schemas.push(json!(ENTERPRISE_SCHEMA));
        object.insert(ENTERPRISE_SCHEMA.into(), Value::Object(enterprise));
    }
    object.insert("schemas".into(), Value::Array(schemas));
    Value::Object(object)
}

/// Sets (or with `None` removes) one attribute path in a User resource.
pub fn set(resource: &mut Value, path: &str, value: Option<&str>) {
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    match slot(path) {
        Slot::Top(name) => match value {
            Some(v) => {
                object.insert(name.to_owned(), json!(v));
            }
            None => {
                object.remove(name);
            }
        },
        Slot::Sub(parent, child) => {
            let entry = object.entry(parent).or_insert_with(|| json!({}));
            if let Some(parent_object) = entry.as_object_mut() {
                match value {
                    Some(v) => parent_object.insert(child.to_owned(), json!(v)),
                    None => parent_object.remove(child),
                };
                if parent_object.is_empty() {
                    object.remove(parent);
                }
            }
        }
        Slot::Typed(attribute, kind) => {
            let entry = object.entry(attribute).or_insert_with(|| json!([]));
            if let Some(list) = entry.as_array_mut() {
                list.retain(|e| e["type"] != kind);
                if let Some(v) = value {
                    let primary = list.is_empty();
                    list.push(json!({"value": v, "type": kind, "primary": primary}));
                }
                if list.is_empty() {
                    object.remove(attribute);
                }
            }
        }
        Slot::Enterprise(name) => set_enterprise(object, name, value),
    }
}

/// Sets (or removes) an attribute of the enterprise extension, keeping `schemas` in step.
pub fn set_enterprise(object: &mut Map<String, Value>, name: &str, value: Option<&str>) {
    let entry = object.entry(ENTERPRISE_SCHEMA).or_insert_with(|| json!({}));
    if let Some(enterprise) = entry.as_object_mut() {
        match value {
            Some(v) => enterprise.insert(name.to_owned(), json!(v)),
            None => enterprise.remove(name),
        };
    }
    let empty = object
        .get(ENTERPRISE_SCHEMA)
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty);
    if empty {
        object.remove(ENTERPRISE_SCHEMA);
    }
    let schemas = object
        .entry("schemas")
        .or_insert_with(|| json!([USER_SCHEMA]));
    if let Some(list) = schemas.as_array_mut() {
        list.retain(|s| s != ENTERPRISE_SCHEMA);
        if !empty {
            list.push(json!(ENTERPRISE_SCHEMA));
        }
    }
}

/// The `roles` of a User resource for these permissions, primary first.
pub fn roles(permissions: &[String]) -> Value {
    Value::Array(
        permissions
            .iter()
            .enumerate()
            .map(|(i, role)| json!({"value": role, "primary": i == 0}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_land_where_scim_puts_them() {
        let attributes: BTreeMap<String, String> = [
            ("userName", "anna@contoso.com"),
            ("externalId", "e1"),
            ("name.givenName", "Anna"),
            ("name.familyName", "Berg"),
            ("emails[type eq \"work\"].value", "anna@contoso.com"),
            ("phoneNumbers[type eq \"mobile\"].value", "+47 1"),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division",
                "Sales",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let roles = ["Full User".to_owned(), "Member".to_owned()];
        let user = user(&attributes, &roles, Some("Sales EMEA"), true);
        assert_eq!(user["name"]["givenName"], "Anna");
        assert_eq!(
            user["emails"],
            json!([{"value": "anna@contoso.com", "type": "work", "primary": true}])
        );
        assert_eq!(user["phoneNumbers"][0]["type"], "mobile");
        assert_eq!(user[ENTERPRISE_SCHEMA]["department"], "Sales EMEA");
        assert_eq!(user[ENTERPRISE_SCHEMA]["division"], "Sales");
        assert_eq!(
            user["roles"],
            json!([{"value": "Full User", "primary": true}, {"value": "Member", "primary": false}])
        );
        assert_eq!(user["schemas"], json!([USER_SCHEMA, ENTERPRISE_SCHEMA]));
        assert_eq!(user["active"], true);
    }

    #[test]
    fn set_changes_one_path_and_removes_what_empties() {
        let attributes = [
            ("userName".to_owned(), "a".to_owned()),
            ("name.givenName".to_owned(), "A".to_owned()),
        ]
        .into();
        let mut user = user(&attributes, &[], Some("Sales"), true);
        set(&mut user, "name.givenName", None);
        assert!(
            user.get("name").is_none(),
            "an empty complex attribute goes"
        );
        set(&mut user, "emails[type eq \"work\"].value", Some("a@x"));
        set(&mut user, "emails[type eq \"work\"].value", Some("b@x"));
        assert_eq!(
            user["emails"],
            json!([{"value": "b@x", "type": "work", "primary": true}])
        );
        set(&mut user, &format!("{ENTERPRISE_SCHEMA}:department"), None);
        assert!(user.get(ENTERPRISE_SCHEMA).is_none());
        assert_eq!(user["schemas"], json!([USER_SCHEMA]));
        set(&mut user, "title", Some("Boss"));
        assert_eq!(user["title"], "Boss");
    }

    #[test]
    fn no_enterprise_schema_without_enterprise_attributes() {
        let attributes = [("userName".to_owned(), "a".to_owned())].into();
        let user = user(&attributes, &[], None, false);
        assert_eq!(user["schemas"], json!([USER_SCHEMA]));
        assert!(user.get("roles").is_none());
        assert_eq!(user["active"], false);
    }
}
