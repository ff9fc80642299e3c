//! The files entrasync leaves, as an operator meets them: run by hand under a umask of 022,
//! the state directory and everything in it is for entrasync's user only, and a state directory
//! others may read is named with what to do.

mod common;

// ---------------------------------------------------------------------------------------------
// Running the binary

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{CLI_RULES, DEMO_GROUPS, demo_tenant, write_config};
use entrasync::emulator::{Emulator, EmulatorOptions};

/// How to run the binary: extra environment, and the umask it starts with.
#[derive(Default, Clone)]
struct Run {
    env: Vec<(String, String)>,
    umask: Option<&'static str>,
}

impl Run {
    fn command(&self, config: &Path, args: &[&str]) -> std::process::Command {
        let binary = env!("CARGO_BIN_EXE_entrasync");
        let mut command = match self.umask {
            Some(umask) => {
                let mut sh = std::process::Command::new("sh");
                sh.arg("-c")
                    .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
                    .arg(binary);
                sh
            }
            None => std::process::Command::new(binary),
        };
        command
            .arg("--config")
            .arg(config)
            .args(args)
            .env_remove("ENTRASYNC_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env("ENTRASYNC_ALLOW_ROOT", "true");
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// Runs to the end, off the runtime's threads (the servers of the test keep serving).
    async fn output(&self, config: &Path, args: &[&str]) -> Output {
        let mut command = self.command(config, args);
        tokio::task::spawn_blocking(move || command.output().expect("entrasync runs"))
            .await
            .expect("the blocking task ends")
    }
}

fn assert_exit(out: &Output, code: i32, what: &str) {
    common::assert_exit(out, code, what);
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `entrasync run` until its first cycle has ended, then SIGTERM; its stderr.
async fn run_one_cycle(config: &Path, run: &Run, args: &[&str]) -> Vec<u8> {
    let dir = config.parent().expect("a folder");
    let log_path = dir.join("service.log");
    let log = std::fs::File::create(&log_path).expect("a log file");
    let mut all = args.to_vec();
    all.push("run");
    let mut child = run
        .command(config, &all)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("entrasync run starts");
    let state_file = dir.join("state/service.json");
    let started = Instant::now();
    loop {
        let last = std::fs::read(&state_file)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|s| s["pid"] == child.id() && s["last"].is_object());
        if last {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no cycle ended: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let killed = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait().expect("waits"))
        .await
        .expect("joins");
    assert_eq!(
        status.code(),
        Some(0),
        "run stops on SIGTERM: {status:?}; {}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    std::fs::read(&log_path).expect("the log reads")
}

// ---------------------------------------------------------------------------------------------
// Configs

async fn emulator_with(options: EmulatorOptions) -> Emulator {
    Emulator::start(demo_tenant(), options)
        .await
        .expect("the emulator starts")
}

/// A config for `emulator` (secret file `client-secret` holding `secret`) with `rules`
/// appended; its path.
fn config_with(dir: &tempfile::TempDir, emulator: &Emulator, secret: &str, rules: &str) -> PathBuf {
    let path = write_config(dir, emulator, &DEMO_GROUPS, "direct", secret);
    edit(&path, |text| format!("{text}{rules}"));
    path
}

fn edit(path: &Path, change: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).expect("the config reads");
    std::fs::write(path, change(text)).expect("the config writes");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

// ---------------------------------------------------------------------------------------------
// File modes

/// Every folder and file under `dir` with its mode.
fn modes_under(dir: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        found.push((folder.clone(), true, mode(&folder)));
        for entry in std::fs::read_dir(&folder).expect("reads") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                found.push((path.clone(), false, mode(&path)));
            }
        }
    }
    found
}

/// Run by hand with the common umask 022, `once`, `run` and `status` leave the state directory
/// and every folder in it 0700, every file in it (sled's, `service.json`) and the file target
/// they created 0600.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_umask_022_the_state_directory_is_0700_and_every_file_0600() {
    let emulator = emulator_with(EmulatorOptions::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = emulator.client_secret();
    let config = config_with(&dir, &emulator, &secret, CLI_RULES);
    let umask = Run {
        umask: Some("022"),
        ..Run::default()
    };
    // The test's own shell really has 022: a file it makes is 0644.
    let out = umask
        .command(&config, &[])
        .arg("--version")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let probe = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("umask 022; : > {}/probe", dir.path().display()))
        .status()
        .expect("sh runs");
    assert!(probe.success());
    assert_eq!(mode(&dir.path().join("probe")), 0o644);

    let out = umask.output(&config, &["once"]).await;
    assert_exit(&out, 0, "once");
    run_one_cycle(&config, &umask, &[]).await;
    let out = umask.output(&config, &["status"]).await;
    assert_exit(&out, 0, "status");

    let state = dir.path().join("state");
    let found = modes_under(&state);
    assert!(
        found.iter().any(|(p, _, _)| p.ends_with("service.json"))
            && found.iter().any(|(p, _, _)| p.ends_with("snapshot/db"))
            && found.iter().filter(|(_, dir, _)| !dir).count() >= 4,
        "sled's files and service.json are there: {found:?}"
    );
    for (path, is_dir, mode) in &found {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} is {mode:04o}", path.display());
    }
    assert_eq!(
        mode(&dir.path().join("users.json")),
        0o600,
        "the file target"
    );
}

/// A state directory that already exists open to others is named with its mode and the
/// command that fixes it, on every command that opens it, and left as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_directory_open_to_others_is_warned_about_and_left_alone() {
    let emulator = emulator_with(EmulatorOptions::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = emulator.client_secret();
    let config = config_with(&dir, &emulator, &secret, CLI_RULES);
    let state = dir.path().join("state");
    std::fs::create_dir(&state).expect("creates");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for args in [&["once"][..], &["status"], &["--log-format", "json", "log"]] {
        let out = Run::default().output(&config, args).await;
        assert_exit(&out, 0, &format!("{args:?}"));
        let stderr = stderr(&out);
        assert!(
            stderr.contains(&format!(
                "the state directory {} has mode 0755",
                state.display()
            )) && stderr.contains(&format!("chmod -R go= {}", state.display())),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(mode(&state), 0o755, "left as it is");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let out = Run::default().output(&config, &["status"]).await;
    assert!(!stderr(&out).contains("has mode"), "{}", stderr(&out));
}
