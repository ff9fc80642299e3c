//! Whom the rules must evaluate again (`evaluation.rs`, and the marks `writes.rs` leaves): a
//! commit marks exactly the users whose object or memberships changed, an evaluation of
//! everyone ends with only the unconfirmed users marked, anything that cannot be narrowed down
//! (a rebound scope entry, a staged commit) means everyone; and the kept verdicts add up to the
//! totals of the whole tenant.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::rules::{DepartmentChoice, DesiredUser, Outcome, RuleError, RuleErrorKind};
use crate::snapshot::{Evaluate, Totals};
use crate::source::{Removal, RoundKind};

const FP: &[u8] = b"fingerprint-1";

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

fn marked(snapshot: &Snapshot) -> Evaluate {
    snapshot.to_evaluate(FP).expect("reads")
}

/// A snapshot after a first full commit of u1..u4 (u1, u2 in g1; u3 in g2), evaluated in full
/// with nothing pending.
async fn evaluated_snapshot() -> (tempfile::TempDir, Snapshot) {
    let (dir, snapshot) = fresh();
    let users: Vec<User> = ["u1", "u2", "u3", "u4"]
        .iter()
        .map(|id| user(id, "Sales"))
        .collect();
    let first = fetch(
        users_round(RoundKind::Full, &users, &[], "users-1"),
        vec![groups_round(
            RoundKind::Full,
            &["g1", "g2"],
            vec![
                ("g1", change(Some("One"), &["u1", "u2"], &[])),
                ("g2", change(Some("Two"), &["u3"], &[])),
            ],
            &[],
            "groups-1",
        )],
    );
    snapshot.commit(&first).expect("commits");
    assert_eq!(
        marked(&snapshot),
        Evaluate::All,
        "never evaluated: everyone"
    );
    snapshot
        .evaluated(&Evaluate::All, &BTreeSet::new(), FP)
        .await
        .expect("records");
    (dir, snapshot)
}

fn incremental(users: &[User], removed: &[(&str, Removal)], groups: Vec<GroupsRound>) -> Fetch {
    fetch(
        users_round(RoundKind::Incremental, users, removed, "users-2"),
        groups,
    )
}

fn g1_g2(changes: Vec<(&str, GroupChange)>) -> Vec<GroupsRound> {
    vec![groups_round(
        RoundKind::Incremental,
        &["g1", "g2"],
        changes,
        &[],
        "groups-2",
    )]
}

#[tokio::test]
async fn a_commit_marks_the_users_whose_object_or_memberships_changed() {
    let (_dir, snapshot) = evaluated_snapshot().await;
    assert_eq!(
        marked(&snapshot),
        Evaluate::Users(set(&[])),
        "nothing changed"
    );
    assert_eq!(
        snapshot
            .to_evaluate(b"another configuration")
            .expect("reads"),
        Evaluate::All,
        "another configuration: everyone"
    );

    let cases: Vec<(&str, Fetch, &[&str])> = vec![
        (
            "an edited user",
            incremental(&[user("u4", "Finance")], &[], g1_g2(vec![])),
            &["u4"],
        ),
        (
            "a removed user",
            incremental(&[], &[("u2", Removal::SoftDeleted)], g1_g2(vec![])),
            &["u2"],
        ),
        (
            "a member added and one removed",
            incremental(
                &[],
                &[],
                g1_g2(vec![("g1", change(None, &["u4"], &["u1"]))]),
            ),
            &["u1", "u4"],
        ),
        (
            "a nested group added: not a user",
            incremental(&[], &[], g1_g2(vec![("g2", change(None, &["g9"], &[]))])),
            &[],
        ),
        (
            "a renamed group: names do not decide memberships",
            incremental(
                &[],
                &[],
                g1_g2(vec![("g2", change(Some("Zwei"), &[], &[]))]),
            ),
            &[],
        ),
    ];
    for (what, fetch, expected) in cases {
        let (_dir, snapshot) = evaluated_snapshot().await;
        snapshot.commit(&fetch).expect("commits");
        assert_eq!(marked(&snapshot), Evaluate::Users(set(expected)), "{what}");
    }
}

