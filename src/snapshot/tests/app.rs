//! `[source] app` in the snapshot (`app.rs`): a commit stores the app's roles and assignments
//! as listed, writes nothing when they did not change, and marks exactly the users whose roles
//! or assignment changed — a user assigned, unassigned or given another role, every direct
//! member of a group whose assignment changed; a change of the role definitions means everyone.

use std::collections::BTreeSet;

use super::*;
use crate::snapshot::{AppRoleDefinition, Evaluate};
use crate::source::{AppListing, AppRole, Assignment, DEFAULT_ACCESS};

const FP: &[u8] = b"fingerprint-app";

fn role(id: &str, value: &str) -> AppRole {
    AppRole {
        id: id.to_owned(),
        value: Some(value.to_owned()),
        enabled: true,
        for_users: true,
    }
}

/// An app with roles r-viewer and r-editor (and an app-only one) and these assignments:
/// (principal, role id), a principal starting with `g` being a group.
fn app(assignments: &[(&str, &str)]) -> AppListing {
    let mut assignments: Vec<Assignment> = assignments
        .iter()
        .map(|(principal, role)| Assignment {
            principal_id: (*principal).to_owned(),
            principal_kind: if principal.starts_with('g') {
                MemberKind::Group
            } else {
                MemberKind::User
            },
            app_role_id: (*role).to_owned(),
        })
        .collect();
    assignments.sort();
    AppListing {
        service_principal_id: "sp-1".into(),
        roles: vec![
            role("r-viewer", "viewer"),
            role("r-editor", "editor"),
            AppRole {
                for_users: false,
                ..role("r-daemon", "Daemon.Read")
            },
        ],
        assignments,
        stats: RoundStats::default(),
    }
}

/// u1..u4; g1 holds u1 and u2. Nothing about g1 changes after the first commit.
fn with_app(kind: RoundKind, app: Option<AppListing>) -> Fetch {
    let users: Vec<User> = ["u1", "u2", "u3", "u4"]
        .iter()
        .map(|id| user(id, "Sales"))
        .collect();
    let users = match kind {
        RoundKind::Full => users,
        RoundKind::Incremental => Vec::new(),
    };
    let g1 = match kind {
        RoundKind::Full => vec![("g1", change(Some("One"), &["u1", "u2"], &[]))],
        RoundKind::Incremental => Vec::new(),
    };
    let mut fetch = fetch(
        users_round(kind, &users, &[], "users"),
        vec![groups_round(kind, &["g1"], g1, &[], "groups")],
    );
    fetch.app = app;
    fetch
}

const FIRST: &[(&str, &str)] = &[
    ("u1", "r-viewer"),
    ("u3", DEFAULT_ACCESS),
    ("g1", "r-editor"),
];

async fn evaluated(first: &[(&str, &str)]) -> (tempfile::TempDir, Snapshot) {
    let (dir, snapshot) = fresh();
    snapshot
        .commit(&with_app(RoundKind::Full, Some(app(first))))
        .expect("commits");
    snapshot
        .evaluated(&Evaluate::All, &BTreeSet::new(), FP)
        .await
        .expect("records");
    (dir, snapshot)
}

fn marked(snapshot: &Snapshot) -> Evaluate {
    snapshot.to_evaluate(FP).expect("reads")
}

fn users(ids: &[&str]) -> Evaluate {
    Evaluate::Users(ids.iter().map(|s| (*s).to_owned()).collect())
}

