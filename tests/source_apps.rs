//! The Graph client reads an application's app roles and every assignment of it from the
//! emulator over HTTP (issue 7): by client id or service principal id, to the last page, users
//! and groups, default access, and the tenant's changes seen by the next listing; an unknown
//! application is a clear error, not a panic or an empty listing.

mod common;
#[path = "common/fabrikam.rs"]
mod fabrikam;

use common::{Harness, fast_retries};
use entrasync::config;
use entrasync::emulator::{
    AppRole, EmulatorOptions, Endpoint, FaultKind, FaultRule, Tenant, synthetic_group_id,
};
use entrasync::source::Graph;
use entrasync::source::{AppRef, Assignment, DEFAULT_ACCESS, MemberKind, RoundKind, SourceError};
use fabrikam::{ADMIN, APP_ID, APP_ONLY, EDITOR, FIXTURE, LEGACY};

async fn harness() -> Harness {
    let tenant = Tenant::from_json(FIXTURE).expect("the fixture loads");
    Harness::start(tenant, EmulatorOptions::default(), &[], "direct").await
}

fn assigned(listing: &[Assignment], principal: &str) -> Vec<String> {
    listing
        .iter()
        .filter(|a| a.principal_id == principal)
        .map(|a| a.app_role_id.clone())
        .collect()
}

#[tokio::test]
async fn roles_and_every_assignment_are_read_by_client_id() {
    let h = harness().await;
    let sp = h
        .emulator
        .mutate(|t| t.service_principal_id(APP_ID))
        .expect("the fixture's app");
    let listing = h
        .graph
        .app_listing(&AppRef::ClientId(APP_ID.into()))
        .await
        .expect("the listing reads");
    assert_eq!(listing.service_principal_id, sp);
    let roles: Vec<(&str, Option<&str>, bool, bool)> = listing
        .roles
        .iter()
        .map(|r| (r.id.as_str(), r.value.as_deref(), r.enabled, r.for_users))
        .collect();
    assert!(
        roles.contains(&(ADMIN, Some("Admin"), true, true)),
        "{roles:?}"
    );
    assert!(
        roles.contains(&(EDITOR, Some("Editor"), true, true)),
        "{roles:?}"
    );
    assert!(
        roles.contains(&(LEGACY, Some("Legacy"), false, true)),
        "{roles:?}"
    );
    assert!(
        roles.contains(&(APP_ONLY, Some("Planner.Sync"), true, false)),
        "{roles:?}"
    );
    assert_eq!(listing.roles.len(), 5);

    // One request finds the app with its roles, one lists its nine assignments.
    assert_eq!(listing.assignments.len(), 9, "{:?}", listing.assignments);
    assert_eq!(listing.stats.objects, 9);
    assert_eq!(listing.stats.requests, 2, "{:?}", listing.stats);
    let users = listing
        .assignments
        .iter()
        .filter(|a| a.principal_kind == MemberKind::User)
        .count();
    let groups = listing
        .assignments
        .iter()
        .filter(|a| a.principal_kind == MemberKind::Group)
        .count();
    assert_eq!((users, groups), (6, 3));
    let ada = h
        .emulator
        .mutate(|t| t.user_id_by_upn("ada.lind@fabrikam.example"))
        .expect("Ada");
    let finn = h
        .emulator
        .mutate(|t| t.user_id_by_upn("finn.aas@fabrikam.example"))
        .expect("Finn");
    assert_eq!(assigned(&listing.assignments, &ada), [ADMIN]);
    assert_eq!(assigned(&listing.assignments, &finn), [DEFAULT_ACCESS]);
}

