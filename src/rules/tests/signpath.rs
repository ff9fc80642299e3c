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