#[tokio::test]
async fn a_group_leaving_scope_marks_its_members_and_a_rebound_entry_marks_everyone() {
    let (_dir, snapshot) = evaluated_snapshot().await;
    // g2 is deleted in Entra: its member u3 may leave scope.
    let g2_deleted = vec![groups_round(
        RoundKind::Incremental,
        &["g1", "g2"],
        vec![],
        &[("g2", Removal::HardDeleted)],
        "groups-3",
    )];
    snapshot
        .commit(&incremental(&[], &[], g2_deleted))
        .expect("commits");
    assert_eq!(marked(&snapshot), Evaluate::Users(set(&["u3"])));

    let (_dir, snapshot) = evaluated_snapshot().await;
    let mut rebound = incremental(&[], &[], g1_g2(vec![]));
    rebound.scoped[0].id = "g2".into();
    snapshot.commit(&rebound).expect("commits");
    assert_eq!(
        marked(&snapshot),
        Evaluate::All,
        "a scope entry now means another group"
    );
}

#[tokio::test]
async fn a_staged_commit_means_everyone_and_marks_nothing() {
    let (_dir, snapshot) = evaluated_snapshot().await;
    set_options(&snapshot, Some(2), None);
    let users: Vec<User> = ["u1", "u2", "u3"]
        .iter()
        .map(|id| user(id, "Legal"))
        .collect();
    snapshot
        .commit(&incremental(&users, &[], g1_g2(vec![])))
        .expect("commits");
    assert_eq!(marked(&snapshot), Evaluate::All);
    assert_eq!(snapshot.store.tree(TreeId::Dirty).len(), 0, "no marks");
}

#[tokio::test]
async fn marks_stay_until_confirmed_and_unconfirmed_writes_are_evaluated() {
    let (_dir, snapshot) = evaluated_snapshot().await;
    snapshot
        .commit(&incremental(
            &[user("u1", "Legal"), user("u2", "Legal")],
            &[],
            g1_g2(vec![]),
        ))
        .expect("commits");
    let evaluate = marked(&snapshot);
    assert_eq!(evaluate, Evaluate::Users(set(&["u1", "u2"])));
    // u2's change failed: it stays marked; a dry run or a crash would have kept both.
    snapshot
        .evaluated(&evaluate, &set(&["u2"]), FP)
        .await
        .expect("records");
    assert_eq!(marked(&snapshot), Evaluate::Users(set(&["u2"])));
    // A write sent and never answered: its user is evaluated too.
    let template = crate::plan::PushedUser {
        target_id: String::new(),
        user_name: "u3@contoso.com".into(),
        active: true,
        attributes: BTreeMap::new(),
        permissions: Vec::new(),
        department: None,
    };
    snapshot
        .record_unconfirmed(vec![("u3".into(), template)])
        .await
        .expect("records");
    assert_eq!(marked(&snapshot), Evaluate::Users(set(&["u2", "u3"])));
    // After evaluating everyone, only what is pending stays marked.
    snapshot
        .evaluated(&Evaluate::All, &set(&["u4"]), FP)
        .await
        .expect("records");
    assert_eq!(marked(&snapshot), Evaluate::Users(set(&["u3", "u4"])));
}

fn error(id: &str, kind: RuleErrorKind) -> RuleError {
    RuleError {
        user_id: id.into(),
        user_principal_name: None,
        kind,
        message: format!("{kind:?} of {id}"),
    }
}

/// What the rules said of some users: (id, error, unmapped department); a user is wanted in
/// the target unless its error holds it.
fn outcome(entries: &[(&str, Option<RuleErrorKind>, Option<&str>)]) -> Outcome {
    let mut outcome = Outcome::default();
    for (id, kind, department) in entries {
        let held = matches!(
            kind,
            Some(RuleErrorKind::NoMainMembership | RuleErrorKind::NoUserName)
        );
        if !held {
            let desired = DesiredUser {
                id: (*id).to_owned(),
                user_name: format!("{id}@contoso.com"),
                attributes: BTreeMap::new(),
                permissions: Vec::new(),
                department: DepartmentChoice::NotSent,
            };
            outcome.desired.insert((*id).to_owned(), desired);
        }
        outcome.errors.extend(kind.map(|k| error(id, k)));
        if let Some(department) = department {
            let department = (*department).to_owned();
            outcome
                .unmapped_by_user
                .insert((*id).to_owned(), department);
        }
    }
    outcome
}

