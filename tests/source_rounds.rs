//! Delta rounds over real HTTP against the emulator: a first round brings exactly the tenant into
//! the snapshot, and after each kind of change the next round reads only that change (counted in
//! requests and objects) and leaves the snapshot equal to the tenant again.

mod common;

use common::{DEMO_GROUPS, Harness, changed_and_removed, demo_tenant, groups_view, users_view};
use entrasync::emulator::{EmulatorOptions, Endpoint, Tenant, synthetic_group_id};
use entrasync::source::{Removal, RoundKind};
use serde_json::json;

#[tokio::test]
async fn a_first_round_brings_exactly_the_tenant() {
    let h = Harness::demo().await;
    let scoped = h.scoped_ids(&DEMO_GROUPS);
    let report = h.cycle().await.expect("the first cycle runs");
    assert_eq!(report.users_round.kind, RoundKind::Full);
    assert!(
        report
            .group_rounds
            .iter()
            .all(|r| r.kind == RoundKind::Full)
    );
    let (users, _, memberships) = h.emulator.mutate(|t| t.counts());
    assert_eq!(report.users_round.changed, users);
    assert_eq!(report.snapshot.users, users);
    assert_eq!(report.snapshot.groups, DEMO_GROUPS.len());
    assert!(report.snapshot.memberships > 0 && report.snapshot.memberships <= memberships);
    h.assert_matches_tenant(&scoped);
    // The sample tenant has one user in deleted items: a first round reports it too.
    assert_eq!(report.users_round.removed, 1);
    let state = h.snapshot.source_state().expect("reads");
    assert_eq!(state.gone.len(), 1);
    assert!(
        state
            .gone
            .values()
            .all(|t| t.removal == Removal::SoftDeleted)
    );
    let links = h.snapshot.delta_links().expect("links read");
    assert!(links.users.is_some(), "the users delta link is stored");
    assert_eq!(links.groups.len(), 1, "one chunk of four groups");
}

/// One kind of change in Entra, applied between two cycles.
struct Case {
    name: &'static str,
    change: fn(&mut Tenant, &[String]),
}

fn first_member(t: &Tenant, group: &str) -> String {
    t.members(group)
        .into_iter()
        .find(|m| t.user(m).is_some())
        .expect("the group has a user member")
}

fn outsider(t: &Tenant, scoped: &[String]) -> String {
    t.user_ids()
        .into_iter()
        .find(|u| scoped.iter().all(|g| !t.members(g).contains(u)))
        .expect("some user is in no scoped group")
}

const CASES: &[Case] = &[
    Case {
        name: "nothing changed",
        change: |_, _| {},
    },
    Case {
        name: "a user's department changed",
        change: |t, s| {
            let u = first_member(t, &s[0]);
            t.update_user(&u, json!({"department": "Moved Somewhere"}));
        },
    },
    Case {
        name: "a user joined and was added to a scoped group",
        change: |t, s| {
            let u = t.add_user(json!({"userPrincipalName": "new.joiner@contoso.com",
                "displayName": "New Joiner", "accountEnabled": true, "userType": "Member"}));
            t.add_member(&s[1], &u);
        },
    },
    Case {
        name: "a member left a scoped group",
        change: |t, s| {
            let u = first_member(t, &s[1]);
            t.remove_member(&s[1], &u);
        },
    },
    Case {
        name: "an existing user was added to a scoped group",
        change: |t, s| {
            let u = outsider(t, s);
            t.add_member(&s[2], &u);
        },
    },
    Case {
        name: "a scoped group was renamed",
        change: |t, s| t.rename_group(&s[3], "Renamed Reporters"),
    },
    Case {
        name: "an account was disabled",
        change: |t, s| {
            let u = first_member(t, &s[2]);
            t.update_user(&u, json!({"accountEnabled": false}));
        },
    },
    Case {
        name: "a user was soft-deleted",
        change: |t, s| {
            let u = first_member(t, &s[0]);
            t.soft_delete_user(&u);
        },
    },
    Case {
        name: "a user outside scope was hard-deleted",
        change: |t, s| {
            let u = outsider(t, s);
            t.hard_delete_user(&u);
        },
    },
    Case {
        name: "a user changed outside scope",
        change: |t, s| {
            let u = outsider(t, s);
            t.update_user(
                &u,
                json!({"jobTitle": "Changed Title", "mobilePhone": "+47 000"}),
            );
        },
    },
];

