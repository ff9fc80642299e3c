//! The performance harness (`cargo bench --bench harness`), for BENCHMARKS.md.
//!
//! For each scale (`BENCH_SCALES`, default `10000,100000` users; 1,000 groups, two memberships
//! per user) a synthetic tenant is served by the emulator in a child process — this binary,
//! re-executed — beside a fast local SCIM target (`harness/fast_scim.rs`), so the memory and CPU
//! measured here are entrasync's alone. Each run (`BENCH_RUNS`, default 3) measures over real
//! HTTP on loopback:
//! - the floor: the same Graph pages as a first cycle fetched and parsed by a bare loop, and the
//!   same number of target requests sent by a bare client;
//! - a first cycle end to end (Graph → snapshot → rules → plan → SCIM), run by the binary
//!   (`entrasync once`) in a process of its own: wall and CPU time and peak resident memory as
//!   the kernel accounts them to that process, Graph and target requests;
//! - a cycle with no change (no target write, only the delta requests) and one after 100
//!   changes;
//! - the peers' approach: the whole directory listed and compared, as a full-listing tool does
//!   every cycle, against our 100-change cycle;
//! - SCIM apply throughput at `max_concurrency` 1, 8 and 32 against the fast target;
//! - the app-role scenario (`harness/app.rs`): the cost of listing an app's assignments whole.
//!
//! It prints Markdown tables of medians.

#[path = "harness/app.rs"]
mod app;
#[path = "harness/child.rs"]
mod child;
#[path = "harness/fast_scim.rs"]
mod fast_scim;
#[path = "harness/peers.rs"]
mod peers;
#[path = "harness/report.rs"]
mod report;
#[path = "../tests/common/scim_server.rs"]
mod scim_server;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use child::{CHILD_ENV, ChildProcess, serve_child};
use entrasync::config::{Config, TargetKind};
use entrasync::emulator::synthetic_group_id;
use entrasync::engine::{self, Options};
use entrasync::plan::{Change, Operation};
use entrasync::snapshot::Snapshot;
use entrasync::source::{GROUP_SELECT, Graph, MAX_IDS_PER_QUERY, USER_SELECT};
use entrasync::target::scim::ScimTarget;
use entrasync::target::{AnyTarget, Target};
use futures_util::StreamExt;
use report::{median, run_measured};

const GROUPS: usize = 1_000;
/// Creates applied straight to the fast target per `max_concurrency` measured.
const THROUGHPUT_CHANGES: usize = 2_000;
/// The same against scim2-server, a real (and much slower) SCIM server.
const SCIM2_CHANGES: usize = 300;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument, if any, is ignored.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime starts for the benchmark");
    if std::env::var_os(CHILD_ENV).is_some() {
        let app = std::env::var_os("BENCH_APP").is_some();
        runtime.block_on(serve_child(env_usize("BENCH_USERS", 10_000), app));
        return;
    }
    let scales: Vec<usize> = std::env::var("BENCH_SCALES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs = env_usize("BENCH_RUNS", 3).max(1);
    let mut summaries = Vec::new();
    for users in scales {
        summaries.push(runtime.block_on(measure(users, runs)));
    }
    print_scaling(&summaries);
    let app_users = env_usize("BENCH_APP_SCALE", 10_000);
    if app_users > 0 {
        runtime.block_on(app::measure(app_users, runs));
    }
    runtime.block_on(scim2_throughput());
}

/// SCIM apply throughput against scim2-server (from PyPI, behind the tests' counting proxy).
async fn scim2_throughput() {
    let mut rates = Vec::new();
    for concurrency in [1, 8, 32] {
        // A fresh server each time: its lookups slow down as it fills.
        let server = scim_server::start().await;
        let rate =
            apply_throughput(&server.base_url, &server.token, concurrency, SCIM2_CHANGES).await;
        rates.push(format!("{rate:.0}/s at {concurrency}"));
    }
    println!(
        "\nSCIM apply throughput against scim2-server ({SCIM2_CHANGES} creates): {}",
        rates.join(", ")
    );
}

/// One run's figures.
#[derive(Default, Clone, Copy)]
struct Sample {
    floor_graph: Duration,
    floor_graph_requests: u64,
    floor_target: Duration,
    first: Duration,
    first_cpu: Duration,
    first_peak_mb: f64,
    /// The first cycle's stages, as its own report times them: fetching Graph, committing it.
    first_fetch: Duration,
    first_commit: Duration,
    first_graph_requests: u64,
    first_target_requests: u64,
    quiet: Duration,
    quiet_graph_requests: u64,
    quiet_target_writes: u64,
    changed: Duration,
    changed_graph_requests: u64,
    changed_target_writes: u64,
    peers: Duration,
    peers_requests: u64,
}

