//! Commits bigger than one transaction: staged in bounded transactions, they end exactly as one
//! transaction would; interrupted, they leave no delta links, and the next cycle's full rounds
//! repair whatever mix of old and new they left.

use super::commit::first_fetch;
use super::*;
use crate::snapshot::SourceState;
use crate::snapshot::layout;

use RoundKind::Full;

/// The cycle after a resync, every round full: u1 changed, u2 absent, u4 new; g1's members
/// replaced, g2 absent; g1's transitive members listed.
fn resync() -> Fetch {
    let users = [
        user("u1", "Moved"),
        user("u3", "Finance"),
        user("u4", "New"),
    ];
    let groups = vec![groups_round(
        Full,
        &["g1", "g2"],
        vec![("g1", change(Some("Readers"), &["u3", "u4"], &[]))],
        &[],
        "groups-link-2",
    )];
    let mut next = fetch(users_round(Full, &users, &[], "users-link-2"), groups);
    next.transitive = Some(vec![listing("g1", &["u3", "u4"])]);
    next
}

/// Tombstones are dated when written; the comparisons are about everything else.
fn undated(snapshot: &Snapshot) -> SourceState {
    let mut state = snapshot.source_state().expect("reads");
    for tombstone in state.gone.values_mut() {
        tombstone.at_unix = 0;
    }
    state
}

/// The first cycle and the resync, each committed in one transaction.
fn reference() -> SourceState {
    let (_dir, snapshot) = fresh();
    snapshot.commit(&first_fetch()).expect("commits");
    snapshot.commit(&resync()).expect("commits");
    let state = undated(&snapshot);
    assert_eq!(state.gone["u2"].removal, Removal::Absent);
    state
}

fn pending(snapshot: &Snapshot) -> bool {
    let meta = snapshot.store.tree(TreeId::Meta);
    meta.contains_key(layout::PENDING_KEY).expect("reads")
}

#[test]
fn a_commit_staged_in_small_transactions_ends_as_one_transaction_would() {
    let reference = reference();
    for size in [1, 2, 3, 7] {
        let (_dir, snapshot) = fresh();
        set_options(&snapshot, Some(size), None);
        snapshot.commit(&first_fetch()).expect("commits");
        snapshot.commit(&resync()).expect("commits");
        assert_eq!(undated(&snapshot), reference, "transactions of {size}");
        assert!(!pending(&snapshot), "transactions of {size}");
        counted(&snapshot);
    }
}

#[test]
fn an_interrupted_staged_commit_drops_the_links_and_the_next_full_round_repairs_it() {
    let reference = reference();
    let trees = [
        TreeId::Users,
        TreeId::Groups,
        TreeId::Members,
        TreeId::Transitive,
        TreeId::Gone,
    ];
    for fail_at in trees {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let snapshot = Snapshot::open(dir.path()).expect("opens").snapshot;
        snapshot.commit(&first_fetch()).expect("commits");
        set_options(&snapshot, Some(2), Some(fail_at));
        snapshot.commit(&resync()).expect_err("interrupted");
        let links = snapshot.delta_links().expect("reads");
        assert_eq!(
            links,
            Default::default(),
            "{fail_at:?}: the next cycle is full"
        );
        assert!(pending(&snapshot), "{fail_at:?}");
        counted(&snapshot);

        // As after a crash: the snapshot reopens as it was left.
        drop(snapshot);
        let opened = Snapshot::open(dir.path()).expect("reopens");
        assert!(opened.recovered_from.is_none(), "{fail_at:?}: not damage");
        let snapshot = opened.snapshot;
        assert!(pending(&snapshot), "{fail_at:?}");

        // The next cycle reads full rounds of the same tenant and commits them.
        snapshot.commit(&resync()).expect("commits");
        assert_eq!(undated(&snapshot), reference, "{fail_at:?}: repaired");
        assert!(!pending(&snapshot), "{fail_at:?}");
        counted(&snapshot);
    }
}
