//! What a commit stores and removes: full and incremental rounds of users and groups, tombstones,
//! scope, transitive members, delta links, bindings, the kept counts and atomicity.

use std::collections::BTreeMap;

use super::*;
use crate::snapshot::layout::TreeId;
use crate::snapshot::{apply, writes};
use crate::source::{Group, Member};

use RoundKind::{Full, Incremental};

/// The first cycle of a small tenant: three users, groups g1 (u1, u2) and g2 (u3 and group g1).
pub(super) fn first_fetch() -> Fetch {
    let users = [
        user("u1", "Sales"),
        user("u2", "Sales"),
        user("u3", "Finance"),
    ];
    fetch(
        users_round(Full, &users, &[], "users-link-1"),
        vec![groups_round(
            Full,
            &["g1", "g2"],
            vec![
                ("g1", change(Some("Readers"), &["u1", "u2"], &[])),
                ("g2", change(Some("Writers"), &["u3", "g1"], &[])),
            ],
            &[],
            "groups-link-1",
        )],
    )
}

fn committed_first() -> (tempfile::TempDir, Snapshot) {
    let (dir, snapshot) = fresh();
    snapshot.commit(&first_fetch()).expect("the first commit");
    (dir, snapshot)
}

/// An incremental fetch over the same chunk with no group changes.
fn quiet_groups(link: &str) -> Vec<GroupsRound> {
    vec![groups_round(Incremental, &["g1", "g2"], vec![], &[], link)]
}

#[test]
fn a_full_round_stores_users_groups_members_links_and_bindings() {
    let (_dir, snapshot) = committed_first();
    let state = snapshot.source_state().expect("reads");
    assert_eq!(ids(&state.users), ["u1", "u2", "u3"].into());
    assert_eq!(state.users["u3"], user("u3", "Finance"));
    assert_eq!(
        state.groups["g1"],
        Group {
            id: "g1".into(),
            display_name: Some("Readers".into())
        }
    );
    assert_eq!(member_ids(&snapshot, "g1"), strings(&["u1", "u2"]));
    assert_eq!(
        snapshot.members("g2").expect("reads"),
        vec![
            Member {
                id: "g1".into(),
                kind: MemberKind::Group
            },
            Member {
                id: "u3".into(),
                kind: MemberKind::User
            },
        ],
        "sorted by id, kinds kept"
    );
    assert_eq!(state.links.users.as_deref(), Some("users-link-1"));
    assert_eq!(
        state.links.groups,
        BTreeMap::from([(strings(&["g1", "g2"]), "groups-link-1".to_owned())])
    );
    assert_eq!(snapshot.delta_links().expect("reads"), state.links);
    let bindings = BTreeMap::from([
        ("Name g1".to_owned(), "g1".to_owned()),
        ("Name g2".to_owned(), "g2".to_owned()),
    ]);
    assert_eq!(state.bindings, bindings);
    assert_eq!(snapshot.scope_bindings().expect("reads"), bindings);
    assert!(state.gone.is_empty() && state.transitive.is_empty());
    let counts = Counts {
        users: 3,
        groups: 2,
        memberships: 4,
    };
    assert_eq!(counted(&snapshot), counts);
}

#[test]
fn an_incremental_round_applies_changes_and_removals_with_tombstones() {
    let (_dir, snapshot) = committed_first();
    let changed = [user("u1", "Moved"), user("u4", "New")];
    let removed = [("u2", Removal::SoftDeleted), ("u3", Removal::HardDeleted)];
    snapshot
        .commit(&fetch(
            users_round(Incremental, &changed, &removed, "users-link-2"),
            quiet_groups("gl-2"),
        ))
        .expect("commits");
    let state = snapshot.source_state().expect("reads");
    assert_eq!(ids(&state.users), ["u1", "u4"].into());
    assert_eq!(state.users["u1"].department.as_deref(), Some("Moved"));
    // Table: who is gone, and why.
    for (id, removal) in removed {
        assert!(snapshot.user(id).expect("reads").is_none(), "{id}");
        let tombstone = snapshot.gone(id).expect("reads").expect("a tombstone");
        assert_eq!(tombstone.removal, removal, "{id}");
        assert!(tombstone.at_unix > 1_600_000_000, "{id}: dated now");
    }
    assert_eq!(state.links.users.as_deref(), Some("users-link-2"));
    assert_eq!(counted(&snapshot).users, 2);

    // Restored from deleted items: the user is back and the tombstone gone.
    let restored = [user("u2", "Sales")];
    snapshot
        .commit(&fetch(
            users_round(Incremental, &restored, &[], "users-link-3"),
            quiet_groups("gl-3"),
        ))
        .expect("commits");
    assert_eq!(
        snapshot.user("u2").expect("reads"),
        Some(user("u2", "Sales"))
    );
    assert!(snapshot.gone("u2").expect("reads").is_none());
    assert!(
        snapshot.gone("u3").expect("reads").is_some(),
        "the other tombstone stays"
    );
    assert_eq!(counted(&snapshot).users, 3);
}

