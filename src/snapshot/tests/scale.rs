//! The benchmark's shape: a first commit of 100,000 users and 200,000 memberships (staged, as
//! it is more than one transaction's worth), then incremental commits of about 100 changes. Not
//! a timed test: it prints the times (`cargo test --lib snapshot::tests::scale -- --nocapture`)
//! and checks the counts, so a pathological slowdown shows without making the suite flaky.

use std::time::Instant;

use super::*;

const USERS: usize = 100_000;
const GROUPS: usize = 10;
const PER_GROUP: usize = 20_000;

fn uid(i: usize) -> String {
    format!("{i:08x}-0000-4000-8000-{i:012x}")
}

fn gid(i: usize) -> String {
    format!("group-{i:04}")
}

#[test]
fn a_hundred_thousand_users_commit_and_small_rounds_stay_small() {
    let (_dir, snapshot) = fresh();
    let users: Vec<User> = (0..USERS).map(|i| user(&uid(i), "Sales")).collect();
    let group_ids: Vec<String> = (0..GROUPS).map(gid).collect();
    let changes: Vec<(String, GroupChange)> = (0..GROUPS)
        .map(|g| {
            let members = (0..PER_GROUP).map(|k| (uid((g * 7_919 + k) % USERS), MemberKind::User));
            let change = GroupChange {
                display_name: Some(format!("Group {g}")),
                added: members.collect(),
                removed: Default::default(),
            };
            (gid(g), change)
        })
        .collect();
    let round = GroupsRound {
        ids: group_ids.clone(),
        kind: RoundKind::Full,
        groups: changes.into_iter().collect(),
        removed: Default::default(),
        delta_link: "gl".into(),
        stats: RoundStats::default(),
    };
    let first = fetch(users_round(RoundKind::Full, &users, &[], "ul"), vec![round]);

    let clock = Instant::now();
    snapshot.commit(&first).expect("the first commit");
    let full = clock.elapsed();
    assert_eq!(
        snapshot.counts().expect("reads"),
        Counts {
            users: USERS,
            groups: GROUPS,
            memberships: GROUPS * PER_GROUP
        }
    );

    let mut incremental = Vec::new();
    for cycle in 0..5 {
        let changed: Vec<User> = (0..50)
            .map(|i| user(&uid(cycle * 1_000 + i), &format!("Dept {cycle}")))
            .collect();
        let removed_id = uid(USERS - 1 - cycle);
        let removed = [(removed_id.as_str(), Removal::SoftDeleted)];
        let added: Vec<String> = (0..25).map(|i| uid(50_000 + cycle * 100 + i)).collect();
        let gone: Vec<String> = (0..24).map(|i| uid(cycle * 100 + i)).collect();
        let added: Vec<&str> = added.iter().map(String::as_str).collect();
        let gone: Vec<&str> = gone.iter().map(String::as_str).collect();
        let ids: Vec<&str> = group_ids.iter().map(String::as_str).collect();
        let groups = vec![groups_round(
            RoundKind::Incremental,
            &ids,
            vec![(group_ids[0].as_str(), change(None, &added, &gone))],
            &[],
            "gl",
        )];
        let next = fetch(
            users_round(RoundKind::Incremental, &changed, &removed, "ul"),
            groups,
        );
        let clock = Instant::now();
        snapshot.commit(&next).expect("an incremental commit");
        incremental.push(clock.elapsed());
    }
    let counts = snapshot.counts().expect("reads");
    assert_eq!(counts.users, USERS - 5);
    let clock = Instant::now();
    assert_eq!(counts, recount(&snapshot), "kept counts against a recount");
    let recounting = clock.elapsed();
    println!(
        "snapshot scale: first commit of {USERS} users + {} memberships: {full:?}; \
         incremental commits of ~100 changes: {incremental:?}; recount by iterating: {recounting:?}",
        GROUPS * PER_GROUP
    );
}
