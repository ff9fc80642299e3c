//! Fault survival, as a matrix (issue 6): Graph throttling storms, 503/504, 410, expired delta
//! tokens, hanging and truncated answers and replayed objects — each on the first, a middle and
//! the last page — and a SCIM target answering 500/503/429, stalling, or 409, on a fraction of
//! requests, before or after it did the write. For every scenario the tenant changes (a mover,
//! a joiner, a leaver), a cycle runs under the fault, then cycles run without it. After every
//! cycle: no user in scope is inactive or gone in the target (no deprovision without positive
//! evidence) and the snapshot opens; within three clean cycles: the snapshot equals the tenant,
//! the target holds exactly the users in scope, active, and a further cycle plans nothing.
//! The table of scenarios and how they ended is printed.

mod common;
#[path = "common/scim_server.rs"]
mod scim_server;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{DEMO_GROUPS, assert_snapshot_matches, demo_tenant, fast_retries, write_config};
use entrasync::config::{self, Config, TargetKind};
use entrasync::emulator::{Emulator, EmulatorOptions, Endpoint, FaultKind, FaultRule, Tenant};
use entrasync::engine::{self, Options};
use entrasync::snapshot::Snapshot;
use entrasync::source::Graph;
use entrasync::target::AnyTarget;
use entrasync::target::scim::ScimTarget;
use scim_server::{FaultPlan, ScimServer, TargetFault};
use serde_json::json;

/// Users per `users/delta` page: the sample tenant's 50 users (and the joiners) make 5 pages
/// and more.
const PAGE: usize = 10;

struct World {
    emulator: Emulator,
    server: ScimServer,
    _dir: tempfile::TempDir,
    config: Config,
    graph: Graph,
    snapshot: Snapshot,
    target: AnyTarget,
}

async fn world() -> World {
    let options = EmulatorOptions {
        user_page_size: PAGE,
        ..EmulatorOptions::default()
    };
    let emulator = Emulator::start(demo_tenant(), options)
        .await
        .expect("the emulator starts");
    let server = scim_server::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(
        &dir,
        &emulator,
        &DEMO_GROUPS,
        "direct",
        &emulator.client_secret(),
    );
    std::fs::write(dir.path().join("scim-token"), &server.token).expect("write the token");
    let text = std::fs::read_to_string(&path).expect("reads").replace(
        "max_retry_wait = \"3s\"",
        "max_retry_wait = \"3s\"\nrequest_timeout = \"1s\"",
    ) + &format!(
        "\n[deprovision]\nmax_deprovisions = 100\n\n[target]\nkind = \"scim\"\nurl = \"{}\"\ntoken_file = \"scim-token\"\nrequest_timeout = \"1s\"\n",
        server.base_url
    );
    std::fs::write(&path, text).expect("writes");
    let config = config::load(&path).expect("valid");
    let graph = Graph::new(&config.source)
        .expect("builds")
        .with_retry_policy(fast_retries());
    let snapshot = Snapshot::open(&config.state_dir).expect("opens").snapshot;
    let TargetKind::Scim(scim) = &config.target.as_ref().expect("a target").kind else {
        panic!("a SCIM target");
    };
    let target = AnyTarget::Scim(Box::new(
        ScimTarget::new(scim, false)
            .expect("builds")
            .with_retry_policy(fast_retries()),
    ));
    World {
        emulator,
        server,
        _dir: dir,
        config,
        graph,
        snapshot,
        target,
    }
}

/// The users a complete cycle should have active in the target: direct members of a scoped
/// group, enabled (the config maps no permissions and filters nothing).
fn in_scope(tenant: &Tenant) -> BTreeSet<String> {
    DEMO_GROUPS
        .iter()
        .filter_map(|name| tenant.group_id_by_name(name))
        .flat_map(|group| tenant.members(&group))
        .filter(|id| {
            tenant
                .user(id)
                .is_some_and(|u| u["accountEnabled"] != false)
        })
        .collect()
}

