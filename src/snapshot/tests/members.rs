//! Member lists as one value per group: what a commit writes for them (one key per changed
//! group, nothing for an unchanged one, no entry for an empty one), edits that compose across the
//! rounds of one fetch, and a damaged list reported as damage by reads and commits alike.

use std::collections::BTreeMap;

use super::commit::first_fetch;
use super::*;
use crate::snapshot::{SnapshotError, layout, writes};
use crate::source::{Member, Removal};

use RoundKind::{Full, Incremental};

fn committed_first() -> (tempfile::TempDir, Snapshot) {
    let (dir, snapshot) = fresh();
    snapshot.commit(&first_fetch()).expect("the first commit");
    (dir, snapshot)
}

/// An incremental cycle changing only the members of the chunk g1, g2.
fn edit(groups: Vec<(&str, GroupChange)>) -> Fetch {
    fetch(
        users_round(Incremental, &[], &[], "ul"),
        vec![groups_round(Incremental, &["g1", "g2"], groups, &[], "gl")],
    )
}

/// How many keys a fetch would write to each tree (trees it leaves alone are left out).
fn planned(snapshot: &Snapshot, fetch: &Fetch) -> BTreeMap<TreeId, usize> {
    let writes = writes::write_set(&snapshot.store, fetch, 0).expect("plans");
    writes
        .per_tree()
        .filter(|(_, w)| !w.is_empty())
        .map(|(t, w)| (t, w.len()))
        .collect()
}

/// What every commit writes: the new delta links (bindings only when they change).
fn links() -> BTreeMap<TreeId, usize> {
    BTreeMap::from([(TreeId::Links, 2)])
}

#[test]
fn each_group_is_one_key_holding_its_sorted_list() {
    let (_dir, snapshot) = committed_first();
    let tree = snapshot.store.tree(TreeId::Members);
    let keys: Vec<Vec<u8>> = tree
        .iter()
        .keys()
        .map(|k| k.expect("reads").to_vec())
        .collect();
    assert_eq!(keys, [b"g1".to_vec(), b"g2".to_vec()]);
    let g2 = tree.get("g2").expect("reads").expect("g2 has members");
    assert_eq!(
        layout::decode_members(&g2),
        Some(vec![
            Member {
                id: "g1".into(),
                kind: MemberKind::Group
            },
            Member {
                id: "u3".into(),
                kind: MemberKind::User
            },
        ])
    );
    assert_eq!(counted(&snapshot).memberships, 4);
}

#[test]
fn a_changed_group_is_one_write_and_an_unchanged_one_none() {
    let (_dir, snapshot) = committed_first();
    // g1 gains u3 and loses u1: one write, whatever the number of changes.
    let changed = edit(vec![("g1", change(None, &["u3"], &["u1"]))]);
    let mut one = links();
    one.insert(TreeId::Members, 1);
    assert_eq!(planned(&snapshot, &changed), one);

    // Re-adding a member with its kind and removing a non-member change nothing: no write.
    let no_op = edit(vec![
        ("g1", change(None, &["u1"], &["u9"])),
        ("g2", change(Some("Writers"), &["g1", "u3"], &[])),
    ]);
    assert_eq!(planned(&snapshot, &no_op), links());
    snapshot.commit(&no_op).expect("commits");
    assert_eq!(member_ids(&snapshot, "g1"), strings(&["u1", "u2"]));

    // A member re-added with another kind is a change.
    let mut kind = change(None, &[], &[]);
    kind.added.insert("u1".into(), MemberKind::Other);
    snapshot.commit(&edit(vec![("g1", kind)])).expect("commits");
    let g1 = snapshot.members("g1").expect("reads");
    assert_eq!((g1[0].id.as_str(), g1[0].kind), ("u1", MemberKind::Other));
    assert_eq!(counted(&snapshot).memberships, 4);
}

