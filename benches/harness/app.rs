//! The app-role scenario (`BENCH_APP_SCALE` users, default 10,000; `0` skips it): scope and
//! permissions from an enterprise app's role assignments (`[source] app`, `scope = "assigned"`),
//! half the users assigned directly and 50 groups assigned. Graph has no delta query for
//! assignments, so every cycle lists them whole: this measures what that costs a quiet cycle,
//! and a cycle after 100 changes plus 20 assignments given or taken back — in-process, medians.

use std::time::{Duration, Instant};

use entrasync::config::Config;
use entrasync::engine::{self, Options};
use entrasync::snapshot::Snapshot;
use entrasync::source::Graph;
use entrasync::target::AnyTarget;

use super::child::{APP_ID, ChildProcess, ROLE_VALUES};
use super::report::median;

#[derive(Default)]
struct Cycle {
    wall: Duration,
    graph_requests: u64,
    writes: u64,
    evaluated: usize,
}

pub async fn measure(users: usize, runs: usize) {
    eprintln!("harness: app roles, {users} users, {runs} runs");
    let mut child = ChildProcess::spawn(users, true);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("client-secret"), &child.secret).expect("write the secret");
    std::fs::write(dir.path().join("scim-token"), "bench-token").expect("write the token");
    let mut rows: [Vec<Cycle>; 3] = Default::default();
    let mut listings = Vec::new();
    let mut bare = Vec::new();
    let client = reqwest::Client::new();
    for run in 0..runs {
        child.ask("clear");
        let config = config_for(&child, dir.path(), &format!("app-state-{run}"));
        let graph = Graph::new(&config.source).expect("the client builds");
        let target = AnyTarget::from_config(config.target.as_ref().expect("a target"))
            .expect("the SCIM target builds");
        let snapshot = Snapshot::open(&config.state_dir)
            .expect("a fresh snapshot opens")
            .snapshot;
        for (i, change) in [None, None, Some("change100")].into_iter().enumerate() {
            if let Some(command) = change {
                assert_eq!(child.ask(command), "ok");
            }
            let (_, writes_before) = child.target_counts();
            let clock = Instant::now();
            let report = engine::cycle(
                &graph,
                &snapshot,
                &config,
                Some(&target),
                Options::default(),
            )
            .await
            .expect("the cycle runs");
            rows[i].push(Cycle {
                wall: clock.elapsed(),
                graph_requests: report.read.graph_requests,
                writes: child.target_counts().1 - writes_before,
                evaluated: report.evaluated,
            });
            if i == 0 {
                assert!(
                    report.in_scope >= users / 2,
                    "the assigned users are in scope"
                );
            }
        }
        assert_eq!(rows[1][run].writes, 0, "a quiet cycle writes nothing");
        // The listing alone, as the source reads it: what a quiet cycle cannot avoid; and the
        // same pages fetched and parsed by a bare loop (the emulator's own cost is in both).
        let clock = Instant::now();
        let app = graph
            .configured_app()
            .await
            .expect("the app lists")
            .expect("an app");
        listings.push(clock.elapsed().as_secs_f64() * 1000.0);
        let bearer = super::token(&client, &child).await;
        let url = format!(
            "{}/v1.0/servicePrincipals/{}/appRoleAssignedTo?$select=principalId,principalType,appRoleId&$top=999",
            child.base_url, app.service_principal_id
        );
        let clock = Instant::now();
        super::peers::pages(&client, &bearer, url, &mut 0).await;
        bare.push(clock.elapsed().as_secs_f64() * 1000.0);
        drop(snapshot);
        std::fs::remove_dir_all(&config.state_dir).ok();
    }
    println!(
        "\n### App roles: {users} users, {} assigned directly, 50 groups assigned — medians of {runs} runs\n",
        users.div_ceil(2)
    );
    println!("| cycle | wall | Graph requests | target writes | users evaluated |");
    println!("|---|---:|---:|---:|---:|");
    let names = [
        "first cycle (in-process)",
        "no change",
        "100 changes and 20 assignments",
    ];
    for (name, cycles) in names.iter().zip(&rows) {
        let ms = median(
            cycles
                .iter()
                .map(|c| c.wall.as_secs_f64() * 1000.0)
                .collect(),
        );
        let requests = median(cycles.iter().map(|c| c.graph_requests).collect());
        let writes = median(cycles.iter().map(|c| c.writes).collect());
        let evaluated = median(cycles.iter().map(|c| c.evaluated as u64).collect());
        println!("| {name} | {ms:.0} ms | {requests} | {writes} | {evaluated} |");
    }
    println!(
        "\nThe app's roles and assignments listed alone: {:.0} ms; the same assignment pages fetched and parsed by a bare loop: {:.0} ms.",
        median(listings),
        median(bare)
    );
}

fn config_for(child: &ChildProcess, dir: &std::path::Path, state: &str) -> Config {
    let permissions: String = ROLE_VALUES
        .iter()
        .enumerate()
        .map(|(i, value)| {
            format!(
                "[[permission_groups]]\nname = \"{value}\"\napp_roles = [\"{value}\"]\npriority = {}\n\n",
                i + 1
            )
        })
        .collect();
    let source = format!("app = {{ client_id = {APP_ID:?} }}\nscope = \"assigned\"");
    child.config(dir, "entrasync-app.toml", state, &permissions, &source)
}
