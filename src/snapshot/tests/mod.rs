//! Tests of the snapshot, on temporary directories, with `Fetch` values built by hand: what a
//! commit stores and removes (`commit.rs`), member lists as one value per group (`members.rs`),
//! opening, reopening and damage (`open.rs`), commits staged in several transactions
//! (`staged.rs`), and the cost of a 100,000-user commit (`scale.rs`). The helpers here build the
//! rounds and recount what the snapshot holds.

mod app;
mod commit;
mod evaluation;
mod members;
mod open;
mod scale;
mod staged;

use std::collections::{BTreeMap, BTreeSet};

use super::layout::TreeId;
use super::{Counts, Snapshot};
use crate::source::{
    Fetch, GroupChange, GroupsRound, MemberKind, Removal, RoundKind, RoundStats, ScopedGroup,
    TransitiveListing, User, UsersRound,
};

/// A fresh snapshot in a temporary state_dir (kept alive by the returned guard).
fn fresh() -> (tempfile::TempDir, Snapshot) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let opened = Snapshot::open(dir.path()).expect("a fresh snapshot opens");
    assert!(opened.recovered_from.is_none());
    (dir, opened.snapshot)
}

fn user(id: &str, department: &str) -> User {
    User {
        id: id.to_owned(),
        user_principal_name: Some(format!("{id}@contoso.com")),
        department: Some(department.to_owned()),
        account_enabled: Some(true),
        ..User::default()
    }
}

fn users_round(
    kind: RoundKind,
    users: &[User],
    removed: &[(&str, Removal)],
    link: &str,
) -> UsersRound {
    UsersRound {
        kind,
        users: users.iter().map(|u| (u.id.clone(), u.clone())).collect(),
        removed: removed
            .iter()
            .map(|(id, r)| ((*id).to_owned(), *r))
            .collect(),
        delta_link: link.to_owned(),
        stats: RoundStats::default(),
    }
}

/// A group change: the name (if the round carried it), members added (users, or groups when the
/// id starts with `g`) and members removed.
fn change(name: Option<&str>, added: &[&str], removed: &[&str]) -> GroupChange {
    GroupChange {
        display_name: name.map(str::to_owned),
        added: kinds(added),
        removed: removed.iter().map(|m| (*m).to_owned()).collect(),
    }
}

fn kinds(ids: &[&str]) -> BTreeMap<String, MemberKind> {
    ids.iter()
        .map(|m| {
            let kind = if m.starts_with('g') {
                MemberKind::Group
            } else {
                MemberKind::User
            };
            ((*m).to_owned(), kind)
        })
        .collect()
}

fn groups_round(
    kind: RoundKind,
    ids: &[&str],
    groups: Vec<(&str, GroupChange)>,
    removed: &[(&str, Removal)],
    link: &str,
) -> GroupsRound {
    let mut ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    ids.sort();
    GroupsRound {
        ids,
        kind,
        groups: groups
            .into_iter()
            .map(|(id, c)| (id.to_owned(), c))
            .collect(),
        removed: removed
            .iter()
            .map(|(id, r)| ((*id).to_owned(), *r))
            .collect(),
        delta_link: link.to_owned(),
        stats: RoundStats::default(),
    }
}

fn listing(group: &str, members: &[&str]) -> TransitiveListing {
    TransitiveListing {
        group_id: group.to_owned(),
        members: kinds(members),
        stats: RoundStats::default(),
    }
}

/// A fetch whose scope binds each group id to the name `Name <id>`.
fn fetch(users: UsersRound, groups: Vec<GroupsRound>) -> Fetch {
    let scoped = groups
        .iter()
        .flat_map(|r| &r.ids)
        .map(|id| ScopedGroup {
            configured: format!("Name {id}"),
            id: id.clone(),
        })
        .collect();
    Fetch {
        scoped,
        groups,
        users,
        transitive: None,
        app: None,
    }
}

/// The counts by walking every tree and decoding every member list, to check the kept ones
/// against; also checks that no group has an empty list stored (no entry instead).
fn recount(snapshot: &Snapshot) -> Counts {
    let store = &snapshot.store;
    let mut memberships = 0;
    for tree in [TreeId::Members, TreeId::Transitive] {
        for (group, members) in store.all_memberships(tree).expect("member lists read") {
            assert!(
                !members.is_empty(),
                "{tree:?}: an empty list stored for {group}"
            );
            if tree == TreeId::Members {
                memberships += members.len();
            }
        }
    }
    Counts {
        users: store.tree(TreeId::Users).len(),
        groups: store.tree(TreeId::Groups).len(),
        memberships,
    }
}

/// Asserts the kept counts equal a recount and returns them.
#[track_caller]
fn counted(snapshot: &Snapshot) -> Counts {
    let counts = snapshot.counts().expect("counts read");
    assert_eq!(counts, recount(snapshot), "kept counts against a recount");
    counts
}

fn ids<T>(map: &BTreeMap<String, T>) -> BTreeSet<&str> {
    map.keys().map(String::as_str).collect()
}

fn member_ids(snapshot: &Snapshot, group: &str) -> Vec<String> {
    let members = snapshot.members(group).expect("members read");
    members.into_iter().map(|m| m.id).collect()
}

fn transitive_ids(snapshot: &Snapshot, group: &str) -> Vec<String> {
    let members = snapshot.transitive_members(group).expect("members read");
    members.into_iter().map(|m| m.id).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// How the snapshot's commits are applied from now on: `transaction_writes` (default when
/// `None`) and a failure injected at the first transaction writing to `fail_at`.
fn set_options(snapshot: &Snapshot, transaction_writes: Option<usize>, fail_at: Option<TreeId>) {
    let mut options = snapshot.apply_options.lock().expect("not poisoned");
    options.transaction_writes = transaction_writes.unwrap_or(super::apply::TRANSACTION_WRITES);
    options.fail_at = fail_at;
}

#[test]
fn a_snapshot_can_be_shared_across_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Snapshot>();
}
