//! SignPath (`shared/seeds/signpath-entra-directory-sync.md`): externalId is the expression
//! `Append("<your-sso-identifier>:", [objectId])`; a user removed from all synchronized groups
//! is deactivated.

use super::*;

#[test]
fn the_external_id_joins_the_sso_identifier_and_the_object_id() {
    let config = config(
        &["SignPath Users"],
        "[attributes]\nexternalId = 'Append(\"contoso-sso:\", [objectId])'\n",
    );
    let tenant = Tenant::new()
        .user("mia", None)
        .group("SignPath Users", &["mia"]);
    let outcome = tenant.evaluate(&config);
    assert_eq!(
        outcome.desired["mia"].attributes["externalId"],
        "contoso-sso:mia"
    );
}

#[test]
fn a_user_who_left_every_synchronized_group_is_no_longer_desired() {
    // Deactivation itself is the plan's; the rules' part is that the user is out of scope —
    // not desired and not held.
    let config = config(&["SignPath Users", "SignPath Auditors"], "");
    let tenant = Tenant::new()
        .user("ned", None)
        .user("ola", None)
        .group("SignPath Users", &["ola"])
        .group("SignPath Auditors", &[]);
    let outcome = tenant.evaluate(&config);
    assert!(!outcome.desired.contains_key("ned"));
    assert!(!outcome.held.contains("ned"));
    assert!(outcome.desired.contains_key("ola"));
}

/// The guide's six role values, highest first.
const ROLES: [&str; 6] = [
    "GlobalAdministrator",
    "CertificateAdministrator",
    "UserAdministrator",
    "ProjectAdministrator",
    "GlobalReader",
    "RegularUser",
];

/// SignPath's six roles as app roles; every one but Regular User is exclusive.
fn signpath_roles() -> RulesConfig {
    let groups: String = ROLES
        .iter()
        .enumerate()
        .map(|(i, role)| {
            format!(
                "[[permission_groups]]\nname = \"{role}\"\napp_roles = [\"{role}\"]\npriority = {}\nexclusive = {}\n\n",
                i + 1,
                *role != "RegularUser"
            )
        })
        .collect();
    app_config("scope = \"assigned\"", &groups)
}

fn signpath_tenant() -> Tenant {
    Tenant::new()
        .user("mia", None)
        .user("ned", None)
        .user("ola", None)
        .group("PKI Team", &["ned", "ola"])
        .app_roles(&ROLES)
        .assign("mia", "RegularUser")
        .assign("group:PKI Team", "CertificateAdministrator")
        .assign("ned", "RegularUser")
}

#[test]
fn regular_user_and_one_other_role_make_that_role_primary() {
    let outcome = signpath_tenant().evaluate(&signpath_roles());
    let permissions = permissions(&outcome);
    assert_eq!(permissions["mia"], ["RegularUser"]);
    assert_eq!(
        permissions["ned"],
        ["CertificateAdministrator", "RegularUser"]
    );
    assert_eq!(permissions["ola"], ["CertificateAdministrator"]);
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
}

#[test]
fn two_roles_other_than_regular_user_are_a_rule_error_naming_both() {
    let tenant = signpath_tenant().assign("ola", "GlobalReader");
    let outcome = tenant.evaluate(&signpath_roles());
    assert_eq!(outcome.errors.len(), 1, "{:?}", outcome.errors);
    let error = &outcome.errors[0];
    assert_eq!(error.user_id, "ola");
    assert_eq!(
        error.kind,
        crate::rules::RuleErrorKind::ExclusivePermissions
    );
    assert!(
        error
            .message
            .contains("\"CertificateAdministrator\" and \"GlobalReader\""),
        "{}",
        error.message
    );
    // Held: neither desired (so not changed) nor out of scope (so not deactivated).
    assert!(outcome.held.contains("ola"));
    assert!(!outcome.desired.contains_key("ola"));
    assert!(outcome.desired.contains_key("ned"), "others go on");
}

#[test]
fn the_same_exclusive_role_directly_and_through_a_group_is_no_conflict() {
    let tenant = signpath_tenant().assign("ned", "CertificateAdministrator");
    let outcome = tenant.evaluate(&signpath_roles());
    assert!(outcome.errors.is_empty(), "{:?}", outcome.errors);
    assert_eq!(
        permissions(&outcome)["ned"],
        ["CertificateAdministrator", "RegularUser"]
    );
}

#[test]
fn a_user_with_no_assignment_left_is_out_of_scope() {
    // ola's only role came through PKI Team; out of the group, out of scope (the plan then
    // deactivates, as the guide says).
    let mut tenant = signpath_tenant();
    tenant.state.members.insert(
        "g-PKI Team".into(),
        vec![Member {
            id: "ned".into(),
            kind: MemberKind::User,
        }],
    );
    let outcome = tenant.evaluate(&signpath_roles());
    assert!(!outcome.desired.contains_key("ola"));
    assert!(!outcome.held.contains("ola"));
    assert!(outcome.desired.contains_key("mia"));
}
