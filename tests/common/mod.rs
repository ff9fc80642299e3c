//! Shared by the integration tests: an emulator on a free port, a config pointing at it (written
//! to a temporary directory and loaded through `config::load`, as the binary does), the Graph
//! client and a fresh snapshot, plus views of the tenant to compare the snapshot against.
#![allow(dead_code)] // each test file uses its own subset

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use entrasync::config::{self, Config};
use entrasync::emulator::{Emulator, EmulatorOptions, Tenant};
use entrasync::engine::{self, CycleError, ReadReport};
use entrasync::snapshot::Snapshot;
use entrasync::source::{Graph, RetryPolicy, User};

/// The scoped groups of the sample tenant the tests use.
pub const DEMO_GROUPS: [&str; 4] = entrasync::demo::DEMO_GROUPS;

/// Retries short enough for tests, still exercising every path.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(1),
        max_total_wait: Duration::from_secs(3),
        max_attempts: 3,
    }
}

pub struct Harness {
    pub emulator: Emulator,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub config: Config,
    pub graph: Graph,
    pub snapshot: Snapshot,
}

impl Harness {
    /// The sample tenant, default page sizes, the four demo groups, direct members.
    pub async fn demo() -> Harness {
        Harness::start(
            demo_tenant(),
            EmulatorOptions::default(),
            &DEMO_GROUPS,
            "direct",
        )
        .await
    }

    pub async fn start(
        tenant: Tenant,
        options: EmulatorOptions,
        groups: &[&str],
        members: &str,
    ) -> Harness {
        let emulator = Emulator::start(tenant, options)
            .await
            .expect("the emulator starts on a free port");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config_path = write_config(&dir, &emulator, groups, members, &emulator.client_secret());
        let config = config::load(&config_path).expect("the test config is valid");
        let graph = Graph::new(&config.source)
            .expect("the HTTP client builds")
            .with_retry_policy(fast_retries());
        let snapshot = Snapshot::open(&config.state_dir)
            .expect("a fresh snapshot opens")
            .snapshot;
        Harness {
            emulator,
            dir,
            config_path,
            config,
            graph,
            snapshot,
        }
    }

    /// One whole cycle (read, rules, plan, apply) with `config` into `target`; panics if it
    /// cannot run.
    pub async fn provision(
        &self,
        config: &Config,
        target: &entrasync::target::AnyTarget,
    ) -> engine::CycleReport {
        engine::cycle(
            &self.graph,
            &self.snapshot,
            config,
            Some(target),
            engine::Options::default(),
        )
        .await
        .expect("the cycle runs")
    }

    pub async fn cycle(&self) -> Result<ReadReport, CycleError> {
        engine::read(&self.graph, &self.snapshot).await
    }

    /// The ids of the configured groups in the emulator's tenant.
    pub fn scoped_ids(&self, groups: &[&str]) -> Vec<String> {
        self.emulator.mutate(|t| {
            groups
                .iter()
                .map(|g| t.group_id_by_name(g).unwrap_or_else(|| (*g).to_owned()))
                .collect()
        })
    }

    /// Asserts that the snapshot holds exactly the tenant's users and the scoped groups' members.
    pub fn assert_matches_tenant(&self, scoped: &[String]) {
        assert_snapshot_matches(&self.snapshot, &self.emulator, scoped);
    }
}

/// Asserts that `snapshot` holds exactly the tenant's users and the scoped groups' members.
pub fn assert_snapshot_matches(snapshot: &Snapshot, emulator: &Emulator, scoped: &[String]) {
    let state = snapshot.source_state().expect("the snapshot reads");
    let (users, groups) = emulator.mutate(|t| (users_view(t), groups_view(t, scoped)));
    assert_eq!(state.users.len(), users.len(), "number of users");
    assert!(
        state.users == users,
        "the snapshot's users differ from the tenant's"
    );
    let snapshot_groups: BTreeMap<String, GroupView> = scoped
        .iter()
        .filter(|id| state.groups.contains_key(*id))
        .map(|id| {
            let name = state.groups[id].display_name.clone();
            let members = snapshot
                .members(id)
                .expect("members read")
                .into_iter()
                .map(|m| m.id)
                .collect();
            (id.clone(), GroupView { name, members })
        })
        .collect();
    assert_eq!(snapshot_groups, groups, "scoped groups and their members");
}

