//! SignPath's recipe with app roles, end to end over HTTP: the Graph emulator with an enterprise
//! app defining SignPath's six roles, entrasync's cycles in-process, and a real SCIM server
//! (scim2-server behind the counting proxy). `scope = "assigned"`: the users assigned to the app,
//! directly or through a group. The five administrative roles are exclusive ("Every user must be
//! assigned at most one role other than Regular User"), so the highest one a user holds is the
//! primary role and Regular User comes beside it; a user given two exclusive roles (one directly,
//! one through a group) is a rule error naming both and is left exactly as the target has them
//! until one is taken away; a user whose every assignment is removed is deactivated ("When an
//! Entra ID user is removed from all groups that are synchronized, the SignPath user will be
//! deactivated"); and a group whose assignment is taken back and given again brings its members
//! as they are then, not as they were.

#[path = "common/app_roles.rs"]
mod app_roles;
mod common;
#[path = "common/scim_server.rs"]
mod scim_server;

use app_roles::{AppSetup, Recipe, add_app, add_person, assign, example_recipe, roles, user_id};
use entrasync::config::ScopeBy;
use entrasync::emulator::Tenant;
use entrasync::engine::CycleReport;
use entrasync::rules::{RuleError, RuleErrorKind};

/// The application (client) id of the SignPath enterprise app.
const SIGNPATH_APP: &str = "7d2e4f60-8a1b-4c3d-9e5f-a6b7c8d9e0f1";

/// SignPath's role values, in the guide's order (which is their priority here).
const ROLES: [&str; 6] = [
    "GlobalAdministrator",
    "CertificateAdministrator",
    "UserAdministrator",
    "ProjectAdministrator",
    "GlobalReader",
    "RegularUser",
];

/// `config/examples/signpath.toml`, pointed at the test's app.
fn recipe() -> Recipe {
    example_recipe("signpath", SIGNPATH_APP)
}

/// The app's object id and the assignments the tests take back.
struct Tenancy {
    sp: String,
    /// Greta's own GlobalReader.
    greta_reader: String,
    /// Rita's own RegularUser.
    rita_regular: String,
}

/// Carl holds RegularUser and CertificateAdministrator; Rita RegularUser, herself and through
/// "SignPath Users" (assigned RegularUser); Greta GlobalReader; Otto GlobalAdministrator, and
/// through "PKI Team" (assigned CertificateAdministrator) a second exclusive role; Una nothing.
fn signpath_tenant() -> (Tenant, Tenancy) {
    let mut t = app_roles::tenant();
    let sp = add_app(&mut t, "SignPath", SIGNPATH_APP, &ROLES);
    let carl = add_person(&mut t, "carl.certs");
    let rita = add_person(&mut t, "rita.regular");
    let greta = add_person(&mut t, "greta.reader");
    let otto = add_person(&mut t, "otto.overlap");
    add_person(&mut t, "una.unassigned");
    let users = t.add_group("SignPath Users");
    let pki = t.add_group("PKI Team");
    t.add_member(&users, &rita);
    t.add_member(&pki, &otto);
    assign(&mut t, &sp, &carl, Some("RegularUser"));
    assign(&mut t, &sp, &carl, Some("CertificateAdministrator"));
    let rita_regular = assign(&mut t, &sp, &rita, Some("RegularUser"));
    let greta_reader = assign(&mut t, &sp, &greta, Some("GlobalReader"));
    assign(&mut t, &sp, &otto, Some("GlobalAdministrator"));
    assign(&mut t, &sp, &users, Some("RegularUser"));
    assign(&mut t, &sp, &pki, Some("CertificateAdministrator"));
    let ids = Tenancy {
        sp,
        greta_reader,
        rita_regular,
    };
    (t, ids)
}

async fn setup() -> (AppSetup, Tenancy) {
    let (tenant, ids) = signpath_tenant();
    (AppSetup::start(tenant, recipe()).await, ids)
}

/// The report's exclusive-permission errors of `login@contoso.com`.
fn conflicts<'r>(report: &'r CycleReport, login: &str) -> Vec<&'r RuleError> {
    let upn = format!("{login}@contoso.com");
    report
        .rule_errors
        .iter()
        .filter(|e| e.user_principal_name.as_deref() == Some(upn.as_str()))
        .filter(|e| e.kind == RuleErrorKind::ExclusivePermissions)
        .collect()
}