#[test]
fn a_group_left_without_members_has_no_entry_and_can_gain_them_again() {
    let (_dir, snapshot) = committed_first();
    snapshot
        .commit(&edit(vec![("g1", change(None, &[], &["u1", "u2"]))]))
        .expect("commits");
    let tree = snapshot.store.tree(TreeId::Members);
    assert!(!tree.contains_key("g1").expect("reads"), "no empty value");
    assert!(member_ids(&snapshot, "g1").is_empty());
    let state = snapshot.source_state().expect("reads");
    assert!(state.groups.contains_key("g1"), "the group itself stays");
    assert!(!state.members.contains_key("g1"));
    assert_eq!(counted(&snapshot).memberships, 2);

    snapshot
        .commit(&edit(vec![("g1", change(None, &["u3"], &[]))]))
        .expect("commits");
    assert_eq!(member_ids(&snapshot, "g1"), strings(&["u3"]));
    assert_eq!(counted(&snapshot).memberships, 3);

    // A full round listing no members: no entry either.
    let round = groups_round(
        Full,
        &["g1", "g2"],
        vec![
            ("g1", change(None, &[], &[])),
            ("g2", change(None, &["u3", "g1"], &[])),
        ],
        &[],
        "gl",
    );
    snapshot
        .commit(&fetch(
            users_round(Incremental, &[], &[], "ul"),
            vec![round],
        ))
        .expect("commits");
    assert!(!tree.contains_key("g1").expect("reads"));
    assert_eq!(counted(&snapshot).memberships, 2);
}

#[test]
fn edits_of_one_group_in_two_rounds_of_a_fetch_compose() {
    let (_dir, snapshot) = committed_first();
    let mut next = edit(vec![("g1", change(None, &["u3"], &[]))]);
    next.groups.push(groups_round(
        Incremental,
        &["g1"],
        vec![("g1", change(None, &[], &["u1"]))],
        &[],
        "gl-g1",
    ));
    snapshot.commit(&next).expect("commits");
    assert_eq!(member_ids(&snapshot, "g1"), strings(&["u2", "u3"]));
    counted(&snapshot);
}

/// Writes garbage over g1's member list in `tree`, as damage would.
fn damage(snapshot: &Snapshot, tree: TreeId) {
    let tree = snapshot.store.tree(tree);
    tree.insert("g1", &b"\xff\xff\xff\xffnot a member list"[..])
        .expect("writes");
}

#[track_caller]
fn assert_damage(result: Result<impl std::fmt::Debug, SnapshotError>, what: &str) {
    match result {
        Err(SnapshotError::Decode { what: found, .. }) => assert_eq!(found, what),
        other => panic!("expected damage of {what}, got {other:?}"),
    }
}

#[test]
fn a_damaged_member_list_is_damage_for_reads_and_commits_and_nothing_is_written() {
    let (_dir, snapshot) = committed_first();
    damage(&snapshot, TreeId::Members);
    let links = snapshot.delta_links().expect("reads");
    let counts = snapshot.counts().expect("reads");
    let what = "members entry \"g1\"";
    assert_damage(snapshot.members("g1"), what);
    assert_damage(snapshot.source_state(), what);

    // An incremental edit reads the list first; a full round replacing it, or g1's removal,
    // cannot tell how many memberships go with it. Each fails before writing anything.
    let full = groups_round(
        Full,
        &["g1", "g2"],
        vec![
            ("g1", change(None, &["u1"], &[])),
            ("g2", change(None, &["u3", "g1"], &[])),
        ],
        &[],
        "gl-2",
    );
    let removal = groups_round(
        Incremental,
        &["g1", "g2"],
        vec![],
        &[("g1", Removal::HardDeleted)],
        "gl-3",
    );
    let quiet = || users_round(Incremental, &[], &[], "ul-2");
    let cycles = [
        edit(vec![("g1", change(None, &["u3"], &[]))]),
        fetch(quiet(), vec![full]),
        fetch(quiet(), vec![removal]),
    ];
    for (i, next) in cycles.iter().enumerate() {
        assert_damage(snapshot.commit(next), what);
        assert_eq!(snapshot.delta_links().expect("reads"), links, "cycle {i}");
        assert_eq!(snapshot.counts().expect("reads"), counts, "cycle {i}");
        assert_eq!(
            member_ids(&snapshot, "g2"),
            strings(&["g1", "u3"]),
            "cycle {i}"
        );
    }

    // A damaged transitive list is not counted: a listing simply replaces it.
    damage(&snapshot, TreeId::Transitive);
    assert_damage(snapshot.transitive_members("g1"), "transitive entry \"g1\"");
    snapshot
        .store
        .tree(TreeId::Members)
        .remove("g1")
        .expect("writes");
    let mut next = edit(vec![]);
    next.transitive = Some(vec![listing("g1", &["u1"])]);
    snapshot.commit(&next).expect("commits");
    assert_eq!(transitive_ids(&snapshot, "g1"), strings(&["u1"]));
}