#[tokio::test]
async fn the_app_is_stored_as_listed_and_read_back_for_the_rules() {
    let (_dir, snapshot) = evaluated(FIRST).await;
    let state = snapshot.source_state().expect("reads");
    let app = state.app.expect("an app is stored");
    assert_eq!(app.definitions.service_principal_id, "sp-1");
    assert_eq!(
        app.definitions.roles,
        [
            AppRoleDefinition {
                id: "r-viewer".into(),
                value: Some("viewer".into())
            },
            AppRoleDefinition {
                id: "r-editor".into(),
                value: Some("editor".into())
            },
        ],
        "an app-only role is never a user's"
    );
    assert_eq!(app.users["u1"], ["r-viewer"]);
    assert_eq!(app.users["u3"], [DEFAULT_ACCESS]);
    assert_eq!(app.groups["g1"], ["r-editor"]);
    // Evaluating a few users reads their own assignments and every group's.
    let some = snapshot
        .source_state_of(&["u3".to_owned()].into())
        .expect("reads")
        .app
        .expect("an app");
    assert_eq!(some.users.keys().collect::<Vec<_>>(), ["u3"]);
    assert_eq!(some.groups.keys().collect::<Vec<_>>(), ["g1"]);
}

#[tokio::test]
async fn the_same_listing_again_writes_nothing_and_marks_nobody() {
    let (_dir, snapshot) = evaluated(FIRST).await;
    let again = with_app(RoundKind::Incremental, Some(app(FIRST)));
    let writes = crate::snapshot::writes::write_set(&snapshot.store, &again, 0).expect("plans");
    let touched: Vec<TreeId> = writes
        .per_tree()
        .filter(|(tree, w)| !w.is_empty() && matches!(tree, TreeId::Assignments | TreeId::Meta))
        .map(|(tree, _)| tree)
        .collect();
    assert!(touched.is_empty(), "no assignment or definition written");
    snapshot.commit(&again).expect("commits");
    assert_eq!(marked(&snapshot), users(&[]));
}

#[tokio::test]
async fn a_changed_assignment_marks_exactly_the_users_it_concerns() {
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Evaluate);
    let cases: Vec<Case> = vec![
        (
            "a user assigned",
            [FIRST, &[("u4", "r-viewer")]].concat(),
            users(&["u4"]),
        ),
        (
            "a user given another role",
            vec![
                ("u1", "r-editor"),
                ("u3", DEFAULT_ACCESS),
                ("g1", "r-editor"),
            ],
            users(&["u1"]),
        ),
        (
            "a user unassigned",
            vec![("u1", "r-viewer"), ("g1", "r-editor")],
            users(&["u3"]),
        ),
        (
            "a group given another role: its members",
            vec![
                ("u1", "r-viewer"),
                ("u3", DEFAULT_ACCESS),
                ("g1", "r-viewer"),
            ],
            users(&["u1", "u2"]),
        ),
        (
            "a group unassigned: its members",
            vec![("u1", "r-viewer"), ("u3", DEFAULT_ACCESS)],
            users(&["u1", "u2"]),
        ),
        (
            "a second role for a user",
            [FIRST, &[("u1", "r-editor")]].concat(),
            users(&["u1"]),
        ),
    ];
    for (case, assignments, expected) in cases {
        let (_dir, snapshot) = evaluated(FIRST).await;
        let next = with_app(RoundKind::Incremental, Some(app(&assignments)));
        snapshot.commit(&next).expect("commits");
        assert_eq!(marked(&snapshot), expected, "{case}");
        let stored = snapshot.source_state().expect("reads").app.expect("an app");
        let listed = crate::snapshot::AppState::of(&app(&assignments));
        assert_eq!(stored, listed, "{case}: stored as listed");
    }
}

#[tokio::test]
async fn changed_role_definitions_or_no_app_any_more_mean_everyone() {
    let (_dir, snapshot) = evaluated(FIRST).await;
    let mut renamed = app(FIRST);
    renamed.roles[1].value = Some("Editor".into());
    snapshot
        .commit(&with_app(RoundKind::Incremental, Some(renamed)))
        .expect("commits");
    assert_eq!(marked(&snapshot), Evaluate::All, "a role renamed");

    let (_dir, snapshot) = evaluated(FIRST).await;
    snapshot
        .commit(&with_app(RoundKind::Incremental, None))
        .expect("commits");
    assert_eq!(marked(&snapshot), Evaluate::All, "the app left the config");
    assert_eq!(snapshot.source_state().expect("reads").app, None);
    assert_eq!(
        snapshot.store.tree(TreeId::Assignments).len(),
        0,
        "no assignment is left behind"
    );
}