#[test]
fn a_repeated_removal_keeps_the_date_it_was_first_learnt_and_a_new_reason_replaces_it() {
    let (_dir, snapshot) = committed_first();
    let commit_at = |removal: Removal, now: u64| {
        let round = users_round(Incremental, &[], &[("u1", removal)], "l");
        let writes = writes::write_set(&snapshot.store, &fetch(round, quiet_groups("g")), now)
            .expect("plans");
        apply::apply(&snapshot.store, writes, now, Default::default()).expect("applies");
        snapshot.gone("u1").expect("reads").expect("a tombstone")
    };
    assert_eq!(commit_at(Removal::SoftDeleted, 100).at_unix, 100);
    assert_eq!(
        commit_at(Removal::SoftDeleted, 200).at_unix,
        100,
        "same removal: first date"
    );
    let hard = commit_at(Removal::HardDeleted, 300);
    assert_eq!((hard.removal, hard.at_unix), (Removal::HardDeleted, 300));
}

#[test]
fn only_a_full_round_marks_unlisted_users_absent() {
    let (_dir, snapshot) = committed_first();
    // An incremental round naming only u1 removes no one.
    let only_u1 = [user("u1", "Sales")];
    snapshot
        .commit(&fetch(
            users_round(Incremental, &only_u1, &[], "l2"),
            quiet_groups("g2"),
        ))
        .expect("commits");
    assert_eq!(counted(&snapshot).users, 3);
    assert!(snapshot.source_state().expect("reads").gone.is_empty());

    // A full round (after a resync) listing u1 and reporting u2 removed: u3 is absent.
    let removed = [("u2", Removal::HardDeleted)];
    snapshot
        .commit(&fetch(
            users_round(Full, &only_u1, &removed, "l3"),
            quiet_groups("g3"),
        ))
        .expect("commits");
    let state = snapshot.source_state().expect("reads");
    assert_eq!(ids(&state.users), ["u1"].into());
    assert_eq!(state.gone["u2"].removal, Removal::HardDeleted);
    assert_eq!(state.gone["u3"].removal, Removal::Absent);
    assert_eq!(counted(&snapshot).users, 1);
}

#[test]
fn a_full_group_round_replaces_members_and_an_incremental_one_edits_them() {
    let (_dir, snapshot) = committed_first();
    let quiet_users = || users_round(Incremental, &[], &[], "ul");
    // Incremental: g1 gains u3 and loses u1; no name in the round keeps the stored one.
    let round = groups_round(
        Incremental,
        &["g1", "g2"],
        vec![("g1", change(None, &["u3"], &["u1"]))],
        &[],
        "gl",
    );
    snapshot
        .commit(&fetch(quiet_users(), vec![round]))
        .expect("commits");
    assert_eq!(member_ids(&snapshot, "g1"), strings(&["u2", "u3"]));
    let name = |s: &Snapshot| {
        s.source_state().expect("reads").groups["g1"]
            .display_name
            .clone()
    };
    assert_eq!(name(&snapshot).as_deref(), Some("Readers"));
    assert_eq!(counted(&snapshot).memberships, 4);

    // Full: g1's members become exactly {u1}, renamed; g2 absent from the full round: deleted.
    let round = groups_round(
        Full,
        &["g1", "g2"],
        vec![("g1", change(Some("Renamed"), &["u1"], &[]))],
        &[],
        "gl2",
    );
    snapshot
        .commit(&fetch(quiet_users(), vec![round]))
        .expect("commits");
    assert_eq!(member_ids(&snapshot, "g1"), strings(&["u1"]));
    assert_eq!(name(&snapshot).as_deref(), Some("Renamed"));
    assert!(member_ids(&snapshot, "g2").is_empty());
    let state = snapshot.source_state().expect("reads");
    assert_eq!(ids(&state.groups), ["g1"].into());
    assert_eq!(
        counted(&snapshot),
        Counts {
            users: 3,
            groups: 1,
            memberships: 1
        }
    );

    // Incremental `@removed` of g1: the group and its members go.
    let round = groups_round(
        Incremental,
        &["g1", "g2"],
        vec![],
        &[("g1", Removal::HardDeleted)],
        "gl3",
    );
    snapshot
        .commit(&fetch(quiet_users(), vec![round]))
        .expect("commits");
    assert!(snapshot.source_state().expect("reads").groups.is_empty());
    assert_eq!(
        counted(&snapshot),
        Counts {
            users: 3,
            groups: 0,
            memberships: 0
        }
    );
}