#[tokio::test]
async fn more_assignments_than_a_page_holds_are_read_to_the_last_page() {
    let tenant = Tenant::synthetic(1_200, 2, 1_200, 3);
    let h = Harness::start(tenant, EmulatorOptions::default(), &[], "direct").await;
    let sp = h.emulator.mutate(|t| {
        let role = AppRole::new("viewer", "Viewer");
        let sp = t
            .add_service_principal("Big App", APP_ID, vec![role])
            .expect("the app is added");
        let viewer = t.app_roles(&sp)[0].id.clone();
        for user in t.user_ids() {
            t.assign_app_role(&sp, &user, &viewer).expect("assigns");
        }
        sp
    });
    let listing = h
        .graph
        .app_listing(&AppRef::ServicePrincipal(sp))
        .await
        .expect("reads");
    assert_eq!(listing.assignments.len(), 1_200);
    // The app, then 999 and 201 assignments.
    assert_eq!(listing.stats.requests, 3, "{:?}", listing.stats);
    assert!(
        listing
            .assignments
            .iter()
            .all(|a| a.principal_kind == MemberKind::User)
    );
}

#[tokio::test]
async fn the_next_listing_sees_an_assignment_added_and_one_removed() {
    let h = harness().await;
    let app = AppRef::ClientId(APP_ID.into());
    let before = h.graph.app_listing(&app).await.expect("reads");
    let (eva, removed) = h.emulator.mutate(|t| {
        let sp = t.service_principal_id(APP_ID).expect("the app");
        let eva = t.user_id_by_upn("eva.rud@fabrikam.example").expect("Eva");
        t.assign_app_role(&sp, &eva, EDITOR).expect("assigns");
        let ada = t.user_id_by_upn("ada.lind@fabrikam.example").expect("Ada");
        let assignment = t
            .app_role_assignments(&sp)
            .into_iter()
            .find(|a| a.principal_id == ada)
            .expect("Ada's assignment");
        assert!(t.unassign(&sp, &assignment.id));
        (eva, ada)
    });
    // By service principal id this time.
    let after = h
        .graph
        .app_listing(&AppRef::ServicePrincipal(
            before.service_principal_id.clone(),
        ))
        .await
        .expect("reads");
    assert_eq!(after.assignments.len(), before.assignments.len());
    assert_eq!(assigned(&after.assignments, &eva), [EDITOR]);
    assert!(assigned(&after.assignments, &removed).is_empty());
}

#[tokio::test]
async fn an_unknown_application_is_a_clear_error() {
    let h = harness().await;
    let unknown = "11111111-2222-4333-8444-555555555555";
    let err = h
        .graph
        .app_listing(&AppRef::ClientId(unknown.into()))
        .await
        .expect_err("no such application");
    let text = err.to_string();
    assert!(
        text.contains(unknown) && text.contains("[source] app"),
        "{text}"
    );
    let err = h
        .graph
        .app_listing(&AppRef::ServicePrincipal(unknown.into()))
        .await
        .expect_err("no such service principal");
    assert!(matches!(err, SourceError::AppNotFound { .. }), "{err:?}");
    assert!(
        err.is_config_problem(),
        "exit status 2: the config must change"
    );
    assert!(err.to_string().contains("service_principal_id"), "{err}");
    let err = h
        .graph
        .app_listing(&AppRef::ServicePrincipal("not a guid/../x".into()))
        .await
        .expect_err("not an id");
    assert!(err.to_string().contains("[source] app"), "{err}");
}

/// A client for `h`'s tenant whose config names the app `app_id` (and no group).
fn with_app(h: &Harness, app_id: &str) -> Graph {
    let text = std::fs::read_to_string(&h.config_path).expect("reads");
    let text = text.replace(
        "groups = []",
        &format!("app = {{ client_id = \"{app_id}\" }}"),
    );
    std::fs::write(&h.config_path, text).expect("writes");
    let config = config::load(&h.config_path).expect("valid");
    Graph::new(&config.source)
        .expect("builds")
        .with_retry_policy(fast_retries())
}

