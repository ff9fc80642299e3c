//! The performance harness for the first two stages (`cargo bench --bench graph_rounds`).
//!
//! A synthetic tenant (100,000 users, 1,000 groups, 200,000 memberships by default) is served by
//! the emulator in a child process — this same binary, re-executed — so the memory measured here
//! is entrasync's alone. Each run measures, over real HTTP on loopback:
//! - the floor: fetching and parsing the same pages as a first cycle with a bare loop (token,
//!   `users/delta` and `groups/delta` pages followed to the delta link, parsed, dropped);
//! - a first cycle into a fresh snapshot (`engine::cycle`: fetch, merge, commit, flush), with its
//!   wall time and peak resident memory;
//! - a cycle with no change in Entra; a cycle after 100 changes.
//!
//! It prints one Markdown table of medians over the runs, for README's Performance section.
//! Environment: `BENCH_USERS`, `BENCH_GROUPS`, `BENCH_MEMBERSHIPS`, `BENCH_RUNS` (default 3).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use entrasync::emulator::{Emulator, EmulatorOptions, Tenant, synthetic_group_id};
use entrasync::engine;
use entrasync::snapshot::Snapshot;
use entrasync::source::{GROUP_SELECT, Graph, MAX_IDS_PER_QUERY, USER_SELECT};

const CHILD_ENV: &str = "ENTRASYNC_BENCH_EMULATOR";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Scale {
    users: usize,
    groups: usize,
    memberships: usize,
    runs: usize,
}

impl Scale {
    fn from_env() -> Scale {
        Scale {
            users: env_usize("BENCH_USERS", 100_000),
            groups: env_usize("BENCH_GROUPS", 1_000),
            memberships: env_usize("BENCH_MEMBERSHIPS", 200_000),
            runs: env_usize("BENCH_RUNS", 3).max(1),
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument, if any, is ignored.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime starts for the benchmark");
    if std::env::var_os(CHILD_ENV).is_some() {
        runtime.block_on(serve_child(Scale::from_env()));
    } else {
        runtime.block_on(measure(Scale::from_env()));
    }
}

// ---------------------------------------------------------------------------------------------
// The child: an emulator driven by lines on stdin.

async fn serve_child(scale: Scale) {
    let tenant = Tenant::synthetic(scale.users, scale.groups, scale.memberships, 42);
    let emulator = Emulator::start(tenant, EmulatorOptions::default())
        .await
        .expect("the emulator starts");
    println!(
        "{} {} {} {}",
        emulator.base_url(),
        emulator.tenant_id(),
        emulator.client_id(),
        emulator.client_secret()
    );
    let mut round = 0u64;
    // Commands arrive one at a time; read them on a thread and answer here.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        match line.trim() {
            "change100" => {
                round += 1;
                emulator.mutate(|t| hundred_changes(t, round));
                println!("ok");
            }
            _ => break,
        }
        std::io::stdout().flush().ok();
    }
    emulator.shutdown().await;
}