#[test]
fn groups_leaving_scope_are_dropped_with_their_members_links_and_bindings() {
    let (_dir, snapshot) = committed_first();
    let mut next = fetch(
        users_round(Incremental, &[], &[], "ul"),
        vec![groups_round(Incremental, &["g1"], vec![], &[], "g1-only")],
    );
    next.transitive = Some(vec![listing("g1", &["u1"]), listing("g2", &["u3"])]);
    snapshot.commit(&next).expect("commits");
    let state = snapshot.source_state().expect("reads");
    assert_eq!(ids(&state.groups), ["g1"].into());
    assert!(member_ids(&snapshot, "g2").is_empty());
    assert!(
        transitive_ids(&snapshot, "g2").is_empty(),
        "no listing stored for a group out of scope"
    );
    assert_eq!(
        ids(&state.users),
        ["u1", "u2", "u3"].into(),
        "users stay: their absence is the rules' business"
    );
    assert_eq!(
        state.links.groups,
        BTreeMap::from([(strings(&["g1"]), "g1-only".to_owned())]),
        "the old chunk's link is dropped"
    );
    assert_eq!(
        state.bindings,
        BTreeMap::from([("Name g1".to_owned(), "g1".to_owned())])
    );
    assert_eq!(
        counted(&snapshot),
        Counts {
            users: 3,
            groups: 1,
            memberships: 2
        }
    );
}

#[test]
fn transitive_listings_replace_and_their_absence_clears() {
    let (_dir, snapshot) = committed_first();
    let cycle = |transitive: Option<Vec<TransitiveListing>>| {
        let mut next = fetch(users_round(Incremental, &[], &[], "ul"), quiet_groups("gl"));
        next.transitive = transitive;
        snapshot.commit(&next).expect("commits");
    };
    cycle(Some(vec![
        listing("g1", &["u1", "u2"]),
        listing("g2", &["g1", "u1", "u2", "u3"]),
    ]));
    assert_eq!(
        transitive_ids(&snapshot, "g2"),
        strings(&["g1", "u1", "u2", "u3"])
    );
    assert_eq!(transitive_ids(&snapshot, "g1"), strings(&["u1", "u2"]));

    // Table: each next listing, and what g1 and g2 hold after it.
    type Listings = Option<Vec<TransitiveListing>>;
    let steps: [(Listings, &[&str], &[&str]); 3] = [
        (
            Some(vec![listing("g1", &["u2"]), listing("g2", &["u3", "u4"])]),
            &["u2"],
            &["u3", "u4"],
        ),
        (Some(vec![listing("g2", &["u3"])]), &[], &["u3"]),
        (None, &[], &[]),
    ];
    for (i, (transitive, g1, g2)) in steps.into_iter().enumerate() {
        cycle(transitive);
        assert_eq!(transitive_ids(&snapshot, "g1"), strings(g1), "step {i}: g1");
        assert_eq!(transitive_ids(&snapshot, "g2"), strings(g2), "step {i}: g2");
        assert_eq!(
            member_ids(&snapshot, "g2"),
            strings(&["g1", "u3"]),
            "step {i}: direct untouched"
        );
        assert_eq!(
            counted(&snapshot).memberships,
            4,
            "step {i}: only direct memberships count"
        );
    }
}

#[test]
fn forgetting_delta_links_leaves_everything_else_alone() {
    let (_dir, snapshot) = committed_first();
    let before = snapshot.source_state().expect("reads");
    snapshot.forget_delta_links().expect("forgets");
    let after = snapshot.source_state().expect("reads");
    assert_eq!(after.links, Default::default());
    assert_eq!(
        after,
        crate::snapshot::SourceState {
            links: Default::default(),
            ..before
        }
    );
    assert_eq!(
        counted(&snapshot),
        Counts {
            users: 3,
            groups: 2,
            memberships: 4
        }
    );
}

#[test]
fn a_commit_that_fails_inside_the_transaction_writes_nothing() {
    let (_dir, snapshot) = committed_first();
    let before = format!("{:?}", snapshot.source_state().expect("reads"));
    let counts = snapshot.counts().expect("reads");
    let next = fetch(
        users_round(Full, &[user("u9", "X")], &[], "ul"),
        vec![groups_round(
            Full,
            &["g1"],
            vec![("g1", change(None, &["u9"], &[]))],
            &[],
            "gl",
        )],
    );
    // Fail after each tree in turn: whatever was staged, nothing lands.
    for tree in [
        TreeId::Users,
        TreeId::Members,
        TreeId::Links,
        TreeId::Bindings,
    ] {
        set_options(&snapshot, None, Some(tree));
        let err = snapshot.commit(&next).expect_err("the injected failure");
        assert!(err.to_string().contains("injected"), "{err}");
        assert_eq!(
            format!("{:?}", snapshot.source_state().expect("reads")),
            before,
            "after {tree:?}"
        );
        assert_eq!(snapshot.counts().expect("reads"), counts);
    }
    set_options(&snapshot, None, None);
    snapshot.commit(&next).expect("commits");
    assert_eq!(
        counted(&snapshot),
        Counts {
            users: 1,
            groups: 1,
            memberships: 1
        }
    );
}

#[test]
fn an_unchanged_full_round_writes_only_links() {
    let (_dir, snapshot) = committed_first();
    let writes = writes::write_set(&snapshot.store, &first_fetch(), 0).expect("plans");
    let per_tree: BTreeMap<TreeId, usize> = writes
        .per_tree()
        .filter(|(_, w)| !w.is_empty())
        .map(|(t, w)| (t, w.len()))
        .collect();
    // Unchanged bindings are not rewritten either (see `evaluation.rs`'s tests).
    assert_eq!(per_tree, BTreeMap::from([(TreeId::Links, 2)]));
}