/// The sample tenant as `demo` uses it.
pub fn demo_tenant() -> Tenant {
    Tenant::from_json(entrasync::emulator::DEMO_TENANT_JSON).expect("the demo tenant parses")
}

/// Writes a config for `emulator` into `dir` with `secret` in a secret file; returns its path.
pub fn write_config(
    dir: &tempfile::TempDir,
    emulator: &Emulator,
    groups: &[&str],
    members: &str,
    secret: &str,
) -> PathBuf {
    std::fs::write(dir.path().join("client-secret"), secret).expect("write the secret");
    let groups = groups
        .iter()
        .map(|g| format!("{g:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "state_dir = \"state\"\n[source]\ntenant_id = {tenant:?}\nclient_id = {client:?}\n\
         client_secret_file = \"client-secret\"\nauthority_url = {url:?}\ngraph_url = {url:?}\n\
         groups = [{groups}]\nmembers = {members:?}\nmax_retry_wait = \"3s\"\n",
        tenant = emulator.tenant_id(),
        client = emulator.client_id(),
        url = emulator.base_url(),
    );
    let path = dir.path().join("entrasync.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

/// Every live user of the tenant as the source model sees it (only the selected properties).
pub fn users_view(tenant: &Tenant) -> BTreeMap<String, User> {
    tenant
        .user_ids()
        .into_iter()
        .filter_map(|id| {
            let value = tenant.user(&id)?;
            let user: User = serde_json::from_value(value).expect("a tenant user reads as a User");
            Some((id, user))
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub name: Option<String>,
    pub members: BTreeSet<String>,
}

/// The scoped groups that exist in the tenant, with their direct members.
pub fn groups_view(tenant: &Tenant, scoped: &[String]) -> BTreeMap<String, GroupView> {
    scoped
        .iter()
        .filter_map(|id| {
            let group = tenant.group(id)?;
            let name = group["displayName"].as_str().map(str::to_owned);
            let members = tenant.members(id).into_iter().collect();
            Some((id.clone(), GroupView { name, members }))
        })
        .collect()
}

/// How many entries differ between two maps (changed or added), and how many were removed.
pub fn changed_and_removed<V: PartialEq>(
    before: &BTreeMap<String, V>,
    after: &BTreeMap<String, V>,
) -> (usize, usize) {
    let changed = after
        .iter()
        .filter(|(id, v)| before.get(*id) != Some(*v))
        .count();
    let removed = before.keys().filter(|id| !after.contains_key(*id)).count();
    (changed, removed)
}

/// Runs the binary with `--config config` and `args`, off the async runtime's threads so an
/// emulator in the same test keeps serving.
pub async fn entrasync(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_entrasync"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("ENTRASYNC_CONFIG")
        // The tests run as root on CI machines; the refusal itself has its own test.
        .env("ENTRASYNC_ALLOW_ROOT", "true");
    tokio::task::spawn_blocking(move || command.output().expect("run entrasync"))
        .await
        .expect("the blocking task finishes")
}

/// An `http://127.0.0.1:PORT` URL where nothing listens: a port the system handed out, then
/// freed, so a connection is refused at once.
pub fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("a local address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Asserts the exit status of a run, showing both streams when it differs.
pub fn assert_exit(out: &std::process::Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Standard output as one JSON document; panics with both streams when it is not.
pub fn stdout_json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "standard output is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Rules for the CLI tests over the sample tenant: two permission groups ("Stratsys Reporters"
/// stays unmapped, so its three members only there are rule errors), departments that leave
/// Customer Success, Engineering, Human Resources and Legal unmapped (they fall back to
/// "Unassigned"), a threshold of two deprovisions, and a file target `users.json`. 28 users are
/// in scope.
pub const CLI_RULES: &str = r#"
[[permission_groups]]
name = "Full User"
aliases = ["Stratsys Full Users", "Strategy Team"]
priority = 1
fallback_department = "Unassigned"

[[permission_groups]]
name = "Reader"
aliases = ["Stratsys Readers"]
priority = 2
fallback_department = "Unassigned"

[[departments]]
name = "Sales"
aliases = ["Sales EMEA", "Sales NA"]

[[departments]]
name = "Finance"

[[departments]]
name = "Strategy"

[[departments]]
name = "Unassigned"

[deprovision]
max_deprovisions = 2

[target]
kind = "file"
path = "users.json"
"#;

/// The sample tenant in an emulator and a config for it with [`CLI_RULES`] appended after
/// `[source]`; returns the emulator, the folder (the file target is `users.json` in it) and
/// the config's path.
pub async fn cli_setup() -> (Emulator, tempfile::TempDir, PathBuf) {
    demo_setup(CLI_RULES).await
}

/// The sample tenant in an emulator and a config for it (the demo groups, direct members, the
/// right secret) with `rules` appended after `[source]`; returns the emulator, the folder and
/// the config's path.
pub async fn demo_setup(rules: &str) -> (Emulator, tempfile::TempDir, PathBuf) {
    let emulator = Emulator::start(demo_tenant(), EmulatorOptions::default())
        .await
        .expect("the emulator starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = write_config(
        &dir,
        &emulator,
        &DEMO_GROUPS,
        "direct",
        &emulator.client_secret(),
    );
    let mut text = std::fs::read_to_string(&config).expect("the config reads");
    text.push_str(rules);
    std::fs::write(&config, text).expect("the config writes");
    (emulator, dir, config)
}

/// Runs the binary like [`entrasync`] and asserts that it exits 0.
pub async fn entrasync_ok(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = entrasync(config, args).await;
    assert_exit(&out, 0, &format!("{args:?}"));
    out
}

/// Sets a user's department in the emulator's tenant, as an admin would.
pub fn set_department(emulator: &Emulator, upn: &str, department: &str) {
    emulator.mutate(|t| {
        let id = t.user_id_by_upn(upn).expect("the user is in the tenant");
        t.update_user(&id, serde_json::json!({ "department": department }));
    });
}

/// The users of the file target `dir/users.json`, by userName.
pub fn file_users(dir: &std::path::Path) -> BTreeMap<String, serde_json::Value> {
    let bytes = std::fs::read(dir.join("users.json")).expect("the file target is written");
    let document: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    document["Resources"]
        .as_array()
        .expect("a ListResponse")
        .iter()
        .map(|u| {
            let name = u["userName"].as_str().expect("a userName").to_owned();
            (name, u.clone())
        })
        .collect()
}

/// Deletes the user `user_name` from the file target `users.json` in `dir`, behind entrasync's
/// back (as someone editing the application would).
pub fn remove_from_file_target(dir: &std::path::Path, user_name: &str) {
    let path = dir.join("users.json");
    let mut document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("reads")).expect("JSON");
    let resources = document["Resources"].as_array_mut().expect("a list");
    resources.retain(|u| u["userName"] != user_name);
    document["totalResults"] = serde_json::json!(resources.len());
    std::fs::write(&path, document.to_string()).expect("writes");
}

/// A small, seeded random source (the emulator's splitmix64) for tests that replay a failure by
/// its seed.
pub struct Rng(entrasync::emulator::SplitMix);

impl Rng {
    /// The seed in the environment variable `var`, else one from the clock; printed, so a
    /// failing run can be replayed with `var=<seed>`.
    pub fn from_env(var: &str) -> (Rng, u64) {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(7, |d| d.as_nanos() as u64)
            });
        println!("{var}={seed}");
        (Rng(entrasync::emulator::SplitMix::new(seed)), seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.next() as usize % items.len()]
    }
}

/// The client certificate registered on the emulator's app in the certificate tests (PEM, with
/// its private key).
pub const REGISTERED_CERTIFICATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/client-certificate.pem"
);
/// A certificate the emulator does not know.
pub const UNKNOWN_CERTIFICATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/other-certificate.pem"
);