/// What a scale's runs gave, for the tables.
struct Summary {
    users: usize,
    samples: Vec<Sample>,
    throughput: BTreeMap<usize, f64>,
}

impl Summary {
    /// The median of one duration over the runs, in milliseconds.
    fn ms(&self, f: fn(&Sample) -> Duration) -> f64 {
        median(
            self.samples
                .iter()
                .map(|s| f(s).as_secs_f64() * 1000.0)
                .collect(),
        )
    }
}

async fn measure(users: usize, runs: usize) -> Summary {
    eprintln!(
        "harness: {users} users, {GROUPS} groups, {} memberships, {runs} runs",
        users * 2
    );
    let mut child = ChildProcess::spawn(users, false);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("client-secret"), &child.secret).expect("write the secret");
    std::fs::write(dir.path().join("scim-token"), "bench-token").expect("write the token");
    let groups: Vec<String> = (0..GROUPS).map(synthetic_group_id).collect();
    let client = reqwest::Client::new();
    let mut samples = Vec::new();
    for run in 0..runs {
        child.ask("clear");
        let config = config_for(&child, dir.path(), &format!("state-{run}"), &groups);
        let graph = Graph::new(&config.source).expect("the client builds");
        let target = AnyTarget::from_config(config.target.as_ref().expect("a target"))
            .expect("the SCIM target builds");
        let bearer = token(&client, &child).await;
        let mut s = Sample::default();

        let clock = Instant::now();
        s.floor_graph_requests = floor_graph(&client, &child, &bearer, &groups).await;
        s.floor_graph = clock.elapsed();

        // The first cycle is the binary itself (`entrasync once`) in a process of its own, so
        // its CPU time and peak memory are the kernel's account of it alone.
        let (requests_before, _) = child.target_counts();
        let cost = run_measured(
            Command::new(env!("CARGO_BIN_EXE_entrasync"))
                .arg("--config")
                .arg(dir.path().join("entrasync.toml"))
                .arg("once")
                .env_remove("ENTRASYNC_CONFIG")
                .env("ENTRASYNC_ALLOW_ROOT", "true")
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        assert!(cost.success, "the first cycle applies everything");
        s.first = cost.wall;
        s.first_cpu = cost.cpu;
        s.first_peak_mb = cost.peak_mb;
        s.first_target_requests = child.target_counts().0 - requests_before;
        let snapshot = Snapshot::open(&config.state_dir)
            .expect("the snapshot opens after the first cycle")
            .snapshot;
        let first = snapshot.cycles(1).expect("the cycle is recorded");
        s.first_graph_requests = first[0]["graph_requests"].as_u64().unwrap_or_default();
        let millis = |key: &str| Duration::from_millis(first[0][key].as_u64().unwrap_or_default());
        s.first_fetch = millis("fetch_duration");
        s.first_commit = millis("commit_duration");
        let cycle = || {
            engine::cycle(
                &graph,
                &snapshot,
                &config,
                Some(&target),
                Options::default(),
            )
        };

        let clock = Instant::now();
        floor_target(&client, &child.scim_url, s.first_target_requests).await;
        s.floor_target = clock.elapsed();

        let (_, writes_before) = child.target_counts();
        let clock = Instant::now();
        let quiet = cycle().await.expect("a quiet cycle");
        s.quiet = clock.elapsed();
        s.quiet_graph_requests = quiet.read.graph_requests;
        s.quiet_target_writes = child.target_counts().1 - writes_before;
        assert_eq!(
            s.quiet_target_writes, 0,
            "a cycle without change writes nothing"
        );

        let (baseline, _) = peers::list(&client, &child.base_url, &bearer, USER_SELECT).await;
        assert_eq!(child.ask("change100"), "ok");
        let (_, writes_before) = child.target_counts();
        let clock = Instant::now();
        let changed = cycle().await.expect("a cycle after 100 changes");
        s.changed = clock.elapsed();
        s.changed_graph_requests = changed.read.graph_requests;
        s.changed_target_writes = child.target_counts().1 - writes_before;

        let clock = Instant::now();
        let (after, requests) = peers::list(&client, &child.base_url, &bearer, USER_SELECT).await;
        let differences = peers::compare(&baseline, &after);
        s.peers = clock.elapsed();
        s.peers_requests = requests;
        eprintln!(
            "run {}: floor {:?} + {:?}; first {:?} (cpu {:?}, {:.0} MB); quiet {:?} ({} evaluated); 100 changes {:?} ({} evaluated); peers {:?} ({differences} differences)",
            run + 1,
            s.floor_graph,
            s.floor_target,
            s.first,
            s.first_cpu,
            s.first_peak_mb,
            s.quiet,
            quiet.evaluated,
            s.changed,
            changed.evaluated,
            s.peers
        );
        samples.push(s);
        drop(snapshot);
        std::fs::remove_dir_all(&config.state_dir).ok();
    }
    let mut throughput = BTreeMap::new();
    for concurrency in [1, 8, 32] {
        child.ask("clear");
        throughput.insert(
            concurrency,
            apply_throughput(
                &child.scim_url,
                "bench-token",
                concurrency,
                THROUGHPUT_CHANGES,
            )
            .await,
        );
    }
    let summary = Summary {
        users,
        samples,
        throughput,
    };
    print_scale(&summary);
    summary
}

