//! The admin's side of the tenant's enterprise apps: registering a service principal, adding,
//! disabling and removing its app roles, assigning them to users and groups and taking them
//! back — what Entra's Enterprise applications blade (or Graph's POST and DELETE) does.
//!
//! Part of `emulator/`: more [`Tenant`] methods over the records of `apps.rs`. What Graph refuses
//! (an unknown role, a disabled one, an app-only one, a second identical assignment, removing an
//! enabled role) comes back as an [`AppError`]; nothing goes into the change log.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::apps::{
    AppError, AppRole, AssignmentRecord, DEFAULT_ACCESS, ServicePrincipalRecord, assignment_id,
    is_guid,
};
use super::tenant::Tenant;

impl Tenant {
    /// Registers the service principal (enterprise app) of application `app_id` with these
    /// roles (an empty `id` is made up); returns its object id.
    pub fn add_service_principal(
        &mut self,
        display_name: &str,
        app_id: &str,
        roles: Vec<AppRole>,
    ) -> Result<String, AppError> {
        let mut props = Map::new();
        props.insert("displayName".into(), display_name.into());
        props.insert("appId".into(), app_id.into());
        self.insert_service_principal(None, props, roles)
    }

    /// Registers a service principal from its properties (`appId` and `displayName` among
    /// them; defaults for the rest), with `id` if given: loading a tenant.
    pub(super) fn insert_service_principal(
        &mut self,
        id: Option<String>,
        mut props: Map<String, Value>,
        roles: Vec<AppRole>,
    ) -> Result<String, AppError> {
        let app_id = props
            .get("appId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if self.service_principal_id(&app_id).is_some() {
            return Err(AppError::AppIdTaken(app_id));
        }
        let id = match id {
            Some(id) if self.object_id_taken(&id) => return Err(AppError::IdTaken(id)),
            Some(id) => id,
            None => self.fresh_id(0x0007),
        };
        let name = props.get("displayName").cloned().unwrap_or_default();
        let defaults = [
            ("accountEnabled", json!(true)),
            ("appDisplayName", name),
            ("appRoleAssignmentRequired", json!(false)),
            ("deletedDateTime", Value::Null),
            ("servicePrincipalType", json!("Application")),
            ("tags", json!([])),
        ];
        for (key, value) in defaults {
            props.entry(key).or_insert(value);
        }
        props.remove("appRoles");
        let record = ServicePrincipalRecord {
            props,
            roles: Vec::new(),
            assignments: BTreeMap::new(),
        };
        self.service_principals.insert(id.clone(), record);
        for role in roles {
            if let Err(err) = self.add_app_role(&id, role) {
                self.service_principals.remove(&id);
                return Err(err);
            }
        }
        Ok(id)
    }

    /// Changes properties of a service principal (`appRoleAssignmentRequired`, `displayName`,
    /// ...); `id`, `appId` and `appRoles` are not changed this way.
    pub fn update_service_principal(&mut self, sp: &str, patch: Value) -> Result<(), AppError> {
        let record = self.sp_mut(sp)?;
        if let Value::Object(patch) = patch {
            for (key, value) in patch {
                if !["id", "appId", "appRoles"].contains(&key.as_str()) {
                    record.props.insert(key, value);
                }
            }
        }
        Ok(())
    }

    /// Adds a role to the app (an empty `id` is made up); returns the role's id.
    pub fn add_app_role(&mut self, sp: &str, mut role: AppRole) -> Result<String, AppError> {
        self.sp_mut(sp)?;
        if role.id.is_empty() {
            role.id = loop {
                let id = self.fresh_id(0x0008);
                if !self.app_roles(sp).iter().any(|r| r.id == id) {
                    break id;
                }
            };
        }
        if !is_guid(&role.id) || role.id == DEFAULT_ACCESS {
            return Err(AppError::BadRoleId(role.id));
        }
        let record = self.sp_mut(sp)?;
        if record
            .roles
            .iter()
            .any(|r| r.id.eq_ignore_ascii_case(&role.id) || r.value == role.value)
        {
            return Err(AppError::DuplicateRole(role.value));
        }
        let id = role.id.clone();
        record.roles.push(role);
        Ok(id)
    }

    /// Enables or disables a role (a disabled role cannot be assigned, nor an enabled one
    /// removed).
    pub fn set_app_role_enabled(
        &mut self,
        sp: &str,
        role_id: &str,
        enabled: bool,
    ) -> Result<(), AppError> {
        let role = self
            .sp_mut(sp)?
            .roles
            .iter_mut()
            .find(|r| r.id.eq_ignore_ascii_case(role_id))
            .ok_or_else(|| AppError::NoRole(role_id.to_owned()))?;
        role.is_enabled = enabled;
        Ok(())
    }

    /// Removes a disabled role, as Graph requires it disabled first. Its assignments stay,
    /// naming a role that no longer exists, as in Entra.
    pub fn remove_app_role(&mut self, sp: &str, role_id: &str) -> Result<(), AppError> {
        let record = self.sp_mut(sp)?;
        let at = record
            .roles
            .iter()
            .position(|r| r.id.eq_ignore_ascii_case(role_id))
            .ok_or_else(|| AppError::NoRole(role_id.to_owned()))?;
        if record.roles[at].is_enabled {
            return Err(AppError::RoleEnabled(role_id.to_owned()));
        }
        record.roles.remove(at);
        Ok(())
    }

