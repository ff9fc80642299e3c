//! stacksync (`shared/seeds/stacksync-entra-scim-sso.txt`): a role per user with "Default value
//! if null: viewer", and e-mail lower-cased ("some emails could have upper case letter making
//! the SSO login not work").

use super::*;

fn stacksync() -> RulesConfig {
    config(
        &["stacksync Users"],
        r#"
default_permission = "viewer"

[attributes]
userName = "lower([mail])"
"emails[type eq \"work\"].value" = "lower([mail])"

[[permission_groups]]
name = "editor"
aliases = ["stacksync Editors"]
priority = 1

[[permission_groups]]
name = "viewer"
aliases = ["stacksync Viewers"]
priority = 2
"#,
    )
}

#[test]
fn a_user_without_a_role_group_gets_the_default_role_viewer() {
    let tenant = Tenant::new()
        .user("kim", None)
        .user("lea", None)
        .group("stacksync Users", &["kim", "lea"])
        .group("stacksync Editors", &["lea"]);
    let outcome = tenant.evaluate(&stacksync());
    assert_eq!(permissions(&outcome)["kim"], ["viewer"]);
    assert_eq!(permissions(&outcome)["lea"], ["editor"]);
    assert!(outcome.errors.is_empty());
}

#[test]
fn the_mail_is_sent_lower_cased() {
    let tenant = Tenant::new()
        .user("kim", None)
        .group("stacksync Viewers", &["kim"]);
    let outcome = tenant.evaluate(&stacksync());
    let kim = &outcome.desired["kim"];
    assert_eq!(
        kim.user_name, "kim@contoso.com",
        "the tenant has Kim@Contoso.com"
    );
    assert_eq!(
        kim.attributes["emails[type eq \"work\"].value"],
        "kim@contoso.com"
    );
}

#[test]
fn the_default_permission_must_be_a_permission_group() {
    let err = try_config(
        &["stacksync Users"],
        "default_permission = \"Viewer\"\n[[permission_groups]]\nname = \"viewer\"\naliases = [\"v\"]\npriority = 1\n",
    )
    .expect_err("case matters: stacksync's roles are lower case");
    assert!(err.to_string().contains("\"viewer\""), "{err}");
}

/// The guide's own way: app roles "viewer" and "editor" on the app, assigned to users and
/// groups; only assigned users are provisioned.
fn stacksync_roles() -> RulesConfig {
    app_config(
        "",
        r#"
default_permission = "viewer"

[attributes]
userName = "lower([mail])"

[[permission_groups]]
name = "editor"
app_roles = ["editor"]
priority = 1

[[permission_groups]]
name = "viewer"
app_roles = ["viewer"]
priority = 2
"#,
    )
}

#[test]
fn assigned_users_get_their_role_and_default_access_gets_viewer() {
    let tenant = Tenant::new()
        .user("kim", None)
        .user("lea", None)
        .user("max", None)
        .user("ned", None)
        .user("ola", None)
        .group("stacksync Editors", &["ola"])
        .app_roles(&["viewer", "editor"])
        .assign("kim", "editor")
        .assign("lea", "viewer")
        .assign("max", "")
        .assign("group:stacksync Editors", "editor");
    let outcome = tenant.evaluate(&stacksync_roles());
    let permissions = permissions(&outcome);
    assert_eq!(permissions["kim"], ["editor"]);
    assert_eq!(permissions["lea"], ["viewer"]);
    assert_eq!(
        permissions["max"],
        ["viewer"],
        "default access: the default"
    );
    assert_eq!(permissions["ola"], ["editor"], "through the group");
    assert!(
        !permissions.contains_key("ned"),
        "not assigned: not in scope"
    );
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(outcome.desired["kim"].user_name, "kim@contoso.com");
}

#[test]
fn a_role_held_directly_and_through_a_group_is_primary_by_priority() {
    let tenant = Tenant::new()
        .user("kim", None)
        .group("stacksync Editors", &["kim"])
        .app_roles(&["viewer", "editor"])
        .assign("kim", "viewer")
        .assign("group:stacksync Editors", "editor")
        .assign("group:stacksync Editors", "viewer");
    let outcome = tenant.evaluate(&stacksync_roles());
    assert_eq!(permissions(&outcome)["kim"], ["editor", "viewer"]);
}

#[test]
fn role_values_match_without_case_and_a_removed_role_gives_nothing() {
    let tenant = Tenant::new()
        .user("kim", None)
        .user("lea", None)
        .app_roles(&["Editor", "viewer", "retired"])
        .assign("kim", "Editor")
        .assign("lea", "retired");
    let outcome = tenant.evaluate(&stacksync_roles());
    assert_eq!(permissions(&outcome)["kim"], ["editor"]);
    assert_eq!(
        permissions(&outcome)["lea"],
        ["viewer"],
        "no mapping: default"
    );
    // The app drops the role; the assignment Graph still lists gives nothing.
    let mut tenant = tenant;
    let app = tenant.state.app.as_mut().expect("an app");
    app.definitions.roles.retain(|r| r.id != "r-Editor");
    let outcome = tenant.evaluate(&stacksync_roles());
    assert_eq!(permissions(&outcome)["kim"], ["viewer"]);
}

#[test]
fn assigned_scope_leaves_out_disabled_accounts_and_what_the_filter_excludes() {
    let rules = format!(
        "{}\n[filter]\ndepartments = [\"Sales\"]\n",
        "default_permission = \"viewer\"\n[[permission_groups]]\nname = \"viewer\"\napp_roles = [\"viewer\"]\npriority = 1\n"
    );
    let config = app_config("scope = \"assigned\"", &rules);
    let tenant = Tenant::new()
        .user("kim", Some("Sales"))
        .user("lea", Some("Finance"))
        .user("max", Some("Sales"))
        .edit("max", |u| u.account_enabled = Some(false))
        .app_roles(&["viewer"])
        .assign("kim", "viewer")
        .assign("lea", "viewer")
        .assign("max", "viewer");
    let outcome = tenant.evaluate(&config);
    assert_eq!(
        outcome.desired.keys().collect::<Vec<_>>(),
        ["kim"],
        "lea is filtered out, max is disabled"
    );
}

#[test]
fn a_role_no_permission_group_maps_is_reported() {
    let tenant = Tenant::new()
        .user("kim", None)
        .app_roles(&["viewer", "editor", "Approver"])
        .assign("kim", "Approver");
    let outcome = tenant.evaluate(&stacksync_roles());
    assert_eq!(
        outcome.unmapped.roles.iter().collect::<Vec<_>>(),
        ["Approver"]
    );
    assert!(
        outcome.unmapped.messages()[0].contains("app role \"Approver\""),
        "{:?}",
        outcome.unmapped.messages()
    );
    assert_eq!(permissions(&outcome)["kim"], ["viewer"], "the default");
    // Without permission groups by app role, roles are not reported.
    let by_groups = config(&["stacksync Users"], "");
    assert!(tenant.evaluate(&by_groups).unmapped.roles.is_empty());
}