/// A working day: a mover, a joiner, a leaver.
fn change(tenant: &mut Tenant, round: usize) {
    let scope: Vec<String> = in_scope(tenant).into_iter().collect();
    let mover = &scope[round * 7 % scope.len()];
    tenant.update_user(mover, json!({"department": format!("Moved {round}")}));
    let leaver = &scope[(round * 11 + 3) % scope.len()];
    for name in DEMO_GROUPS {
        if let Some(group) = tenant.group_id_by_name(name) {
            if tenant.members(&group).contains(leaver) {
                tenant.remove_member(&group, leaver);
            }
        }
    }
    let joiner = tenant.add_user(json!({
        "userPrincipalName": format!("joiner{round}@contoso.com"),
        "displayName": format!("Joiner {round}"),
        "mail": format!("joiner{round}@contoso.com"),
        "accountEnabled": true, "userType": "Member",
    }));
    let group = tenant
        .group_id_by_name(DEMO_GROUPS[round % DEMO_GROUPS.len()])
        .expect("a demo group");
    tenant.add_member(&group, &joiner);
}

impl World {
    async fn cycle(&self) -> Result<engine::CycleReport, engine::CycleError> {
        engine::cycle(
            &self.graph,
            &self.snapshot,
            &self.config,
            Some(&self.target),
            Options::default(),
        )
        .await
    }

    /// The target's users by externalId: whether each is active.
    async fn target_users(&self) -> Vec<(String, bool)> {
        self.server
            .users()
            .await
            .iter()
            .map(|u| {
                (
                    u["externalId"].as_str().unwrap_or_default().to_owned(),
                    u["active"] == true,
                )
            })
            .collect()
    }

    /// Invariant 2 after any cycle: everyone in scope whom the target has is active, and no
    /// one in scope was deleted.
    async fn no_deprovision_without_evidence(&self, scenario: &str) {
        let scope = self.emulator.mutate(|t| in_scope(t));
        for (id, active) in self.target_users().await {
            assert!(
                active || !scope.contains(&id),
                "{scenario}: {id} is in scope but inactive in the target"
            );
        }
        for request in self.server.requests() {
            if request.method == "DELETE" {
                panic!("{scenario}: a DELETE was sent: {request:?}");
            }
        }
    }