fn totals(in_scope: usize, errors: &[(&str, RuleErrorKind)], departments: &[&str]) -> Totals {
    let mut errors: Vec<RuleError> = errors.iter().map(|(id, k)| error(id, *k)).collect();
    errors.sort();
    Totals {
        in_scope,
        errors,
        unmapped_departments: departments.iter().map(|d| (*d).to_owned()).collect(),
    }
}

#[test]
fn kept_verdicts_and_this_cycles_add_up_to_the_whole_tenants_totals() {
    use RuleErrorKind::{NoDepartment, NoMainMembership};
    let (_dir, snapshot) = fresh();
    // Everyone: a is held, b and c have a department no alias maps ("X", "X\0y" apart), d not.
    let all = outcome(&[
        ("a", Some(NoMainMembership), None),
        ("b", Some(NoDepartment), Some("X")),
        ("c", None, Some("X\0y")),
        ("d", None, None),
    ]);
    let expected = totals(
        3,
        &[("a", NoMainMembership), ("b", NoDepartment)],
        &["X", "X\0y"],
    );
    assert_eq!(
        snapshot.totals(&Evaluate::All, &all).expect("reads"),
        expected
    );
    snapshot.keep_verdicts(&Evaluate::All, &all).expect("keeps");
    let nobody = Evaluate::Users(set(&[]));
    let none = Outcome::default();
    assert_eq!(
        snapshot.totals(&nobody, &none).expect("reads"),
        expected,
        "kept as computed"
    );

    // b is fixed, c leaves scope, e joins held: a dry run's totals, then the same once kept.
    let some = Evaluate::Users(set(&["b", "c", "e"]));
    let now = outcome(&[("b", None, None), ("e", Some(NoMainMembership), Some("Z"))]);
    let after = totals(
        2,
        &[("a", NoMainMembership), ("e", NoMainMembership)],
        &["Z"],
    );
    assert_eq!(
        snapshot.totals(&some, &now).expect("reads"),
        after,
        "overlaid"
    );
    snapshot.keep_verdicts(&some, &now).expect("keeps");
    assert_eq!(
        snapshot.totals(&nobody, &none).expect("reads"),
        after,
        "kept"
    );
    // Keeping the same again (a cycle that crashed after keeping them) changes nothing.
    snapshot.keep_verdicts(&some, &now).expect("keeps");
    assert_eq!(
        snapshot.totals(&nobody, &none).expect("reads"),
        after,
        "idempotent"
    );

    // Everyone again: what was kept before is gone.
    let fresh_all = outcome(&[("d", None, None)]);
    snapshot
        .keep_verdicts(&Evaluate::All, &fresh_all)
        .expect("keeps");
    assert_eq!(
        snapshot.totals(&nobody, &none).expect("reads"),
        totals(1, &[], &[])
    );
}

#[tokio::test]
async fn unchanged_bindings_are_not_rewritten_so_a_quiet_commit_stays_one_transaction() {
    // Found by the harness: with 1,000 scoped groups every commit rewrote 1,000 bindings, was
    // staged, and so made every cycle evaluate everyone.
    let (_dir, snapshot) = evaluated_snapshot().await;
    // Room for the two links a quiet commit writes, not for the two bindings as well.
    set_options(&snapshot, Some(2), None);
    snapshot
        .commit(&incremental(&[], &[], g1_g2(vec![])))
        .expect("commits");
    assert_eq!(marked(&snapshot), Evaluate::Users(set(&[])));
    assert_eq!(
        snapshot.scope_bindings().expect("reads").len(),
        2,
        "the bindings are kept"
    );
}