#[tokio::test]
async fn a_failed_listing_fails_the_cycle_and_commits_nothing() {
    let h = harness().await;
    let graph = with_app(&h, APP_ID);
    entrasync::engine::read(&graph, &h.snapshot)
        .await
        .expect("a clean cycle");
    let before = h.snapshot.source_state().expect("reads");
    assert!(before.app.is_some(), "the app is stored");

    // A user edited and a role given, then the listing fails on every attempt.
    let (sp, ada) = h.emulator.mutate(|t| {
        let sp = t.service_principal_id(APP_ID).expect("the app");
        let ada = t.user_id_by_upn("ada.lind@fabrikam.example").expect("ada");
        t.update_user(&ada, serde_json::json!({"department": "Legal"}));
        (sp, ada)
    });
    h.emulator
        .mutate(|t| t.assign_app_role(&sp, &ada, EDITOR))
        .expect("assigns");
    h.emulator.faults().add(
        FaultRule::new(FaultKind::GatewayTimeout)
            .on(Endpoint::AppRoleAssignedTo)
            .always(),
    );
    let err = entrasync::engine::read(&graph, &h.snapshot)
        .await
        .expect_err("the listing cannot be read");
    assert!(err.to_string().contains("appRoleAssignedTo"), "{err}");
    assert_eq!(
        h.snapshot.source_state().expect("reads"),
        before,
        "nothing of the cycle was committed, not even the users round"
    );

    h.emulator.faults().clear();
    entrasync::engine::read(&graph, &h.snapshot)
        .await
        .expect("the next cycle reads it all");
    let after = h.snapshot.source_state().expect("reads");
    assert_eq!(after.users[&ada].department.as_deref(), Some("Legal"));
    let app = after.app.expect("the app");
    assert!(app.users[&ada].contains(&EDITOR.to_owned()), "{app:?}");
}

#[tokio::test]
async fn a_group_unassigned_restarts_its_own_chunk_and_the_others_keep_their_delta_links() {
    const CHUNKY: &str = "6c2d4e8f-1a3b-4c5d-8e9f-0a1b2c3d4e5f";
    let mut tenant = Tenant::synthetic(200, 120, 400, 7);
    let sp = tenant
        .add_service_principal("Chunky", CHUNKY, vec![AppRole::new("viewer", "viewer")])
        .expect("registers");
    let viewer = tenant.app_roles(&sp)[0].id.clone();
    // 110 groups assigned: three groups queries of 50, 50 and 10.
    for i in 0..110 {
        tenant
            .assign_app_role(&sp, &synthetic_group_id(i), &viewer)
            .expect("assigns");
    }
    let h = Harness::start(tenant, EmulatorOptions::default(), &[], "direct").await;
    let graph = with_app(&h, CHUNKY);
    let kinds = |report: &entrasync::engine::ReadReport| -> Vec<RoundKind> {
        report.group_rounds.iter().map(|r| r.kind).collect()
    };
    let first = entrasync::engine::read(&graph, &h.snapshot)
        .await
        .expect("reads");
    assert_eq!(kinds(&first), [RoundKind::Full; 3]);
    let quiet = entrasync::engine::read(&graph, &h.snapshot)
        .await
        .expect("reads");
    assert_eq!(kinds(&quiet), [RoundKind::Incremental; 3]);

    // The fifth group leaves: cut afresh, every chunk would shift and start over.
    let assignment = h.emulator.mutate(|t| {
        let group = synthetic_group_id(5);
        let held = t.app_role_assignments(&sp).into_iter();
        let mut assignment = held.filter(|a| a.principal_id == group).map(|a| a.id);
        assignment.next_back().expect("assigned")
    });
    assert!(h.emulator.mutate(|t| t.unassign(&sp, &assignment)));
    let next = entrasync::engine::read(&graph, &h.snapshot)
        .await
        .expect("reads");
    let mut next_kinds = kinds(&next);
    next_kinds.sort_by_key(|k| *k == RoundKind::Full);
    assert_eq!(
        next_kinds,
        [
            RoundKind::Incremental,
            RoundKind::Incremental,
            RoundKind::Full
        ],
        "only the chunk the group left is read in full"
    );
    let state = h.snapshot.source_state().expect("reads");
    assert!(
        !state.groups.contains_key(&synthetic_group_id(5)),
        "out of scope"
    );
    assert!(
        state.groups.contains_key(&synthetic_group_id(6)),
        "in scope"
    );
    assert_eq!(state.groups.len(), 109);
}