/// 100 changes as a working day brings them: 60 users edited, 20 joins and 20 leaves of groups.
fn hundred_changes(tenant: &mut Tenant, round: u64) {
    let ids = tenant.user_ids();
    let step = ids.len() / 61;
    for i in 0..60 {
        let id = &ids[(i * step + round as usize) % ids.len()];
        let patch = serde_json::json!({"jobTitle": format!("Title {round}-{i}")});
        tenant.update_user(id, patch);
    }
    for i in 0..20 {
        let group = tenant.group_ids()[i % tenant.group_ids().len()].clone();
        let user = ids[(i * 997 + round as usize * 31) % ids.len()].clone();
        let members = tenant.members(&group);
        if members.contains(&user) {
            tenant.remove_member(&group, &user);
        } else {
            tenant.add_member(&group, &user);
        }
        if let Some(leaver) = members.iter().find(|m| **m != user) {
            tenant.remove_member(&group, leaver);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parent: measures.

struct ChildEmulator {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    base_url: String,
    tenant_id: String,
    client_id: String,
    secret: String,
}

impl ChildEmulator {
    fn spawn() -> ChildEmulator {
        let exe = std::env::current_exe().expect("the benchmark knows its own path");
        let mut child = Command::new(exe)
            .env(CHILD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the emulator child starts");
        let stdin = child.stdin.take().expect("stdin was piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout was piped"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the child says where it listens");
        let parts: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        assert_eq!(parts.len(), 4, "the child's first line: {line:?}");
        ChildEmulator {
            child,
            stdin,
            stdout,
            base_url: parts[0].clone(),
            tenant_id: parts[1].clone(),
            client_id: parts[2].clone(),
            secret: parts[3].clone(),
        }
    }

    fn command(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("the child reads commands");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("the child answers");
        assert_eq!(line.trim(), "ok", "the child's answer to {command}");
    }
}

impl Drop for ChildEmulator {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.wait();
    }
}

#[derive(Default, Clone, Copy)]
struct Sample {
    floor: Duration,
    floor_requests: u64,
    first: Duration,
    first_requests: u64,
    first_peak_mb: f64,
    first_fetch: Duration,
    first_commit: Duration,
    unchanged: Duration,
    unchanged_requests: u64,
    changed: Duration,
    changed_requests: u64,
    changed_users: usize,
    provision_first: Duration,
    provision_created: usize,
    provision_quiet: Duration,
}

async fn measure(scale: Scale) {
    eprintln!(
        "graph_rounds: {} users, {} groups, {} memberships, {} runs; starting the emulator",
        scale.users, scale.groups, scale.memberships, scale.runs
    );
    let mut emulator = ChildEmulator::spawn();
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("client-secret"), &emulator.secret).expect("write the secret");
    let groups: Vec<String> = (0..scale.groups).map(synthetic_group_id).collect();
    let mut samples = Vec::new();
    for run in 0..scale.runs {
        let state = format!("state-{run}");
        let config = config_for(&emulator, dir.path(), &state, &groups);
        let graph = Graph::new(&config.source).expect("the client builds");
        let mut sample = Sample::default();

        let clock = Instant::now();
        sample.floor_requests = floor(&emulator, &groups).await;
        sample.floor = clock.elapsed();

        reset_peak_memory();
        let snapshot = Snapshot::open(&config.state_dir)
            .expect("a fresh snapshot")
            .snapshot;
        let clock = Instant::now();
        let first = engine::read(&graph, &snapshot).await.expect("first cycle");
        sample.first = clock.elapsed();
        sample.first_peak_mb = peak_memory_mb();
        sample.first_requests = first.graph_requests;
        sample.first_fetch = first.fetch_duration;
        sample.first_commit = first.commit_duration;
        assert_eq!(
            first.snapshot.users, scale.users,
            "the first cycle read everyone"
        );

        let clock = Instant::now();
        let unchanged = engine::read(&graph, &snapshot).await.expect("cycle");
        sample.unchanged = clock.elapsed();
        sample.unchanged_requests = unchanged.graph_requests;

        emulator.command("change100");
        let clock = Instant::now();
        let changed = engine::read(&graph, &snapshot).await.expect("cycle");
        sample.changed = clock.elapsed();
        sample.changed_requests = changed.graph_requests;
        sample.changed_users = changed.users_round.changed;
        eprintln!(
            "run {}: floor {:?}, first {:?} (fetch {:?}, commit {:?}; {:.0} MB), unchanged {:?}, 100 changes {:?}",
            run + 1,
            sample.floor,
            sample.first,
            sample.first_fetch,
            sample.first_commit,
            sample.first_peak_mb,
            sample.unchanged,
            sample.changed
        );

        // The whole cycle into a file target: rules, plan, apply, record.
        let text = format!(
            "{}\n[target]\nkind = \"file\"\npath = \"users-{run}.json\"\n",
            config_text(&emulator, &state, &groups)
        );
        let full = entrasync::config::parse(&text, &dir.path().join("entrasync.toml"))
            .expect("the bench config is valid");
        let target =
            entrasync::target::AnyTarget::from_config(full.target.as_ref().expect("a target"))
                .expect("the file target");
        let options = engine::Options::default();
        let clock = Instant::now();
        let first = engine::cycle(&graph, &snapshot, &full, Some(&target), options)
            .await
            .expect("the first full cycle");
        sample.provision_first = clock.elapsed();
        sample.provision_created = first.plan.creates;
        let clock = Instant::now();
        let quiet = engine::cycle(&graph, &snapshot, &full, Some(&target), options)
            .await
            .expect("a quiet full cycle");
        sample.provision_quiet = clock.elapsed();
        assert_eq!(quiet.applied, 0, "a quiet cycle applies nothing");
        eprintln!(
            "run {}: full cycle into a file {:?} ({} creates), quiet full cycle {:?}",
            run + 1,
            sample.provision_first,
            sample.provision_created,
            sample.provision_quiet
        );
        samples.push(sample);
        drop(snapshot);
        std::fs::remove_dir_all(&config.state_dir).ok();
    }
    print_table(&scale, &samples);
}

fn config_for(
    emulator: &ChildEmulator,
    dir: &std::path::Path,
    state: &str,
    groups: &[String],
) -> entrasync::config::Config {
    let text = config_text(emulator, state, groups);
    entrasync::config::parse(&text, &dir.join("entrasync.toml")).expect("the bench config is valid")
}

fn config_text(emulator: &ChildEmulator, state: &str, groups: &[String]) -> String {
    format!(
        "state_dir = {state:?}\n[source]\ntenant_id = {:?}\nclient_id = {:?}\n\
         client_secret_file = \"client-secret\"\nauthority_url = {url:?}\ngraph_url = {url:?}\n\
         groups = {groups:?}\n",
        emulator.tenant_id,
        emulator.client_id,
        url = emulator.base_url,
    )
}

/// The same pages as a first cycle, fetched and parsed by a bare loop: the cost of HTTP and JSON
/// alone. Returns the number of Graph requests.
async fn floor(emulator: &ChildEmulator, groups: &[String]) -> u64 {
    let client = reqwest::Client::new();
    let token: serde_json::Value = client
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            emulator.base_url, emulator.tenant_id
        ))
        .form(&[
            ("client_id", emulator.client_id.as_str()),
            ("client_secret", emulator.secret.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", &format!("{}/.default", emulator.base_url)),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    let bearer = token["access_token"].as_str().expect("a token").to_owned();
    let users = format!(
        "{}/v1.0/users/delta?$select={USER_SELECT}",
        emulator.base_url
    );
    let groups_loop = async {
        let mut requests = 0;
        for chunk in groups.chunks(MAX_IDS_PER_QUERY) {
            let filter = chunk
                .iter()
                .map(|id| format!("id eq '{id}'"))
                .collect::<Vec<_>>()
                .join(" or ");
            let mut url = reqwest::Url::parse(&format!("{}/v1.0/groups/delta", emulator.base_url))
                .expect("a URL");
            url.query_pairs_mut()
                .append_pair("$filter", &filter)
                .append_pair("$select", GROUP_SELECT);
            requests += follow(&client, &bearer, url.to_string()).await;
        }
        requests
    };
    let (u, g) = tokio::join!(follow(&client, &bearer, users), groups_loop);
    u + g
}

/// Follows `@odata.nextLink` from `url` to the delta link, parsing every page; returns the pages.
async fn follow(client: &reqwest::Client, bearer: &str, mut url: String) -> u64 {
    let mut pages = 0;
    loop {
        let page: serde_json::Value = client
            .get(&url)
            .bearer_auth(bearer)
            .send()
            .await
            .expect("a page")
            .json()
            .await
            .expect("page JSON");
        pages += 1;
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return pages,
        }
    }
}

/// Resets the kernel's peak-RSS mark of this process (Linux: `echo 5 > /proc/self/clear_refs`).
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak resident memory of this process since the last reset, in MB (VmHWM).
fn peak_memory_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn median<T: Copy + PartialOrd>(mut values: Vec<T>) -> T {
    values.sort_by(|a, b| a.partial_cmp(b).expect("no NaN among the samples"));
    values[values.len() / 2]
}

fn print_table(scale: &Scale, samples: &[Sample]) {
    let ms = |f: fn(&Sample) -> Duration| {
        median(
            samples
                .iter()
                .map(|s| f(s).as_secs_f64() * 1000.0)
                .collect(),
        )
    };
    let n = |f: fn(&Sample) -> u64| median(samples.iter().map(f).collect());
    let floor = ms(|s| s.floor);
    let first = ms(|s| s.first);
    println!(
        "\nMedians of {} runs; {} users, {} groups, {} memberships (`cargo bench --bench graph_rounds`):\n",
        samples.len(),
        scale.users,
        scale.groups,
        scale.memberships
    );
    println!("| round | wall time | Graph requests | peak memory |");
    println!("|---|---:|---:|---:|");
    println!(
        "| floor: bare fetch + parse of a first round's pages | {floor:.0} ms | {} | |",
        n(|s| s.floor_requests)
    );
    println!(
        "| first cycle (full rounds, merge, commit, flush) | {first:.0} ms ({:.2}x floor) | {} | {:.0} MB |",
        first / floor,
        n(|s| s.first_requests),
        median(samples.iter().map(|s| s.first_peak_mb).collect())
    );
    println!(
        "| cycle with 100 changes | {:.0} ms | {} | |",
        ms(|s| s.changed),
        n(|s| s.changed_requests)
    );
    println!(
        "| cycle with no change | {:.0} ms | {} | |",
        ms(|s| s.unchanged),
        n(|s| s.unchanged_requests)
    );
    println!(
        "| whole cycle into a file, first ({} creates: rules, plan, apply, record) | {:.0} ms | | |",
        median(samples.iter().map(|s| s.provision_created).collect()),
        ms(|s| s.provision_first)
    );
    println!(
        "| whole cycle, no change (rules and plan over the whole state) | {:.0} ms | | |",
        ms(|s| s.provision_quiet)
    );
    let users: Vec<usize> = samples.iter().map(|s| s.changed_users).collect();
    println!("\n(100 changes: 60 user edits and 40 membership changes; users read: {users:?})");
}