    /// Assigns a live user or group a role of the app, or [`DEFAULT_ACCESS`]; returns the
    /// assignment's id.
    pub fn assign_app_role(
        &mut self,
        sp: &str,
        principal_id: &str,
        app_role_id: &str,
    ) -> Result<String, AppError> {
        self.assign_app_role_at(sp, principal_id, app_role_id, None)
    }

    /// [`Tenant::assign_app_role`] created at this time (loading a tenant), or now.
    pub(super) fn assign_app_role_at(
        &mut self,
        sp: &str,
        principal_id: &str,
        app_role_id: &str,
        created: Option<String>,
    ) -> Result<String, AppError> {
        let record = self
            .service_principals
            .get(sp)
            .ok_or_else(|| AppError::NoServicePrincipal(sp.to_owned()))?;
        if self.live_principal_type(principal_id).is_none() {
            return Err(AppError::NoPrincipal(principal_id.to_owned()));
        }
        let app_role_id = app_role_id.to_ascii_lowercase();
        if app_role_id != DEFAULT_ACCESS {
            let role = record
                .roles
                .iter()
                .find(|r| r.id.eq_ignore_ascii_case(&app_role_id))
                .ok_or_else(|| AppError::NoRole(app_role_id.clone()))?;
            if !role.is_enabled {
                return Err(AppError::RoleDisabled(app_role_id));
            }
            if !role.allowed_member_types.iter().any(|t| t == "User") {
                return Err(AppError::NotForUsers(app_role_id));
            }
        }
        if record
            .assignments
            .values()
            .any(|a| a.principal_id == principal_id && a.app_role_id == app_role_id)
        {
            return Err(AppError::AlreadyAssigned);
        }
        let serial = self.next_id;
        self.next_id += 1;
        let id = assignment_id(principal_id, serial);
        let created_date_time = created.unwrap_or_else(|| {
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        });
        let record = self.sp_mut(sp)?;
        record.assignments.insert(
            id.clone(),
            AssignmentRecord {
                app_role_id,
                principal_id: principal_id.to_owned(),
                created_date_time,
            },
        );
        Ok(id)
    }

    /// Removes an assignment; false when the app has none of this id.
    pub fn unassign(&mut self, sp: &str, assignment_id: &str) -> bool {
        self.service_principals
            .get_mut(sp)
            .is_some_and(|record| record.assignments.remove(assignment_id).is_some())
    }

    /// Drops every assignment of a user or group deleted for good.
    pub(super) fn drop_app_role_assignments(&mut self, principal_id: &str) {
        for record in self.service_principals.values_mut() {
            record
                .assignments
                .retain(|_, a| a.principal_id != principal_id);
        }
    }

    fn sp_mut(&mut self, sp: &str) -> Result<&mut ServicePrincipalRecord, AppError> {
        self.service_principals
            .get_mut(sp)
            .ok_or_else(|| AppError::NoServicePrincipal(sp.to_owned()))
    }

    fn object_id_taken(&self, id: &str) -> bool {
        self.users.contains_key(id)
            || self.groups.contains_key(id)
            || self.service_principals.contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assignments_follow_roles_principals_and_deletes() {
        let mut t = Tenant::new("t", "c");
        let u = t.add_user(json!({"userPrincipalName": "a@x", "displayName": "A"}));
        let g = t.add_group("G");
        let sp = t
            .add_service_principal("App", "11111111-2222-3333-4444-555555555555", vec![])
            .expect("a service principal");
        let admin = t
            .add_app_role(&sp, AppRole::new("Admin", "Administrators"))
            .expect("a role");
        assert_eq!(
            t.add_app_role(&sp, AppRole::new("Admin", "Again")),
            Err(AppError::DuplicateRole("Admin".into()))
        );
        let a = t.assign_app_role(&sp, &u, &admin).expect("assigned");
        t.assign_app_role(&sp, &g, DEFAULT_ACCESS)
            .expect("assigned");
        assert_eq!(
            t.assign_app_role(&sp, &u, &admin),
            Err(AppError::AlreadyAssigned)
        );
        let types: Vec<_> = t
            .app_role_assignments(&sp)
            .iter()
            .map(|a| a.principal_type)
            .collect();
        assert_eq!(types.len(), 2);
        assert!(types.contains(&"User") && types.contains(&"Group"));
        assert_eq!(
            t.remove_app_role(&sp, &admin),
            Err(AppError::RoleEnabled(admin.clone()))
        );
        t.set_app_role_enabled(&sp, &admin, false).expect("exists");
        assert_eq!(
            t.assign_app_role(&sp, &g, &admin),
            Err(AppError::RoleDisabled(admin.clone()))
        );
        t.soft_delete_user(&u);
        assert_eq!(t.app_role_assignments(&sp).len(), 1, "hidden while deleted");
        t.restore_user(&u);
        assert_eq!(t.app_role_assignments(&sp).len(), 2, "back when restored");
        t.hard_delete_user(&u);
        t.restore_user(&u);
        assert_eq!(t.app_role_assignments(&sp).len(), 1, "gone for good");
        assert!(!t.unassign(&sp, &a), "went with the user");
        t.delete_group(&g, false);
        assert!(t.app_role_assignments(&sp).is_empty());
    }
}