fn config_for(
    child: &ChildProcess,
    dir: &std::path::Path,
    state: &str,
    groups: &[String],
) -> Config {
    child.config(
        dir,
        "entrasync.toml",
        state,
        "",
        &format!("groups = {groups:?}"),
    )
}

async fn token(client: &reqwest::Client, child: &ChildProcess) -> String {
    let token: serde_json::Value = client
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            child.base_url, child.tenant_id
        ))
        .form(&[
            ("client_id", child.client_id.as_str()),
            ("client_secret", child.secret.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", &format!("{}/.default", child.base_url)),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    token["access_token"].as_str().expect("a token").to_owned()
}

/// The same pages as a first cycle, fetched and parsed by a bare loop; the number of requests.
async fn floor_graph(
    client: &reqwest::Client,
    child: &ChildProcess,
    bearer: &str,
    groups: &[String],
) -> u64 {
    let users = format!("{}/v1.0/users/delta?$select={USER_SELECT}", child.base_url);
    let groups_loop = async {
        let mut requests = 0;
        for chunk in groups.chunks(MAX_IDS_PER_QUERY) {
            let filter = chunk
                .iter()
                .map(|id| format!("id eq '{id}'"))
                .collect::<Vec<_>>()
                .join(" or ");
            let mut url = reqwest::Url::parse(&format!("{}/v1.0/groups/delta", child.base_url))
                .expect("a URL");
            url.query_pairs_mut()
                .append_pair("$filter", &filter)
                .append_pair("$select", GROUP_SELECT);
            requests += follow(client, bearer, url.to_string()).await;
        }
        requests
    };
    let (u, g) = tokio::join!(follow(client, bearer, users), groups_loop);
    u + g
}

/// Follows a round from `url` to its delta link, parsing every page; the number of pages.
async fn follow(client: &reqwest::Client, bearer: &str, url: String) -> u64 {
    let mut requests = 0;
    peers::pages(client, bearer, url, &mut requests).await;
    requests
}

/// `requests` POSTs of a small user by a bare client, eight at a time (the default
/// `max_concurrency`): the floor of talking to the target.
async fn floor_target(client: &reqwest::Client, scim_url: &str, requests: u64) {
    futures_util::stream::iter((0..requests).map(|i| {
        let body = serde_json::json!({"userName": format!("floor{i}@bench"), "externalId": format!("floor-{i}"), "active": true});
        async move {
            client
                .post(format!("{scim_url}/Users"))
                .bearer_auth("bench-token")
                .json(&body)
                .send()
                .await
                .expect("the fast target answers")
                .bytes()
                .await
                .expect("a body");
        }
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
}

/// Creates per second the SCIM adapter applies to the target at `scim_url` at `concurrency`.
async fn apply_throughput(scim_url: &str, token: &str, concurrency: usize, count: usize) -> f64 {
    let text = format!(
        "[source]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\n\n[target]\nkind = \"scim\"\nurl = {scim_url:?}\ntoken = {token:?}\nmax_concurrency = {concurrency}\n"
    );
    let config =
        entrasync::config::parse(&text, std::path::Path::new("/tmp/bench.toml")).expect("valid");
    let TargetKind::Scim(scim) = &config.target.as_ref().expect("a target").kind else {
        unreachable!("the text names a SCIM target");
    };
    let target = ScimTarget::new(scim, false).expect("builds");
    let changes: Vec<Change> = (0..count)
        .map(|i| {
            let user_name = format!("throughput{concurrency}-{i}@bench");
            Change {
                id: format!("id-{concurrency}-{i}"),
                user_name: user_name.clone(),
                target_id: None,
                operation: Operation::Create {
                    attributes: [
                        ("userName".to_owned(), user_name),
                        ("externalId".to_owned(), format!("id-{concurrency}-{i}")),
                        ("displayName".to_owned(), format!("User {i}")),
                    ]
                    .into(),
                    permissions: Vec::new(),
                    department: None,
                },
            }
        })
        .collect();
    let clock = Instant::now();
    let results = target.apply(&changes).await;
    let elapsed = clock.elapsed();
    assert!(
        results.iter().all(|r| r.succeeded()),
        "every create applied"
    );
    THROUGHPUT_CHANGES as f64 / elapsed.as_secs_f64()
}

fn print_scale(summary: &Summary) {
    let samples = &summary.samples;
    let ms = |f| summary.ms(f);
    let n = |f: fn(&Sample) -> u64| median(samples.iter().map(f).collect());
    let floor = ms(|s| s.floor_graph) + ms(|s| s.floor_target);
    let first = ms(|s| s.first);
    let changed = ms(|s| s.changed);
    let peers = ms(|s| s.peers);
    println!(
        "\n### {} users, {GROUPS} groups, {} memberships — medians of {} runs\n",
        summary.users,
        summary.users * 2,
        samples.len()
    );
    println!("| | wall | CPU | peak RSS | Graph requests | target requests (writes) |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| floor: bare Graph fetch + parse, then bare target requests | {floor:.0} ms ({:.0} + {:.0}) | | | {} | {} |",
        ms(|s| s.floor_graph),
        ms(|s| s.floor_target),
        n(|s| s.floor_graph_requests),
        n(|s| s.first_target_requests)
    );
    println!(
        "| first cycle, Graph → SCIM (`entrasync once`) | {first:.0} ms ({:.2}x floor) | {:.0} ms | {:.0} MB | {} | {} |",
        first / floor,
        ms(|s| s.first_cpu),
        median(samples.iter().map(|s| s.first_peak_mb).collect()),
        n(|s| s.first_graph_requests),
        n(|s| s.first_target_requests)
    );
    println!(
        "| cycle with 100 changes | {changed:.0} ms | | | {} | ({}) |",
        n(|s| s.changed_graph_requests),
        n(|s| s.changed_target_writes)
    );
    println!(
        "| cycle with no change | {:.0} ms | | | {} | ({}) |",
        ms(|s| s.quiet),
        n(|s| s.quiet_graph_requests),
        n(|s| s.quiet_target_writes)
    );
    println!(
        "| peers: list and compare the whole directory | {peers:.0} ms ({:.0}x our 100-change cycle) | | | {} | |",
        peers / changed,
        n(|s| s.peers_requests)
    );
    println!(
        "\nThe first cycle by stage: Graph fetched and parsed in {:.0} ms, committed to the snapshot in {:.0} ms; rules, plan and apply (the target requests) {:.0} ms.",
        ms(|s| s.first_fetch),
        ms(|s| s.first_commit),
        ms(|s| s.first.saturating_sub(s.first_fetch + s.first_commit))
    );
    let rates: Vec<String> = summary
        .throughput
        .iter()
        .map(|(c, rate)| format!("{rate:.0}/s at {c}"))
        .collect();
    println!(
        "\nSCIM apply throughput against the fast target ({THROUGHPUT_CHANGES} creates): {}",
        rates.join(", ")
    );
}

/// Whether cost grows with the changes, not with the tenant: the same cycles side by side.
fn print_scaling(summaries: &[Summary]) {
    if summaries.len() < 2 {
        return;
    }
    println!("\n### Cost with the tenant's size\n");
    println!("| users | first cycle | cycle with 100 changes | cycle with no change |");
    println!("|---:|---:|---:|---:|");
    for summary in summaries {
        println!(
            "| {} | {:.0} ms | {:.0} ms | {:.0} ms |",
            summary.users,
            summary.ms(|s| s.first),
            summary.ms(|s| s.changed),
            summary.ms(|s| s.quiet)
        );
    }
}
