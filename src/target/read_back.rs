//! What a target holds for a user, in the pushed state's terms: the reverse of `resource.rs`,
//! for following up writes whose answers were never recorded (Invariant 5).
//!
//! Part of `target/`. After a crash the engine cannot know whether a write it sent landed; it
//! asks the target for the user and records what the target really has, so the next plan sends
//! exactly what is still missing — never less (a lost update), never a duplicate.

use serde_json::Value;

use super::resource::{ENTERPRISE_SCHEMA, Slot, slot};
use crate::plan::PushedUser;

/// The value at an attribute path of a User resource, as the rules would have written it.
pub fn get(resource: &Value, path: &str) -> Option<String> {
    let value = match slot(path) {
        Slot::Top(name) => resource.get(name)?,
        Slot::Sub(parent, child) => resource.get(parent)?.get(child)?,
        Slot::Typed(attribute, kind) => resource
            .get(attribute)?
            .as_array()?
            .iter()
            .find(|e| e["type"] == kind)?
            .get("value")?,
        Slot::Enterprise(name) => resource.get(ENTERPRISE_SCHEMA)?.get(name)?,
    };
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

/// The pushed entry for `resource`: its id, userName and `active`, the values of the
/// attributes `template` names (its values are ignored), the department, and the permissions
/// from `roles` when the target keeps them there (`roles_kept`), else the template's.
pub fn pushed_from(resource: &Value, template: &PushedUser, roles_kept: bool) -> PushedUser {
    let text = |name: &str| {
        resource
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let active = match resource.get("active") {
        Some(Value::Bool(active)) => *active,
        Some(Value::String(text)) => !text.eq_ignore_ascii_case("false"),
        _ => true,
    };
    let permissions = if roles_kept {
        let mut roles: Vec<(bool, String)> = resource
            .get("roles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["primary"] != true, r["value"].as_str()?.to_owned())))
            .collect();
        // Primary first, the rest in the order the target keeps them.
        roles.sort_by_key(|(not_primary, _)| *not_primary);
        roles.into_iter().map(|(_, role)| role).collect()
    } else {
        template.permissions.clone()
    };
    PushedUser {
        target_id: text("id").unwrap_or_else(|| template.target_id.clone()),
        user_name: text("userName").unwrap_or_else(|| template.user_name.clone()),
        active,
        attributes: template
            .attributes
            .keys()
            .filter_map(|path| Some((path.clone(), get(resource, path)?)))
            .collect(),
        permissions,
        department: resource
            .get(ENTERPRISE_SCHEMA)
            .and_then(|e| e.get("department"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::target::resource;

    #[test]
    fn a_resource_reads_back_as_what_wrote_it() {
        let attributes: BTreeMap<String, String> = [
            ("userName", "anna@contoso.com"),
            ("externalId", "e1"),
            ("name.givenName", "Anna"),
            ("emails[type eq \"work\"].value", "anna@contoso.com"),
            (
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division",
                "Sales",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let roles = ["Full User".to_owned(), "Reader".to_owned()];
        let mut written = resource::user(&attributes, &roles, Some("Finance"), false);
        written["id"] = "t-1".into();
        let mut template = PushedUser {
            target_id: String::new(),
            user_name: "someone else".into(),
            active: true,
            attributes: attributes.clone(),
            permissions: Vec::new(),
            department: None,
        };
        template
            .attributes
            .insert("title".into(), "gone from the target".into());
        let back = pushed_from(&written, &template, true);
        assert_eq!(back.target_id, "t-1");
        assert_eq!(back.user_name, "anna@contoso.com");
        assert!(!back.active);
        assert_eq!(back.attributes, attributes, "title is not there: absent");
        assert_eq!(back.permissions, roles);
        assert_eq!(back.department.as_deref(), Some("Finance"));
        let kept = pushed_from(
            &written,
            &PushedUser {
                permissions: vec!["X".into()],
                ..template
            },
            false,
        );
        assert_eq!(
            kept.permissions,
            ["X"],
            "permissions kept as groups are not read back"
        );
    }
}
