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