    /// Runs clean cycles until the target and the snapshot match the tenant and a cycle plans
    /// nothing; how many it took.
    async fn converge(&self, scenario: &str) -> usize {
        for cycles in 1..=3 {
            let report = self
                .cycle()
                .await
                .unwrap_or_else(|e| panic!("{scenario}: a clean cycle fails: {e}"));
            self.no_deprovision_without_evidence(scenario).await;
            let scope = self.emulator.mutate(|t| in_scope(t));
            let active: BTreeSet<String> = self
                .target_users()
                .await
                .into_iter()
                .filter(|(_, active)| *active)
                .map(|(id, _)| id)
                .collect();
            let quiet = report.plan.creates + report.plan.updates + report.plan.deactivations == 0;
            if quiet && report.failures.is_empty() && active == scope {
                let scoped: Vec<String> = self.emulator.mutate(|t| {
                    DEMO_GROUPS
                        .iter()
                        .filter_map(|g| t.group_id_by_name(g))
                        .collect()
                });
                assert_snapshot_matches(&self.snapshot, &self.emulator, &scoped);
                return cycles;
            }
        }
        panic!("{scenario}: not converged within three clean cycles");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_ends_in_convergence_and_never_deprovisions_without_evidence() {
    let w = world().await;
    w.converge("the first cycle").await;
    // How each Graph fault shows in the faulted cycle's report, so each row proves it fired.
    #[derive(Clone, Copy, PartialEq)]
    enum Shows {
        Retried,
        Resynced,
        Failed,
        Unseen,
    }
    let graph_faults: Vec<(&str, FaultKind, u32, Shows)> = vec![
        (
            "429 storm",
            FaultKind::TooManyRequests {
                retry_after: Some("0.05".into()),
            },
            2,
            Shows::Retried,
        ),
        (
            "503",
            FaultKind::ServiceUnavailable { retry_after: None },
            2,
            Shows::Retried,
        ),
        ("504", FaultKind::GatewayTimeout, 2, Shows::Retried),
        ("410 Gone", FaultKind::Gone, 1, Shows::Resynced),
        (
            "syncStateNotFound",
            FaultKind::SyncStateNotFound,
            1,
            Shows::Resynced,
        ),
        ("hang", FaultKind::Hang, 1, Shows::Retried),
        (
            "truncated body",
            FaultKind::TruncatedBody,
            1,
            Shows::Retried,
        ),
        (
            "replayed objects",
            FaultKind::Replay { earlier: 1 },
            1,
            Shows::Unseen,
        ),
        // Outlasts the retries: the cycle fails and commits nothing (Invariant 1).
        (
            "503 that does not stop",
            FaultKind::ServiceUnavailable { retry_after: None },
            50,
            Shows::Failed,
        ),
    ];
    let mut table = Vec::new();
    let mut round = 0;
    for (name, kind, times, shows) in &graph_faults {
        // A full round, so that there are first, middle and last pages to fault.
        let users = w.emulator.mutate(|t| t.counts().0);
        let last = users.div_ceil(PAGE) - 1;
        for (page_name, page) in [("first", 0), ("middle", last / 2), ("last", last)] {
            round += 1;
            let scenario = format!("Graph {name} on the {page_name} page");
            w.emulator.mutate(|t| change(t, round));
            w.snapshot.forget_delta_links().expect("forgets");
            w.emulator.faults().add(
                FaultRule::new(kind.clone())
                    .on(Endpoint::UsersDelta)
                    .at_page(page)
                    .times(*times),
            );
            w.server.reset_requests();
            let faulted = w.cycle().await;
            w.emulator.faults().clear();
            let stats = faulted.as_ref().map(|r| r.read.users_round.stats);
            let fired = match shows {
                Shows::Retried => stats.is_ok_and(|s| s.requests > s.pages),
                Shows::Resynced => stats.is_ok_and(|s| s.resyncs > 0),
                Shows::Failed => faulted.is_err(),
                Shows::Unseen => true,
            };
            assert!(fired, "{scenario}: the fault did not show: {stats:?}");
            w.no_deprovision_without_evidence(&scenario).await;
            let cycles = w.converge(&scenario).await;
            table.push((scenario, outcome(&faulted), cycles));
        }
    }
    let target_faults = [
        ("500 before the write", TargetFault::Status(500), false),
        ("500 after the write", TargetFault::Status(500), true),
        ("503", TargetFault::Status(503), false),
        ("429", TargetFault::Status(429), false),
        (
            "a stall before the write",
            TargetFault::Stall(Duration::from_millis(1500)),
            false,
        ),
        (
            "a stall after the write",
            TargetFault::Stall(Duration::from_millis(1500)),
            true,
        ),
        (
            "409 to a create it did not do",
            TargetFault::ConflictOnCreate,
            false,
        ),
        (
            "409 to a create it did",
            TargetFault::ConflictOnCreate,
            true,
        ),
    ];
    for (name, fault, after_forwarding) in target_faults {
        round += 1;
        // A cycle creates one joiner: a conflict hits every create, the rest one request in 3.
        let one_in = if fault == TargetFault::ConflictOnCreate {
            1
        } else {
            3
        };
        let scenario = format!("target {name}, one request in {one_in}");
        w.emulator.mutate(|t| change(t, round));
        w.server.set_faults(Some(FaultPlan {
            fault,
            one_in,
            after_forwarding,
        }));
        w.server.reset_requests();
        let faulted = w.cycle().await;
        let fired = w.server.faults_fired();
        w.server.set_faults(None);
        assert!(fired > 0, "{scenario}: the fault never fired");
        w.no_deprovision_without_evidence(&scenario).await;
        let cycles = w.converge(&scenario).await;
        table.push((scenario, outcome(&faulted), cycles));
    }
    println!(
        "{:<55} {:<28} clean cycles to converge",
        "scenario", "the faulted cycle"
    );
    for (scenario, outcome, cycles) in &table {
        println!("{scenario:<55} {outcome:<28} {cycles}");
    }
    println!("{} scenarios, all converged", table.len());
    assert_eq!(table.len(), graph_faults.len() * 3 + target_faults.len());
}

fn outcome(result: &Result<engine::CycleReport, engine::CycleError>) -> String {
    match result {
        Ok(report) if report.failures.is_empty() => "ran".to_owned(),
        Ok(report) => format!("ran, {} users failed", report.failures.len()),
        Err(_) => "could not run (exit 1)".to_owned(),
    }
}