#[tokio::test]
async fn each_kind_of_change_is_read_alone_and_the_snapshot_follows_the_tenant() {
    let h = Harness::demo().await;
    let scoped = h.scoped_ids(&DEMO_GROUPS);
    h.cycle().await.expect("the first cycle runs");
    for case in CASES {
        let before = h
            .emulator
            .mutate(|t| (users_view(t), groups_view(t, &scoped)));
        h.emulator.mutate(|t| (case.change)(t, &scoped));
        let after = h
            .emulator
            .mutate(|t| (users_view(t), groups_view(t, &scoped)));
        let (users_changed, users_removed) = changed_and_removed(&before.0, &after.0);
        let (groups_changed, _) = changed_and_removed(&before.1, &after.1);

        h.emulator.requests().reset();
        let report = h
            .cycle()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let name = case.name;
        assert_eq!(report.users_round.kind, RoundKind::Incremental, "{name}");
        assert_eq!(
            report.users_round.changed, users_changed,
            "{name}: users read"
        );
        assert_eq!(
            report.users_round.removed, users_removed,
            "{name}: users removed"
        );
        let groups_read: usize = report.group_rounds.iter().map(|r| r.changed).sum();
        assert_eq!(groups_read, groups_changed, "{name}: groups read");
        // One page per query: the users round and the one chunk of groups; nothing re-read.
        assert_eq!(report.users_round.stats.requests, 1, "{name}");
        assert_eq!(
            report.users_round.stats.objects as usize,
            users_changed + users_removed,
            "{name}: objects in the users round"
        );
        assert_eq!(report.graph_requests, 2, "{name}: requests in the cycle");
        assert_eq!(
            h.emulator.requests().count(Endpoint::UsersDelta),
            1,
            "{name}"
        );
        assert_eq!(
            h.emulator.requests().count(Endpoint::GroupsDelta),
            1,
            "{name}"
        );
        assert_eq!(
            h.emulator.requests().count(Endpoint::GroupsList),
            0,
            "{name}"
        );
        h.assert_matches_tenant(&scoped);
    }
}

#[tokio::test]
async fn removed_users_leave_tombstones_with_the_reason() {
    let h = Harness::demo().await;
    h.cycle().await.expect("the first cycle runs");
    let (soft, hard) = h.emulator.mutate(|t| {
        let ids = t.user_ids();
        t.soft_delete_user(&ids[0]);
        t.hard_delete_user(&ids[1]);
        (ids[0].clone(), ids[1].clone())
    });
    let report = h.cycle().await.expect("the second cycle runs");
    assert_eq!(report.users_round.removed, 2);
    assert!(h.snapshot.user(&soft).expect("reads").is_none());
    assert!(h.snapshot.user(&hard).expect("reads").is_none());
    let soft_gone = h.snapshot.gone(&soft).expect("reads").expect("a tombstone");
    let hard_gone = h.snapshot.gone(&hard).expect("reads").expect("a tombstone");
    assert_eq!(soft_gone.removal, Removal::SoftDeleted);
    assert_eq!(hard_gone.removal, Removal::HardDeleted);

    // Restored from deleted items: back in the snapshot, tombstone gone.
    h.emulator.mutate(|t| t.restore_user(&soft));
    h.cycle().await.expect("the third cycle runs");
    assert!(h.snapshot.user(&soft).expect("reads").is_some());
    assert!(h.snapshot.gone(&soft).expect("reads").is_none());
}

#[tokio::test]
async fn a_group_larger_than_a_page_is_merged_across_pages() {
    let mut tenant = Tenant::synthetic(300, 3, 0, 7);
    let big = synthetic_group_id(0);
    for user in tenant.user_ids().into_iter().take(250) {
        tenant.add_member(&big, &user);
    }
    let options = EmulatorOptions {
        member_page_size: 40,
        user_page_size: 64,
        ..EmulatorOptions::default()
    };
    let groups = [big.as_str(), &synthetic_group_id(1)];
    let h = Harness::start(tenant, options, &groups, "direct").await;
    let report = h.cycle().await.expect("the first cycle runs");
    assert!(
        report.group_rounds[0].stats.pages >= 7,
        "250 members in pages of 40 take at least 7 pages, got {}",
        report.group_rounds[0].stats.pages
    );
    assert_eq!(report.group_rounds[0].changed, 2, "each group counted once");
    assert_eq!(h.snapshot.members(&big).expect("reads").len(), 250);
    let scoped: Vec<String> = groups.iter().map(|g| (*g).to_owned()).collect();
    h.assert_matches_tenant(&scoped);

    // 60 members leave, 5 join: the next round reads those, across pages again.
    h.emulator.mutate(|t| {
        let ids = t.user_ids();
        for user in &ids[..60] {
            t.remove_member(&big, user);
        }
        for user in &ids[250..255] {
            t.add_member(&big, user);
        }
    });
    let report = h.cycle().await.expect("the second cycle runs");
    assert_eq!(report.group_rounds[0].kind, RoundKind::Incremental);
    assert_eq!(report.users_round.changed, 0);
    assert_eq!(h.snapshot.members(&big).expect("reads").len(), 195);
    h.assert_matches_tenant(&scoped);
}

