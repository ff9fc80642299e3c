//! `entrasync run` as an operator runs it, against the emulator and into a file: a cycle at
//! start, `/healthz` and `/metrics` over HTTP, `status` beside the running service, SIGHUP with
//! a bad and then a good config, SIGTERM and SIGINT ending it with exit status 0, and a failing
//! service that says so. The schedule itself is tested under paused time in `src/daemon/tests.rs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{DEMO_GROUPS, demo_tenant, entrasync, write_config};
use entrasync::emulator::{Emulator, EmulatorOptions};

/// How long the tests wait for something the service should do in well under a second.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running `entrasync run`, its stderr in a file; killed when dropped.
struct Running {
    child: Child,
    stderr: PathBuf,
    state_dir: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn start(config: &Path) -> Running {
        let dir = config.parent().expect("the config is in a folder");
        let stderr = dir.join("service.log");
        let log = std::fs::File::create(&stderr).expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_entrasync"))
            .arg("--config")
            .arg(config)
            .arg("run")
            .env("ENTRASYNC_ALLOW_ROOT", "true")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("entrasync run starts");
        Running {
            child,
            stderr,
            state_dir: dir.join("state"),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// What the service last published in `service.json`.
    fn state(&self) -> Option<serde_json::Value> {
        let bytes = std::fs::read(self.state_dir.join("service.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Waits until `test` finds what it looks for in the published state.
    async fn wait_for_state(
        &self,
        what: &str,
        test: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = Instant::now();
        loop {
            if let Some(state) = self.state().filter(|s| test(s)) {
                return state;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "waited for {what}; state {:?}; log:\n{}",
                self.state(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_for_log(&self, text: &str) {
        let started = Instant::now();
        while !self.log().contains(text) {
            assert!(
                started.elapsed() < PATIENCE,
                "waited for {text:?} in:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to end; its exit status.
    async fn exit_status(&mut self) -> Option<i32> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                return status.code();
            }
            assert!(
                started.elapsed() < PATIENCE,
                "did not stop:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A config for `emulator` with a file target and `[http]` on a free port of 127.0.0.1.
fn service_config(dir: &tempfile::TempDir, emulator: &Emulator, secret: &str) -> PathBuf {
    let path = write_config(dir, emulator, &DEMO_GROUPS, "direct", secret);
    let text = std::fs::read_to_string(&path).expect("reads");
    let text = format!(
        "schedule = \"40m\"\n{text}\n[target]\nkind = \"file\"\npath = \"users.json\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n"
    );
    std::fs::write(&path, text).expect("writes");
    path
}

async fn get(state: &serde_json::Value, path: &str) -> (u16, String) {
    let listen = state["listen"]
        .as_str()
        .expect("the service says where it listens");
    let response = reqwest::get(format!("http://{listen}{path}"))
        .await
        .expect("the service answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// The value of the metric line that starts with `name` (with its labels).
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line[name.len()..].trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_provisions_at_start_reports_reloads_and_stops_on_sigterm() {
    let emulator = Emulator::start(demo_tenant(), EmulatorOptions::default())
        .await
        .expect("the emulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = emulator.client_secret();
    let config = service_config(&dir, &emulator, &secret);
    let mut service = Running::start(&config);

    let state = service
        .wait_for_state("the first cycle", |s| s["last"]["result"] == "ok")
        .await;
    assert_eq!(state["schedule"], "every 40m");
    assert_eq!(state["consecutive_failures"], 0);
    assert!(state["next_at"].is_string(), "{state}");
    let document: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("users.json")).expect("the first cycle wrote the file"),
    )
    .expect("JSON");
    let users = document["Resources"].as_array().expect("a list").len();
    assert!(users > 0);

    let (status, body) = get(&state, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(health["healthy"], true);
    let (status, text) = get(&state, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(&text, "entrasync_cycles_total{result=\"ok\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "entrasync_users_in_scope"),
        Some(users as f64),
        "{text}"
    );
    assert_eq!(
        metric(&text, "entrasync_changes_applied_total{kind=\"created\"}"),
        Some(users as f64),
        "{text}"
    );
    assert!(
        metric(&text, "entrasync_graph_requests_total{status=\"200\"}").is_some_and(|n| n >= 2.0),
        "{text}"
    );
    assert_eq!(metric(&text, "entrasync_quarantined"), Some(0.0), "{text}");
    assert!(
        metric(&text, "entrasync_seconds_since_last_success").is_some(),
        "{text}"
    );

    // The snapshot is closed between cycles: `status` works beside the running service.
    let out = entrasync(&config, &["status"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("service: running"), "{stdout}");
    assert!(stdout.contains(&format!("{users} created")), "{stdout}");

    // SIGHUP with a broken config: refused with the reason, the old one kept.
    let good = std::fs::read_to_string(&config).expect("reads");
    std::fs::write(&config, good.replace("\"40m\"", "\"sometimes\"")).expect("writes");
    service.signal("HUP");
    service
        .wait_for_log("the configuration loaded before stays in use")
        .await;
    assert!(service.log().contains("schedule"), "names the key");
    assert_eq!(service.state().expect("state")["schedule"], "every 40m");
    // And with a good one: taken.
    std::fs::write(&config, good.replace("\"40m\"", "\"2h\"")).expect("writes");
    service.signal("HUP");
    service
        .wait_for_state("the new schedule", |s| s["schedule"] == "every 2h")
        .await;

    service.signal("TERM");
    assert_eq!(service.exit_status().await, Some(0), "{}", service.log());
    let log = service.log();
    assert!(
        log.contains("cycle done"),
        "one summary line per cycle:\n{log}"
    );
    assert!(!log.contains(&secret), "the secret leaked:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_whose_cycles_fail_says_so_and_still_stops_cleanly() {
    let emulator = Emulator::start(demo_tenant(), EmulatorOptions::default())
        .await
        .expect("the emulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = "Wr0ng~secret-for-the-service-test";
    let config = service_config(&dir, &emulator, wrong);
    let mut service = Running::start(&config);

    let state = service
        .wait_for_state("a failed cycle", |s| s["last"]["result"] == "failed")
        .await;
    assert_eq!(state["consecutive_failures"], 1);
    let summary = state["last"]["summary"].as_str().expect("why it failed");
    assert!(summary.contains("AADSTS"), "{summary}");
    let (status, body) = get(&state, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no cycle has succeeded yet"), "{body}");
    let (_, text) = get(&state, "/metrics").await;
    assert_eq!(
        metric(&text, "entrasync_cycles_total{result=\"failed\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "entrasync_consecutive_failed_cycles"),
        Some(1.0),
        "{text}"
    );

    let out = entrasync(&config, &["status", "--json"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(status["service"]["running"], true);
    assert_eq!(status["cycles"][0]["failed"], true, "{status}");
    assert_eq!(status["cycles"][0]["exit_status"], 1);

    service.signal("INT");
    assert_eq!(service.exit_status().await, Some(0), "{}", service.log());
    let log = service.log();
    assert!(!log.contains(wrong), "the secret leaked:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_waits_for_another_entrasync_to_release_the_snapshot() {
    let emulator = Emulator::start(demo_tenant(), EmulatorOptions::default())
        .await
        .expect("the emulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = service_config(&dir, &emulator, &emulator.client_secret());
    // An operator's command holds the snapshot when the service starts its first cycle.
    let held = entrasync::snapshot::Snapshot::open(&dir.path().join("state"))
        .expect("the snapshot opens")
        .snapshot;
    let service = Running::start(&config);
    service.wait_for_log("the cycle waits for it").await;
    assert!(
        service.state().is_none_or(|s| s["last"].is_null()),
        "no cycle failed meanwhile"
    );
    drop(held);
    let state = service
        .wait_for_state("the cycle after the wait", |s| !s["last"].is_null())
        .await;
    assert_eq!(state["last"]["result"], "ok", "{state}");
    assert_eq!(state["consecutive_failures"], 0);
}
