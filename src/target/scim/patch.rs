//! The SCIM PatchOp bodies entrasync sends, in the two dialects of
//! `shared/design/entra-scim-dialect.md`: `entra` (Entra with its `aadOptscim062020` flag:
//! lower-case ops, real booleans, member removal by filtered path — what strict servers accept)
//! and `entra-legacy` (Entra's default: PascalCase ops, `"False"` strings, member removal by
//! value, for endpoints written against those).
//!
//! Part of the SCIM adapter (`target/scim/`); pure, so every shape is tested as a body.

use serde_json::{Value, json};

use crate::config::Dialect;
use crate::plan::Delta;
use crate::target::resource::{ENTERPRISE_SCHEMA, Slot, roles, slot};

const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn op(dialect: Dialect, name: &str) -> &'static str {
    match (dialect, name) {
        (Dialect::Entra, "add") => "add",
        (Dialect::Entra, "remove") => "remove",
        (Dialect::Entra, _) => "replace",
        (Dialect::EntraLegacy, "add") => "Add",
        (Dialect::EntraLegacy, "remove") => "Remove",
        (Dialect::EntraLegacy, _) => "Replace",
    }
}

fn boolean(dialect: Dialect, value: bool) -> Value {
    match dialect {
        Dialect::Entra => json!(value),
        Dialect::EntraLegacy => json!(if value { "True" } else { "False" }),
    }
}

fn body(operations: Vec<Value>) -> Value {
    json!({"schemas": [PATCH_SCHEMA], "Operations": operations})
}

/// The operations of a user update: one per changed attribute, then department, roles (when
/// permissions go as roles) and `active`. Empty when nothing goes to the user resource.
pub fn user_operations(delta: &Delta, dialect: Dialect, with_roles: bool) -> Vec<Value> {
    let mut operations = Vec::new();
    for (path, value) in &delta.attributes {
        operations.push(match (value, slot(path)) {
            // A first typed value (a work e-mail the user had none of) is added whole: a
            // replace of `emails[type eq "work"].value` has no target yet (RFC 7644 3.5.2.3).
            (Some(value), Slot::Typed(attribute, kind)) if delta.added.contains(path) => json!({
                "op": op(dialect, "add"),
                "path": attribute,
                "value": [{"value": value, "type": kind, "primary": true}],
            }),
            (Some(value), _) => json!({"op": op(dialect, "replace"), "path": path, "value": value}),
            // Removing the typed element, not just its value, which would leave `{type}`.
            (None, Slot::Typed(attribute, kind)) => json!({
                "op": op(dialect, "remove"),
                "path": format!("{attribute}[type eq {}]", filter_string(kind)),
            }),
            (None, _) => json!({"op": op(dialect, "remove"), "path": path}),
        });
    }
    if let Some(department) = &delta.department {
        let path = format!("{ENTERPRISE_SCHEMA}:department");
        operations.push(match department {
            Some(value) => json!({"op": op(dialect, "replace"), "path": path, "value": value}),
            None => json!({"op": op(dialect, "remove"), "path": path}),
        });
    }
    if let (true, Some((_, after))) = (with_roles, &delta.permissions) {
        operations.push(if after.is_empty() {
            json!({"op": op(dialect, "remove"), "path": "roles"})
        } else {
            json!({"op": op(dialect, "replace"), "path": "roles", "value": roles(after)})
        });
    }
    if let Some(active) = delta.active {
        operations.push(active_operation(dialect, active));
    }
    operations
}

/// `active` set to `value` (Entra's "Disable User" request, and its inverse).
pub fn active_operation(dialect: Dialect, value: bool) -> Value {
    json!({"op": op(dialect, "replace"), "path": "active", "value": boolean(dialect, value)})
}

/// A PatchOp request with these operations.
pub fn request(operations: Vec<Value>) -> Value {
    body(operations)
}

/// Adds one member to a group.
pub fn add_member(dialect: Dialect, member: &str) -> Value {
    body(vec![json!({
        "op": op(dialect, "add"),
        "path": "members",
        "value": [{"value": member}],
    })])
}

/// Removes one member from a group.
pub fn remove_member(dialect: Dialect, member: &str) -> Value {
    match dialect {
        Dialect::Entra => body(vec![json!({
            "op": "remove",
            "path": format!("members[value eq {}]", filter_string(member)),
        })]),
        Dialect::EntraLegacy => body(vec![json!({
            "op": "Remove",
            "path": "members",
            "value": [{"value": member}],
        })]),
    }
}

/// A SCIM filter string literal: double quotes, with `"` and `\` escaped.
pub fn filter_string(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta() -> Delta {
        Delta {
            attributes: [
                ("displayName".to_owned(), Some("Anna Berg".to_owned())),
                ("title".to_owned(), None),
            ]
            .into(),
            added: Default::default(),
            permissions: Some((
                vec!["Reader".into()],
                vec!["Full User".into(), "Reader".into()],
            )),
            department: Some(Some("Sales".into())),
            active: Some(false),
        }
    }

    #[test]
    fn the_entra_dialect_sends_lower_case_ops_and_booleans() {
        let body = request(user_operations(&delta(), Dialect::Entra, true));
        assert_eq!(
            body,
            json!({"schemas": [PATCH_SCHEMA], "Operations": [
                {"op": "replace", "path": "displayName", "value": "Anna Berg"},
                {"op": "remove", "path": "title"},
                {"op": "replace", "path": format!("{ENTERPRISE_SCHEMA}:department"), "value": "Sales"},
                {"op": "replace", "path": "roles", "value": [
                    {"value": "Full User", "primary": true}, {"value": "Reader", "primary": false}]},
                {"op": "replace", "path": "active", "value": false},
            ]})
        );
    }

    #[test]
    fn a_first_typed_value_is_added_whole() {
        let delta = Delta {
            attributes: [(
                "emails[type eq \"work\"].value".to_owned(),
                Some("a@x".to_owned()),
            )]
            .into(),
            added: ["emails[type eq \"work\"].value".to_owned()].into(),
            ..Delta::default()
        };
        assert_eq!(
            user_operations(&delta, Dialect::Entra, true),
            [
                json!({"op": "add", "path": "emails", "value": [{"value": "a@x", "type": "work", "primary": true}]})
            ]
        );
    }

    #[test]
    fn the_legacy_dialect_sends_entras_default_shapes() {
        let operations = user_operations(&delta(), Dialect::EntraLegacy, false);
        assert_eq!(operations[0]["op"], "Replace");
        assert_eq!(operations[1], json!({"op": "Remove", "path": "title"}));
        assert_eq!(
            operations.last().expect("active"),
            &json!({"op": "Replace", "path": "active", "value": "False"})
        );
        assert!(
            operations.iter().all(|o| o["path"] != "roles"),
            "groups mode: no roles"
        );
        assert_eq!(
            remove_member(Dialect::EntraLegacy, "u1091"),
            json!({"schemas": [PATCH_SCHEMA], "Operations": [
                {"op": "Remove", "path": "members", "value": [{"value": "u1091"}]}]})
        );
    }

    #[test]
    fn members_are_removed_by_a_filtered_path_in_the_entra_dialect() {
        assert_eq!(
            remove_member(Dialect::Entra, "7f4b\"x"),
            json!({"schemas": [PATCH_SCHEMA], "Operations": [
                {"op": "remove", "path": "members[value eq \"7f4b\\\"x\"]"}]})
        );
        assert_eq!(
            add_member(Dialect::Entra, "u1")["Operations"][0]["op"],
            "add"
        );
        assert_eq!(filter_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