/// Asserts the report holds exactly one exclusive-permission error, of `login`, naming both
/// permissions.
fn assert_conflict(report: &CycleReport, login: &str, both: [&str; 2]) {
    let errors = conflicts(report, login);
    assert_eq!(errors.len(), 1, "{:?}", report.rule_errors);
    for name in both {
        assert!(
            errors[0].message.contains(&format!("\"{name}\"")),
            "names {name}: {}",
            errors[0].message
        );
    }
    assert_eq!(report.rule_errors.len(), 1, "{:?}", report.rule_errors);
}

#[tokio::test]
async fn the_highest_role_is_primary_and_two_exclusive_roles_create_nobody() {
    let (s, _) = setup().await;
    assert_eq!(s.config.rules.scope, ScopeBy::Assigned);
    let first = s.cycle().await;
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert_eq!(
        s.user_names().await,
        [
            "carl.certs@contoso.com",
            "greta.reader@contoso.com",
            "rita.regular@contoso.com",
        ],
        "Otto (two exclusive roles) is held, Una is not assigned"
    );
    let carl = s.user("carl.certs@contoso.com").await;
    assert_eq!(
        roles(&carl),
        [
            ("CertificateAdministrator".to_owned(), true),
            ("RegularUser".to_owned(), false),
        ],
        "the administrative role is primary, Regular User beside it"
    );
    let carl_id = s.admin(|t| user_id(t, "carl.certs"));
    assert_eq!(carl["externalId"], format!("contoso-sso:{carl_id}"));
    let rita = s.user("rita.regular@contoso.com").await;
    assert_eq!(roles(&rita), [("RegularUser".to_owned(), true)]);
    let greta = s.user("greta.reader@contoso.com").await;
    assert_eq!(roles(&greta), [("GlobalReader".to_owned(), true)]);
    // Otto: GlobalAdministrator himself, CertificateAdministrator through PKI Team.
    assert_conflict(
        &first,
        "otto.overlap",
        ["GlobalAdministrator", "CertificateAdministrator"],
    );
}

#[tokio::test]
async fn a_user_given_a_second_exclusive_role_is_held_as_they_were_until_one_goes() {
    let (s, ids) = setup().await;
    let first = s.cycle().await;
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    let before = s.user("greta.reader@contoso.com").await;

    // Greta joins PKI Team: CertificateAdministrator through the group, GlobalReader herself.
    let (pki, otto) = s.admin(|t| {
        let pki = t.group_id_by_name("PKI Team").expect("the group");
        t.add_member(&pki, &user_id(t, "greta.reader"));
        (pki, user_id(t, "otto.overlap"))
    });
    let held = s.cycle().await;
    assert!(held.failures.is_empty(), "{:?}", held.failures);
    let errors: Vec<&RuleError> = held
        .rule_errors
        .iter()
        .filter(|e| e.kind == RuleErrorKind::ExclusivePermissions)
        .collect();
    assert_eq!(errors.len(), 2, "Greta and Otto: {:?}", held.rule_errors);
    let greta_errors = conflicts(&held, "greta.reader");
    assert_eq!(greta_errors.len(), 1, "{:?}", held.rule_errors);
    assert!(
        greta_errors[0]
            .message
            .contains("\"CertificateAdministrator\"")
            && greta_errors[0].message.contains("\"GlobalReader\""),
        "{}",
        greta_errors[0].message
    );
    assert_eq!(
        s.server.writes(),
        0,
        "Greta is not changed: {:?}",
        s.writes()
    );
    let now = s.user("greta.reader@contoso.com").await;
    assert_eq!(roles(&now), roles(&before), "her role stays");
    assert_eq!(now["active"], true, "and she stays active");
    assert_eq!(now["meta"]["version"], before["meta"]["version"]);

    // Nothing changes in Entra: still reported, still not written.
    let again = s.cycle().await;
    assert_eq!(conflicts(&again, "greta.reader").len(), 1, "still reported");
    assert_eq!(s.server.writes(), 0, "{:?}", s.writes());

    // Her own GlobalReader goes: the next cycle makes her CertificateAdministrator.
    s.admin(|t| assert!(t.unassign(&ids.sp, &ids.greta_reader)));
    let resolved = s.cycle().await;
    assert!(conflicts(&resolved, "greta.reader").is_empty());
    assert_eq!(resolved.plan.updates, 1, "{:?}", resolved.plan);
    let writes = s.writes();
    assert_eq!(writes.len(), 1, "one write: {writes:?}");
    assert_eq!(writes[0].method, "PATCH");
    let greta = s.user("greta.reader@contoso.com").await;
    assert_eq!(
        roles(&greta),
        [("CertificateAdministrator".to_owned(), true)]
    );

    // Otto leaves PKI Team: he is created, as GlobalAdministrator, and no error is left.
    s.admin(|t| t.remove_member(&pki, &otto));
    let created = s.cycle().await;
    assert_eq!(created.plan.creates, 1, "{:?}", created.plan);
    assert!(created.rule_errors.is_empty(), "{:?}", created.rule_errors);
    let otto = s.user("otto.overlap@contoso.com").await;
    assert_eq!(roles(&otto), [("GlobalAdministrator".to_owned(), true)]);

    s.assert_quiet().await;
}