#[tokio::test]
async fn more_than_fifty_scoped_groups_are_read_in_chunks_of_fifty() {
    let tenant = Tenant::synthetic(400, 120, 1_000, 11);
    let ids: Vec<String> = (0..120).map(synthetic_group_id).collect();
    let groups: Vec<&str> = ids.iter().map(String::as_str).collect();
    let h = Harness::start(tenant, EmulatorOptions::default(), &groups, "direct").await;
    let report = h.cycle().await.expect("the first cycle runs");
    assert_eq!(report.group_rounds.len(), 3, "120 ids: 50 + 50 + 20");
    assert_eq!(h.snapshot.delta_links().expect("reads").groups.len(), 3);
    h.assert_matches_tenant(&ids);

    // A change in one group touches one chunk's page only; the others answer empty.
    h.emulator.mutate(|t| {
        let user = t.user_ids()[0].clone();
        t.add_member(&ids[75], &user);
    });
    let report = h.cycle().await.expect("the second cycle runs");
    let changed: Vec<usize> = report.group_rounds.iter().map(|r| r.changed).collect();
    assert_eq!(changed, vec![0, 1, 0]);
    h.assert_matches_tenant(&ids);
}

#[tokio::test]
async fn transitive_members_include_nested_groups() {
    let tenant = demo_tenant();
    let h = Harness::start(
        tenant,
        EmulatorOptions::default(),
        &DEMO_GROUPS,
        "transitive",
    )
    .await;
    h.cycle().await.expect("the first cycle runs");
    let (readers, nested_users) = h.emulator.mutate(|t| {
        let readers = t
            .group_id_by_name("Stratsys Readers")
            .expect("Readers exists");
        let finance = t
            .group_id_by_name("Finance Controllers")
            .expect("Finance Controllers exists");
        assert!(
            t.members(&readers).contains(&finance),
            "the demo nests Finance in Readers"
        );
        (readers, t.members(&finance))
    });
    assert!(!nested_users.is_empty());
    let transitive: Vec<String> = h
        .snapshot
        .transitive_members(&readers)
        .expect("reads")
        .into_iter()
        .map(|m| m.id)
        .collect();
    for user in &nested_users {
        assert!(
            transitive.contains(user),
            "{user} reaches Readers through Finance"
        );
    }
    let direct: Vec<String> = h
        .snapshot
        .members(&readers)
        .expect("reads")
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert!(nested_users.iter().any(|u| !direct.contains(u)));
}

#[tokio::test]
async fn a_deleted_scoped_group_leaves_the_snapshot_with_its_members() {
    let h = Harness::demo().await;
    let scoped = h.scoped_ids(&DEMO_GROUPS);
    h.cycle().await.expect("the first cycle runs");
    let (security, m365) = (scoped[3].clone(), scoped[2].clone());
    assert!(!h.snapshot.members(&security).expect("reads").is_empty());
    h.emulator.mutate(|t| {
        t.delete_group(&security, false);
        t.delete_group(&m365, true);
    });
    let report = h.cycle().await.expect("the cycle after the deletions");
    let removed: usize = report.group_rounds.iter().map(|r| r.removed).sum();
    assert_eq!(removed, 2, "both deletions read as @removed");
    for id in [&security, &m365] {
        assert!(h.snapshot.members(id).expect("reads").is_empty(), "{id}");
    }
    let state = h.snapshot.source_state().expect("reads");
    assert!(!state.groups.contains_key(&security) && !state.groups.contains_key(&m365));
    assert!(
        state
            .bindings
            .values()
            .all(|id| id != &security && id != &m365),
        "a deleted group's name is looked up again"
    );
    // The next cycle looks the names up again and finds nothing: a configuration problem
    // that names the group, and the snapshot stays as it was.
    let err = h
        .cycle()
        .await
        .expect_err("the configured name matches no group now");
    assert!(
        err.to_string().contains(DEMO_GROUPS[2]) || err.to_string().contains(DEMO_GROUPS[3]),
        "{err}"
    );
    assert_eq!(h.snapshot.source_state().expect("reads"), state);
}
