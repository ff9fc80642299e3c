//! `[source] app`, `[source] scope`, `app_roles` and `exclusive` (issue 7): what each file
//! becomes, and each bad one named by its key with what to do.

use super::*;
use crate::source::AppRef;

const APP: &str = "3f6e8a52-1c0b-4b8e-9a1d-5e2f7c4b9d10";

/// `GOOD` without its groups, with these lines added to `[source]` and `rest` after it (the
/// top-level keys `rest` starts with go before `[source]`).
fn with(source: &str, rest: &str) -> String {
    let base = GOOD.replace(
        "groups = [\"Stratsys Full Users\", \"Stratsys Readers\"]\n",
        "",
    );
    let (top, tables) = rest.split_at(rest.find("\n[").unwrap_or(rest.len()));
    let base = base.replace("[source]", &format!("{top}\n[source]"));
    format!("{base}{source}\n{tables}")
}

const ROLES: &str = r#"
default_permission = "viewer"

[[permission_groups]]
name = "editor"
app_roles = ["editor"]
priority = 1

[[permission_groups]]
name = "viewer"
app_roles = ["viewer"]
priority = 2
"#;

#[test]
fn an_app_alone_scopes_to_its_assigned_users() {
    let text = with(&format!("app = {{ client_id = \"{APP}\" }}"), "");
    let config = load_text(&text).expect("valid");
    assert_eq!(config.source.app, Some(AppRef::ClientId(APP.to_owned())));
    assert_eq!(config.rules.scope, ScopeBy::Assigned);
    assert!(config.rules.scope_groups.is_empty());
}

#[test]
fn the_default_scope_follows_what_is_listed() {
    // Groups listed: their members, app or not (today's behaviour stays).
    let app = format!("app = {{ service_principal_id = \"{APP}\" }}");
    let grouped = GOOD.replace("groups = [", &format!("{app}\ngroups = ["));
    let config = load_text(&grouped).expect("valid");
    assert_eq!(config.rules.scope, ScopeBy::Groups);
    assert_eq!(
        config.source.app,
        Some(AppRef::ServicePrincipal(APP.to_owned()))
    );
    assert_eq!(config.rules.scope_groups.len(), 2);
    // Nothing listed and no app: everyone.
    let config = load_text(&with("", "")).expect("valid");
    assert_eq!(config.rules.scope, ScopeBy::All);
    // An explicit scope wins, and app roles reach the source's list to check.
    let text = with(
        &format!("app = {{ client_id = \"{APP}\" }}\nscope = \"all\""),
        ROLES,
    );
    let config = load_text(&text).expect("valid");
    assert_eq!(config.rules.scope, ScopeBy::All);
    let roles: Vec<(&str, &str)> = config
        .source
        .app_roles
        .iter()
        .map(|(group, value)| (group.as_str(), value.as_str()))
        .collect();
    assert_eq!(roles, [("editor", "editor"), ("viewer", "viewer")]);
}

#[test]
fn app_roles_and_exclusive_load_into_the_permission_groups() {
    let rest = r#"
[[permission_groups]]
name = "GlobalAdministrator"
app_roles = ["GlobalAdministrator"]
priority = 1
exclusive = true

[[permission_groups]]
name = "RegularUser"
app_roles = ["RegularUser"]
aliases = ["SignPath Users"]
priority = 2
"#;
    let text = with(&format!("app = {{ client_id = \"{APP}\" }}"), rest);
    let config = load_text(&text).expect("valid");
    let groups = &config.rules.permission_groups;
    assert_eq!(groups[0].app_roles, ["GlobalAdministrator"]);
    assert!(groups[0].exclusive);
    assert!(!groups[1].exclusive);
    // The alias makes the default scope "groups", and the group is read from Graph.
    assert_eq!(config.rules.scope, ScopeBy::Groups);
    assert_eq!(config.source.groups, ["SignPath Users"]);
}

#[test]
fn bad_app_settings_name_the_key_and_the_fix() {
    let app = format!("app = {{ client_id = \"{APP}\" }}");
    let cases: Vec<(String, &str, &str)> = vec![
        (
            with(
                &format!("app = {{ client_id = \"{APP}\", service_principal_id = \"{APP}\" }}"),
                "",
            ),
            "[source] app",
            "not both",
        ),
        (
            with("app = { client_id = \"stacksync\" }", ""),
            "[source] app client_id",
            "no GUID",
        ),
        (with("app = {}", ""), "[source] app", "names no app"),
        (
            with("scope = \"assigend\"", ""),
            "[source] scope",
            "\"assigned\"",
        ),
        (
            with("scope = \"assigned\"", ""),
            "[source] scope",
            "needs [source] app",
        ),
        (
            with("scope = \"groups\"", ""),
            "[source] scope",
            "no group is listed",
        ),
        (
            GOOD.replace("groups = [", "scope = \"all\"\ngroups = ["),
            "[source] groups",
            "[filter] groups",
        ),
        (
            GOOD.replace(
                "groups = [",
                &format!("{app}\nscope = \"assigned\"\ngroups = ["),
            ),
            "[source] groups",
            "scope = \"assigned\"",
        ),
        (with("", ROLES), "app_roles", "needs [source] app"),
        (
            with(&app, &ROLES.replace("[\"viewer\"]", "[\"Editor\"]")),
            "[[permission_groups]]",
            "app role \"Editor\" belongs to both permission group \"editor\" and \"viewer\"",
        ),
        (
            with(&app, &ROLES.replace("[\"viewer\"]", "[]")),
            "app_roles",
            "empty list",
        ),
        (
            with(&app, &ROLES.replace("[\"viewer\"]", "[\"viewer\", \" \"]")),
            "app_roles",
            "empty alias",
        ),
        (
            with(
                &app,
                &ROLES
                    .replace("app_roles = [\"viewer\"]\n", "")
                    .replace("default_permission = \"viewer\"", ""),
            ),
            "(viewer) aliases",
            "app roles, in app_roles",
        ),
    ];
    for (text, key, fix) in cases {
        let err = load_text(&text).expect_err(key).to_string();
        assert!(err.contains(key), "{err} should name {key}");
        assert!(err.contains(fix), "{err} should say {fix}");
    }
}