#[tokio::test]
async fn a_user_whose_every_assignment_is_removed_is_deactivated() {
    let (s, ids) = setup().await;
    let first = s.cycle().await;
    assert!(first.failures.is_empty(), "{:?}", first.failures);

    // Rita's own RegularUser goes; "SignPath Users" still gives it: nothing to write.
    s.admin(|t| assert!(t.unassign(&ids.sp, &ids.rita_regular)));
    let still = s.cycle().await;
    assert_eq!(still.plan.deactivations + still.plan.updates, 0);
    assert_eq!(s.server.writes(), 0, "{:?}", s.writes());
    assert_eq!(s.user("rita.regular@contoso.com").await["active"], true);

    // She leaves the group, her last assignment: deactivated, not deleted.
    s.admin(|t| {
        let group = t.group_id_by_name("SignPath Users").expect("the group");
        t.remove_member(&group, &user_id(t, "rita.regular"));
    });
    let gone = s.cycle().await;
    assert_eq!(gone.plan.deactivations, 1, "{:?}", gone.plan);
    assert_eq!(gone.plan.deletions, 0);
    let writes = s.writes();
    assert_eq!(writes.len(), 1, "one write: {writes:?}");
    assert_eq!(writes[0].method, "PATCH");
    let rita = s.user("rita.regular@contoso.com").await;
    assert_eq!(rita["active"], false);
    assert_eq!(s.user("carl.certs@contoso.com").await["active"], true);

    // Assigned again, she is active again.
    s.admin(|t| {
        let rita = user_id(t, "rita.regular");
        assign(t, &ids.sp, &rita, Some("RegularUser"));
    });
    let back = s.cycle().await;
    assert_eq!(back.plan.updates, 1, "{:?}", back.plan);
    assert_eq!(s.user("rita.regular@contoso.com").await["active"], true);
}

#[tokio::test]
async fn a_group_assigned_again_brings_its_members_as_they_are_now() {
    let (s, ids) = setup().await;
    let first = s.cycle().await;
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    let (group, rita, una) = s.admin(|t| {
        let group = t.group_id_by_name("SignPath Users").expect("the group");
        (
            group,
            user_id(t, "rita.regular"),
            user_id(t, "una.unassigned"),
        )
    });
    // Rita's own assignment and the group's go.
    s.admin(|t| {
        let listed = t.app_role_assignments(&ids.sp).into_iter();
        let mut of_group = listed.filter(|a| a.principal_id == group);
        let assignment = of_group.next().expect("the group's assignment").id;
        assert!(of_group.next().is_none());
        assert!(t.unassign(&ids.sp, &ids.rita_regular));
        assert!(t.unassign(&ids.sp, &assignment));
    });
    let unassigned = s.cycle().await;
    assert_eq!(
        unassigned.plan.deactivations, 1,
        "Rita: {:?}",
        unassigned.plan
    );

    // While the group is not assigned, Rita leaves it and Una joins: nothing to do yet.
    s.admin(|t| {
        t.remove_member(&group, &rita);
        t.add_member(&group, &una);
    });
    let meanwhile = s.cycle().await;
    assert_eq!(meanwhile.plan.creates + meanwhile.plan.updates, 0);
    assert_eq!(s.server.writes(), 0, "{:?}", s.writes());

    // Assigned again: its members as they are now, Una in, Rita still out.
    s.admin(|t| assign(t, &ids.sp, &group, Some("RegularUser")));
    let again = s.cycle().await;
    assert_eq!(again.plan.creates, 1, "Una: {:?}", again.plan);
    assert_eq!(again.plan.updates + again.plan.deactivations, 0);
    let una = s.user("una.unassigned@contoso.com").await;
    assert_eq!(roles(&una), [("RegularUser".to_owned(), true)]);
    assert_eq!(s.user("rita.regular@contoso.com").await["active"], false);
}
