//! Invariant 6 and the files entrasync leaves, as an operator meets them: cycles that succeed and
//! fail at the most verbose log level, in both log formats, with distinctive secrets — the
//! client secret (file and variable), the access tokens, the SCIM bearer token (file and
//! variable), a client certificate's private key and the client assertions it signs — and none
//! of them anywhere in stdout, stderr, the service's log, the state directory (sled's binary
//! files searched byte for byte), `service.json` or the file target. Then the modes of what
//! entrasync creates under a umask of 022, and certificate verification: a server whose
//! certificate comes from a CA this machine does not trust is refused, until `ca_file` names
//! that CA. Last, Graph's token goes to no host but `graph_url`'s, whatever a link says.
//!
//! Delta tokens are not secrets and are not looked for (their links are checked for where they
//! lead).

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

// ---------------------------------------------------------------------------------------------
// Secrets

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use entrasync::emulator::{Endpoint, FaultKind, FaultRule};
use rustls_pki_types::pem::PemObject as _;

/// A client secret the emulator refuses.
const WRONG_SECRET: &str = "Wr0ng~secret.only-in-tests-secrets-3f9c1a";

/// The SCIM bearer token.
const SCIM_TOKEN: &str = "scim~bearer.only-in-tests-secrets-8d2e4b";

/// The emulator's access tokens all start with this (a JWT header).
const TOKEN_HEADER: &str = "eyJ0eXAiOiJKV1QiLCJlbXUiOnRydWV9";

const REGISTERED: &str = common::REGISTERED_CERTIFICATE;
const UNKNOWN: &str = common::UNKNOWN_CERTIFICATE;

impl Run {
    /// With the variable `name` set to `value`.
    fn env(name: &str, value: &str) -> Run {
        Run {
            env: vec![(name.to_owned(), value.to_owned())],
            umask: None,
        }
    }
}

/// Everything an operator or another user could read: outputs and files, by name.
#[derive(Default)]
struct Evidence {
    places: Vec<(String, Vec<u8>)>,
}

impl Evidence {
    fn output(&mut self, what: &str, out: &Output) {
        self.places
            .push((format!("{what}: stdout"), out.stdout.clone()));
        self.places
            .push((format!("{what}: stderr"), out.stderr.clone()));
    }

    fn bytes(&mut self, what: &str, bytes: Vec<u8>) {
        self.places.push((what.to_owned(), bytes));
    }

    /// Every file under `dir` (sled's binary files too), and `dir/users.json` if there is one.
    fn files(&mut self, dir: &Path) {
        let mut folders = vec![dir.to_owned()];
        while let Some(folder) = folders.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    folders.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    self.places.push((path.display().to_string(), bytes));
                }
            }
        }
    }

    /// Panics naming the first place that holds any form of any of `secrets`.
    fn assert_none_of(&self, secrets: &[(&str, String)]) {
        let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
        for (what, secret) in secrets {
            assert!(secret.len() >= 8, "{what} is distinctive");
            for (form, bytes) in forms(secret) {
                needles.push((format!("{what} ({form})"), bytes));
            }
        }
        for (place, haystack) in &self.places {
            // Secrets are ASCII: a lossy string keeps every ASCII byte where it was, and its
            // search is fast even in a debug build.
            let text = String::from_utf8_lossy(haystack);
            for (what, needle) in &needles {
                let found = match std::str::from_utf8(needle) {
                    Ok(needle) => text.contains(needle),
                    Err(_) => haystack.windows(needle.len()).any(|w| w == &needle[..]),
                };
                assert!(!found, "{what} is in {place}:\n{}", excerpt(&text, needle));
            }
        }
    }

    fn assert_no_text(&self, needle: &str, what: &str) {
        for (place, haystack) in &self.places {
            let text = String::from_utf8_lossy(haystack);
            assert!(!text.contains(needle), "{what} is in {place}");
        }
    }

    fn text(&self) -> String {
        self.places
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect()
    }
}

/// The line around a found needle, for the failure message.
fn excerpt(text: &str, needle: &[u8]) -> String {
    let needle = String::from_utf8_lossy(needle);
    text.lines()
        .find(|l| l.contains(needle.as_ref()))
        .map(|l| l.chars().take(400).collect())
        .unwrap_or_default()
}

/// A secret as it could travel: as is, base64 (HTTP Basic, JWT parts), percent-encoded (a form
/// body), JSON-escaped.
fn forms(secret: &str) -> Vec<(&'static str, Vec<u8>)> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let mut encoded = String::new();
    for byte in secret.bytes() {
        if byte.is_ascii_alphanumeric() || b"*-._".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    let json = serde_json::to_string(secret).expect("a string");
    let mut all = vec![
        ("as is", secret.as_bytes().to_vec()),
        ("base64", b64.into_bytes()),
        ("base64url", b64url.into_bytes()),
        ("percent-encoded", encoded.into_bytes()),
        ("JSON", json.as_bytes()[1..json.len() - 1].to_vec()),
    ];
    all.dedup_by(|a, b| a.1 == b.1);
    all
}

// ---------------------------------------------------------------------------------------------
// A SCIM endpoint that records the bearer token it is sent and answers as told

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ScimMode {
    /// Everything 401, the error quoting the Authorization header it got.
    Refuse,
    /// Lookups answer an empty list; writes 500, quoting the Authorization header.
    FailWrites,
    /// Lookups answer an empty list; creates 201.
    Accept,
}

struct ScimStub {
    mode: Mutex<ScimMode>,
    authorizations: Mutex<Vec<String>>,
    created: Mutex<u64>,
}

const SCIM_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

async fn scim_stub(mode: ScimMode) -> (Arc<ScimStub>, SocketAddr) {
    use axum::http::{HeaderMap, Method, StatusCode};
    use axum::response::IntoResponse;
    let stub = Arc::new(ScimStub {
        mode: Mutex::new(mode),
        authorizations: Mutex::new(Vec::new()),
        created: Mutex::new(0),
    });
    let shared = stub.clone();
    let handler = move |method: Method, headers: HeaderMap, body: axum::body::Bytes| {
        let stub = shared.clone();
        async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            stub.authorizations.lock().expect("lock").push(auth.clone());
            let mode = *stub.mode.lock().expect("lock");
            let reply = |status: StatusCode, body: serde_json::Value| {
                (
                    status,
                    [("content-type", "application/scim+json")],
                    body.to_string(),
                )
                    .into_response()
            };
            let error = |status: StatusCode, detail: String| {
                reply(
                    status,
                    serde_json::json!({"schemas": [SCIM_ERROR], "status": status.as_u16().to_string(), "detail": detail}),
                )
            };
            let empty = serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 0, "Resources": [], "startIndex": 1, "itemsPerPage": 0,
            });
            match (mode, method) {
                (ScimMode::Refuse, _) => error(
                    StatusCode::UNAUTHORIZED,
                    format!("the credentials '{auth}' are not valid for this tenant"),
                ),
                (_, Method::GET) => reply(StatusCode::OK, empty),
                (ScimMode::FailWrites, _) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("could not store the user (request from {auth})"),
                ),
                (ScimMode::Accept, _) => {
                    let mut user: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    let mut created = stub.created.lock().expect("lock");
                    *created += 1;
                    user["id"] = serde_json::json!(format!("scim-{created}"));
                    reply(StatusCode::CREATED, user)
                }
            }
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (stub, address)
}

/// [`CLI_RULES`] with a SCIM target at `url` instead of the file; the token from `token`
/// (`token_file = "scim-token"` or `token_env = "…"`).
fn scim_rules(url: &str, token: &str) -> String {
    CLI_RULES.replace(
        "kind = \"file\"\npath = \"users.json\"",
        &format!("kind = \"scim\"\nurl = \"{url}/scim/v2\"\n{token}\nrequest_timeout = \"5s\""),
    )
}

// ---------------------------------------------------------------------------------------------
// Cycles that succeed and fail

/// The client secret (from a file and from a variable, right and wrong) and every access token
/// issued, through cycles that succeed and cycles Graph fails with 401, 403 and 500, in `once`,
/// `plan --json`, `status --json`, `log --json`, `check` and `run`, at trace level in text and
/// JSON logs: in none of the outputs, the service's log, the state directory (sled's files
/// byte for byte, `service.json`) or `users.json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_the_client_secret_nor_a_token_shows_at_trace_level_when_cycles_succeed_or_fail() {
    let emulator = emulator_with(EmulatorOptions::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = emulator.client_secret();
    let config = config_with(&dir, &emulator, &secret, CLI_RULES);
    let plain = Run::default();
    let mut evidence = Evidence::default();
    let text = ["-vv"];
    let json = ["-vv", "--log-format", "json"];
    let with = |flags: &[&'static str], args: &[&'static str]| -> Vec<&'static str> {
        flags.iter().chain(args).copied().collect()
    };

    for (flags, args, code) in [
        (&text[..], &["once", "--json"][..], 0),
        (&json[..], &["once", "--json"][..], 0),
        (&json[..], &["plan", "--json"][..], 0),
        (&text[..], &["plan"][..], 0),
        (&text[..], &["check"][..], 0),
        (&json[..], &["check"][..], 0),
    ] {
        let args = with(flags, args);
        let out = plain.output(&config, &args).await;
        assert_exit(&out, code, &format!("{args:?}"));
        evidence.output(&format!("{args:?}"), &out);
    }
    let first = &evidence.places[1].1;
    assert!(
        String::from_utf8_lossy(first).contains("TRACE"),
        "trace logs were on"
    );

    // Graph fails: a token it refuses even after a renewal, no permission, an internal error.
    for (status, code) in [
        (401, "InvalidAuthenticationToken"),
        (403, "Authorization_RequestDenied"),
        (500, "generalException"),
    ] {
        emulator.faults().add(
            FaultRule::new(FaultKind::Status {
                status,
                code: code.into(),
            })
            .on(Endpoint::UsersDelta)
            .always(),
        );
        for flags in [&text[..], &json[..]] {
            let args = with(flags, &["once"]);
            let out = plain.output(&config, &args).await;
            assert_exit(&out, 1, &format!("Graph {status}"));
            assert!(stderr(&out).contains(code), "{}", stderr(&out));
            evidence.output(&format!("Graph {status} {args:?}"), &out);
        }
        emulator.faults().clear();
    }

    // A wrong secret in the file, then the right one and a wrong one from a variable.
    std::fs::write(dir.path().join("client-secret"), WRONG_SECRET).expect("writes");
    for args in [with(&text, &["once"]), with(&json, &["check"])] {
        let out = plain.output(&config, &args).await;
        assert_exit(&out, 1, "a wrong secret");
        assert!(stderr(&out).contains("AADSTS7000215"), "{}", stderr(&out));
        evidence.output(&format!("wrong secret {args:?}"), &out);
    }
    edit(&config, |t| {
        t.replace(
            "client_secret_file = \"client-secret\"",
            "client_secret_env = \"ENTRASYNC_TEST_CLIENT_SECRET\"",
        )
    });
    let from_env = Run::env("ENTRASYNC_TEST_CLIENT_SECRET", &secret);
    let out = from_env.output(&config, &with(&json, &["once"])).await;
    assert_exit(&out, 0, "the secret from a variable");
    evidence.output("secret from a variable", &out);
    let wrong_env = Run::env("ENTRASYNC_TEST_CLIENT_SECRET", WRONG_SECRET);
    let out = wrong_env.output(&config, &with(&text, &["once"])).await;
    assert_exit(&out, 1, "a wrong secret from a variable");
    evidence.output("wrong secret from a variable", &out);

    // The service: a cycle that fails (wrong secret), recorded in service.json, then one that
    // runs.
    let log = run_one_cycle(&config, &wrong_env, &json).await;
    evidence.bytes("run with a wrong secret: its log", log);
    let out = plain
        .output(&config, &with(&text, &["status", "--json"]))
        .await;
    assert_exit(&out, 0, "status");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("AADSTS7000215"),
        "the failure is in the status"
    );
    evidence.output("status --json after the failed service", &out);
    let log = run_one_cycle(&config, &from_env, &text).await;
    evidence.bytes("run: its log", log);

    for args in [
        with(&text, &["status", "--json"]),
        with(&json, &["status"]),
        with(&text, &["log", "--json"]),
        with(&json, &["log"]),
    ] {
        let out = plain.output(&config, &args).await;
        assert_exit(&out, 0, &format!("{args:?}"));
        evidence.output(&format!("{args:?}"), &out);
    }
    evidence.files(dir.path());
    assert!(
        evidence
            .places
            .iter()
            .any(|(name, _)| name.ends_with("service.json")),
        "the service left its state"
    );
    assert!(
        evidence.text().contains("\"created\""),
        "the log lists changes"
    );

    let tokens = emulator.issued_tokens();
    assert!(tokens.len() >= 5, "every run got a token: {}", tokens.len());
    let mut secrets = vec![
        ("the client secret", secret.clone()),
        ("a wrong client secret", WRONG_SECRET.to_owned()),
    ];
    secrets.extend(tokens.into_iter().map(|t| ("an access token", t)));
    // The config file itself names the secret's file and variable, never its value: skip it.
    evidence
        .places
        .retain(|(name, _)| !name.ends_with("client-secret"));
    evidence.assert_none_of(&secrets);
    evidence.assert_no_text(TOKEN_HEADER, "an access token's header");
}

/// The SCIM bearer token, from a file and from a variable, through a target that refuses it
/// (401) and one that fails every write (500) — both quoting the Authorization header they got
/// back in their error, as some frameworks do — and one that takes every user, in `check`,
/// `once`, `status`, `log` and `run`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_target_quoting_the_bearer_token_in_its_errors_never_gets_it_shown() {
    let emulator = emulator_with(EmulatorOptions::default()).await;
    let (stub, address) = scim_stub(ScimMode::Refuse).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("scim-token"), SCIM_TOKEN).expect("writes");
    let rules = scim_rules(&format!("http://{address}"), "token_file = \"scim-token\"");
    let secret = emulator.client_secret();
    let config = config_with(&dir, &emulator, &secret, &rules);
    let plain = Run::default();
    let mut evidence = Evidence::default();

    for args in [
        &["-vv", "check"][..],
        &["-vv", "--log-format", "json", "once"],
    ] {
        let out = plain.output(&config, args).await;
        assert_exit(&out, 1, &format!("{args:?} against a target that refuses"));
        assert!(stderr(&out).contains("401"), "{}", stderr(&out));
        evidence.output(&format!("refused {args:?}"), &out);
    }

    *stub.mode.lock().expect("lock") = ScimMode::FailWrites;
    let out = plain.output(&config, &["-vv", "once", "--json"]).await;
    assert_exit(&out, 3, "every create fails");
    evidence.output("failing writes: once", &out);
    edit(&config, |t| {
        t.replace(
            "token_file = \"scim-token\"",
            "token_env = \"ENTRASYNC_TEST_SCIM_TOKEN\"",
        )
    });
    let from_env = Run::env("ENTRASYNC_TEST_SCIM_TOKEN", SCIM_TOKEN);
    let out = from_env
        .output(&config, &["-vv", "--log-format", "json", "once"])
        .await;
    assert_exit(&out, 3, "every create fails, the token from a variable");
    evidence.output("failing writes, token from a variable: once", &out);
    let log = run_one_cycle(&config, &from_env, &["-vv", "--log-format", "json"]).await;
    evidence.bytes("run with failing writes: its log", log);
    *stub.mode.lock().expect("lock") = ScimMode::Accept;
    let out = from_env.output(&config, &["-vv", "once", "--json"]).await;
    assert_exit(&out, 0, "the target takes every user");
    evidence.output("accepting target: once", &out);
    assert!(
        *stub.created.lock().expect("lock") > 20,
        "the users were created"
    );

    for args in [
        &["-vv", "status", "--json"][..],
        &["-vv", "log", "--json"],
        &["-vv", "--log-format", "json", "log"],
    ] {
        let out = plain.output(&config, args).await;
        assert_exit(&out, 0, &format!("{args:?}"));
        evidence.output(&format!("{args:?}"), &out);
    }
    let authorizations = stub.authorizations.lock().expect("lock").clone();
    assert!(
        !authorizations.is_empty()
            && authorizations
                .iter()
                .all(|a| a == &format!("Bearer {SCIM_TOKEN}")),
        "the target got the token every time"
    );
    assert!(
        evidence
            .text()
            .contains("could not store the user (request from Bearer <redacted>)"),
        "the target's failures were reported, the token redacted"
    );
    evidence.files(dir.path());
    evidence
        .places
        .retain(|(name, _)| !name.ends_with("scim-token") && !name.ends_with("client-secret"));
    evidence.assert_none_of(&[
        ("the SCIM bearer token", SCIM_TOKEN.to_owned()),
        ("the client secret", secret),
    ]);
}

/// An access token only the echoing Graph stand-in hands out.
const ECHO_TOKEN: &str = "eyJechoed.access-token.only-in-tests-secrets-1c6d";

/// A token endpoint and Graph that quote what they were sent in their errors: the token
/// endpoint the whole form (the client secret in it, percent-encoded, and decoded), Graph the
/// Authorization header. `refuse_secret`: the token endpoint refuses; else it hands out
/// [`ECHO_TOKEN`] and Graph answers 403.
async fn echoing_entra(refuse_secret: bool) -> SocketAddr {
    use axum::http::{HeaderMap, Method, StatusCode};
    use axum::response::IntoResponse;
    let handler = move |method: Method, headers: HeaderMap, body: String| async move {
        if method == Method::POST {
            if !refuse_secret {
                let token = serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": ECHO_TOKEN});
                return (StatusCode::OK, axum::Json(token)).into_response();
            }
            let url = reqwest::Url::parse(&format!("http://x/?{body}")).expect("a form");
            let secret = url
                .query_pairs()
                .find(|(k, _)| k == "client_secret")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let refusal = serde_json::json!({
                "error": "invalid_client",
                "error_description": format!("AADSTS7000215: Invalid client secret provided: '{secret}' (request: {body})\r\nTrace ID: t"),
                "error_codes": [7000215],
            });
            return (StatusCode::UNAUTHORIZED, axum::Json(refusal)).into_response();
        }
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let error = serde_json::json!({"error": {
            "code": "Authorization_RequestDenied",
            "message": format!("Insufficient privileges to complete the operation with '{auth}'."),
            "innerError": {"request-id": "r-1", "date": "2024-01-01T00:00:00"},
        }});
        (StatusCode::FORBIDDEN, axum::Json(error)).into_response()
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}

/// A config whose authority and Graph are `address`, the client secret in a file.
fn echo_config(dir: &tempfile::TempDir, address: SocketAddr) -> PathBuf {
    std::fs::write(dir.path().join("client-secret"), WRONG_SECRET).expect("writes");
    let path = dir.path().join("entrasync.toml");
    let text = format!(
        "state_dir = \"state\"\n[source]\ntenant_id = \"contoso.onmicrosoft.com\"\nclient_id = \"00000000-0000-0000-0000-000000000001\"\n\
         client_secret_file = \"client-secret\"\nauthority_url = \"http://{address}\"\ngraph_url = \"http://{address}\"\n\
         groups = [\"Sales\"]\nmax_retry_wait = \"1s\"\n"
    );
    std::fs::write(&path, text).expect("writes");
    path
}

async fn echo_evidence(config: &Path) -> Evidence {
    let mut evidence = Evidence::default();
    for args in [
        &["-vv", "check"][..],
        &["-vv", "--log-format", "json", "once"],
    ] {
        let out = Run::default().output(config, args).await;
        assert_exit(&out, 1, &format!("{args:?}"));
        evidence.output(&format!("{args:?}"), &out);
    }
    let log = run_one_cycle(config, &Run::default(), &["-vv"]).await;
    evidence.bytes("run: its log", log);
    let out = Run::default().output(config, &["status", "--json"]).await;
    assert_exit(&out, 0, "status");
    evidence.output("status --json", &out);
    evidence.files(config.parent().expect("a folder"));
    evidence
        .places
        .retain(|(name, _)| !name.ends_with("client-secret"));
    evidence
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_quoting_the_client_secret_in_its_error_never_gets_it_shown() {
    let address = echoing_entra(true).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = echo_config(&dir, address);
    let evidence = echo_evidence(&config).await;
    assert!(evidence.text().contains("AADSTS7000215"));
    assert!(evidence.text().contains("<redacted>"), "shown, redacted");
    evidence.assert_none_of(&[("the client secret", WRONG_SECRET.to_owned())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_quoting_the_access_token_in_its_error_never_gets_it_shown() {
    let address = echoing_entra(false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = echo_config(&dir, address);
    let evidence = echo_evidence(&config).await;
    assert!(evidence.text().contains("Authorization_RequestDenied"));
    assert!(
        evidence.text().contains("'Bearer <redacted>'"),
        "shown, redacted"
    );
    evidence.assert_none_of(&[("the access token", ECHO_TOKEN.to_owned())]);
}

/// The private key's PEM lines (each 64 base64 characters or fewer) and its DER bytes.
fn private_key_forms(pem_file: &str) -> Vec<(&'static str, String)> {
    let text = std::fs::read_to_string(pem_file).expect("the fixture");
    let body = text
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END PRIVATE KEY-----").next())
        .expect("a private key");
    // The lines in the middle hold the key's secret numbers; the first ones are headers that
    // every RSA key of this size shares.
    body.lines()
        .map(str::trim)
        .filter(|l| l.len() == 64)
        .skip(2)
        .map(|l| ("a line of the private key", l.to_owned()))
        .collect()
}

/// A client certificate's private key and every client assertion it signs, through a cycle,
/// `check`, `run`, and a certificate Entra does not know (AADSTS700027): in no output or file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_the_private_key_nor_a_client_assertion_shows() {
    let options = EmulatorOptions {
        certificate: Some(std::fs::read_to_string(REGISTERED).expect("the fixture")),
        ..EmulatorOptions::default()
    };
    let emulator = emulator_with(options).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_with(&dir, &emulator, "unused", CLI_RULES);
    std::fs::copy(REGISTERED, dir.path().join("certificate.pem")).expect("copies");
    std::fs::copy(UNKNOWN, dir.path().join("unknown.pem")).expect("copies");
    std::fs::remove_file(dir.path().join("client-secret")).expect("removes");
    edit(&config, |t| {
        t.replace(
            "client_secret_file = \"client-secret\"",
            "client_certificate_file = \"certificate.pem\"",
        )
    });
    let plain = Run::default();
    let mut evidence = Evidence::default();
    for (args, code) in [
        (&["-vv", "once", "--json"][..], 0),
        (&["-vv", "--log-format", "json", "check"], 0),
        (&["-vv", "--log-format", "json", "plan", "--json"], 0),
    ] {
        let out = plain.output(&config, args).await;
        assert_exit(&out, code, &format!("{args:?}"));
        evidence.output(&format!("{args:?}"), &out);
    }
    let log = run_one_cycle(&config, &plain, &["-vv"]).await;
    evidence.bytes("run: its log", log);
    edit(&config, |t| {
        t.replace("\"certificate.pem\"", "\"unknown.pem\"")
    });
    for args in [
        &["-vv", "once"][..],
        &["-vv", "--log-format", "json", "check"],
    ] {
        let out = plain.output(&config, args).await;
        assert_exit(
            &out,
            1,
            &format!("{args:?} with a certificate Entra does not know"),
        );
        assert!(stderr(&out).contains("AADSTS700027"), "{}", stderr(&out));
        evidence.output(&format!("unknown certificate {args:?}"), &out);
    }
    for args in [&["-vv", "status", "--json"][..], &["-vv", "log", "--json"]] {
        let out = plain.output(&config, args).await;
        assert_exit(&out, 0, &format!("{args:?}"));
        evidence.output(&format!("{args:?}"), &out);
    }
    evidence.files(dir.path());
    evidence
        .places
        .retain(|(name, _)| !name.ends_with("certificate.pem") && !name.ends_with("unknown.pem"));

    let assertions = emulator.received_assertions();
    assert!(assertions.len() >= 5, "every run signed assertions");
    assert!(assertions.iter().all(|a| a.starts_with("eyJ")));
    let mut secrets = private_key_forms(REGISTERED);
    secrets.extend(private_key_forms(UNKNOWN));
    assert!(secrets.len() >= 20);
    secrets.extend(assertions.into_iter().map(|a| ("a client assertion", a)));
    secrets.extend(
        emulator
            .issued_tokens()
            .into_iter()
            .map(|t| ("an access token", t)),
    );
    evidence.assert_none_of(&secrets);
    for (place, bytes) in &evidence.places {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains("PRIVATE KEY"), "{place}");
    }
    // The key's DER: search its bytes too (sled's files are binary).
    let der = rustls_pki_types::PrivateKeyDer::from_pem_file(REGISTERED).expect("a key");
    let der = der.secret_der();
    let middle = &der[der.len() / 2..der.len() / 2 + 32];
    for (place, bytes) in &evidence.places {
        assert!(
            !bytes.windows(middle.len()).any(|w| w == middle),
            "the private key's bytes are in {place}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration errors

/// A client secret written in the config file itself.
const INLINE_SECRET: &str = "Inl1ne~secret.only-in-tests-secrets-5a7b0c";

/// Config files that cannot be used, each on the line of a secret written inline or naming a
/// secret file that cannot be read: every one exits 2 naming the key, and none quotes the
/// secret (`check` and `once`, text and JSON logs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_errors_on_a_secret_line_never_quote_the_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let digits = "86753094242424242";
    let head = "state_dir = \"state\"\n[source]\ntenant_id = \"contoso.onmicrosoft.com\"\nclient_id = \"00000000-0000-0000-0000-000000000001\"\ngroups = [\"Sales\"]\n";
    let not_utf8 = dir.path().join("not-utf8");
    let mut bytes = INLINE_SECRET.as_bytes().to_vec();
    bytes.extend([0xff, 0xfe]);
    std::fs::write(&not_utf8, bytes).expect("writes");
    std::fs::write(dir.path().join("secret-not-a-pem"), INLINE_SECRET).expect("writes");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "text after the value",
            format!("{head}client_secret = \"{INLINE_SECRET}\" x\n"),
            ":6:",
        ),
        (
            "no closing quote",
            format!("{head}client_secret = \"{INLINE_SECRET}\n"),
            ":6:",
        ),
        (
            "no quotes",
            format!("{head}client_secret = {INLINE_SECRET}\n"),
            ":6:",
        ),
        (
            "a number",
            format!("{head}client_secret = {digits}\n"),
            "client_secret",
        ),
        (
            "a list",
            format!("{head}client_secret = [\"{INLINE_SECRET}\"]\n"),
            "client_secret",
        ),
        (
            "twice",
            format!(
                "{head}client_secret = \"{INLINE_SECRET}\"\nclient_secret = \"{INLINE_SECRET}\"\n"
            ),
            ":7:",
        ),
        (
            "with a secret file too",
            format!("{head}client_secret = \"{INLINE_SECRET}\"\nclient_secret_file = \"x\"\n"),
            "[source] client_secret",
        ),
        (
            "a SCIM token on a file target",
            format!(
                "{head}client_secret_env = \"HOME\"\n[target]\nkind = \"file\"\npath = \"u.json\"\ntoken = \"{INLINE_SECRET}\"\n"
            ),
            "[target] token",
        ),
        (
            "a SCIM token that is a number",
            format!(
                "{head}client_secret_env = \"HOME\"\n[target]\nkind = \"scim\"\nurl = \"https://app.example.com/scim\"\ntoken = {digits}\n"
            ),
            "token",
        ),
        (
            "a secret file that is not UTF-8",
            format!("{head}client_secret_file = \"not-utf8\"\n"),
            "[source] client_secret_file",
        ),
        (
            "a secret file that is a folder",
            format!("{head}client_secret_file = \"state\"\n"),
            "[source] client_secret_file",
        ),
        (
            "a secret file that does not exist",
            format!("{head}client_secret_file = \"missing\"\n"),
            "[source] client_secret_file",
        ),
        (
            "a certificate file holding a secret",
            format!("{head}client_certificate_file = \"secret-not-a-pem\"\n"),
            "[source] client_certificate_file",
        ),
    ];
    std::fs::create_dir_all(dir.path().join("state")).expect("a folder");
    let config = dir.path().join("entrasync.toml");
    let mut evidence = Evidence::default();
    for (what, text, names) in &cases {
        std::fs::write(&config, text).expect("writes");
        for args in [
            &["-vv", "check"][..],
            &["-vv", "--log-format", "json", "once"],
        ] {
            let out = Run::default().output(&config, args).await;
            assert_exit(&out, 2, &format!("{what}: {args:?}"));
            assert!(
                stderr(&out).contains(names),
                "{what}: names {names}: {}",
                stderr(&out)
            );
            evidence.output(&format!("{what}: {args:?}"), &out);
        }
    }
    evidence.assert_none_of(&[
        ("an inline secret", INLINE_SECRET.to_owned()),
        ("a secret that is a number", digits.to_owned()),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Certificate verification

const TLS_CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls-ca.pem");
const TLS_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls-server.pem");

/// A listener on 127.0.0.1 that will speak TLS and forward to a plain TCP backend.
struct TlsFront {
    listener: tokio::net::TcpListener,
}

impl TlsFront {
    async fn bind() -> TlsFront {
        TlsFront {
            listener: tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("binds"),
        }
    }

    fn url(&self) -> String {
        format!(
            "https://127.0.0.1:{}",
            self.listener.local_addr().expect("an address").port()
        )
    }

    /// Serves until the runtime ends: each connection's TLS handshake, then bytes both ways.
    fn forward_to(self, backend: SocketAddr) {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_file_iter(TLS_SERVER)
            .expect("the fixture")
            .collect::<Result<Vec<_>, _>>()
            .expect("certificates");
        let key = PrivateKeyDer::from_pem_file(TLS_SERVER).expect("a key");
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("a server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = self.listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut back) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut back).await;
                });
            }
        });
    }
}

/// How long a refused certificate may take to fail: it is not retried.
const NO_RETRY: Duration = Duration::from_secs(2);

/// Each of `commands` exits 1 at once (not retried) on an untrusted certificate, saying every
/// one of `words`.
async fn refused_untrusted(config: &Path, commands: &[&[&str]], words: &[&str]) {
    for args in commands {
        let started = Instant::now();
        let out = Run::default().output(config, args).await;
        assert_exit(&out, 1, &format!("{args:?} without the CA"));
        let stderr = stderr(&out);
        assert!(
            words.iter().all(|w| stderr.contains(w)),
            "{args:?}: {stderr}"
        );
        assert!(
            started.elapsed() < NO_RETRY,
            "not retried: {:?}",
            started.elapsed()
        );
    }
}

/// Graph (the token endpoint and Graph itself) behind HTTPS with a certificate from a CA this
/// machine does not trust: `check` and `once` fail at once with exit 1 and say what to do;
/// with `[source] ca_file` naming that CA, both work, a whole cycle over HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_with_a_certificate_from_an_unknown_ca_is_refused_until_ca_file_names_it() {
    let front = TlsFront::bind().await;
    let options = EmulatorOptions {
        public_url: Some(front.url()),
        ..EmulatorOptions::default()
    };
    let emulator = emulator_with(options).await;
    front.forward_to(emulator.local_addr());
    assert!(emulator.base_url().starts_with("https://127.0.0.1:"));
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = emulator.client_secret();
    let config = config_with(&dir, &emulator, &secret, CLI_RULES);
    let commands = [&["check"][..], &["once"], &["--log-format", "json", "once"]];
    let words = [
        "cannot connect securely to the token endpoint",
        "the server's certificate is not trusted",
        "UnknownIssuer",
        "[source] ca_file",
    ];
    refused_untrusted(&config, &commands, &words).await;
    assert_eq!(
        emulator.requests().count(Endpoint::Token),
        0,
        "no request got through"
    );
    // The token from where it is trusted (plain http on loopback), Graph still refused.
    let https = emulator.base_url().to_owned();
    let direct = format!("http://{}", emulator.local_addr());
    edit(&config, |t| {
        t.replacen(
            &format!("authority_url = \"{https}\""),
            &format!("authority_url = \"{direct}\""),
            1,
        )
    });
    let started = Instant::now();
    let out = Run::default().output(&config, &["once"]).await;
    assert_exit(&out, 1, "Graph without the CA");
    let stderr = stderr(&out);
    assert!(
        stderr.contains(&format!("cannot connect securely to {https}"))
            && stderr.contains("[source] ca_file"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < NO_RETRY,
        "not retried: {:?}",
        started.elapsed()
    );
    assert_eq!(
        emulator.requests().graph_total(),
        0,
        "no Graph request got through"
    );
    edit(&config, |t| t.replace(&direct, &https));

    std::fs::copy(TLS_CA, dir.path().join("ca.pem")).expect("copies");
    edit(&config, |t| {
        t.replace("groups = [", "ca_file = \"ca.pem\"\ngroups = [")
    });
    let out = Run::default().output(&config, &["check"]).await;
    assert_exit(&out, 0, "check with the CA");
    let out = Run::default().output(&config, &["once", "--json"]).await;
    assert_exit(&out, 0, "once with the CA");
    let report = common::stdout_json(&out);
    assert_eq!(report["users_round"]["kind"], "full");
    assert!(
        common::file_users(dir.path()).len() > 20,
        "a whole cycle ran"
    );
}

/// A SCIM target behind HTTPS with a certificate from a CA this machine does not trust:
/// `check` and `once` fail at once with exit 1 and say what to do, and no request reaches it;
/// with `[target] ca_file` naming that CA, both work and the users are created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_target_with_a_certificate_from_an_unknown_ca_is_refused_until_ca_file_names_it() {
    let emulator = emulator_with(EmulatorOptions::default()).await;
    let (stub, address) = scim_stub(ScimMode::Accept).await;
    let front = TlsFront::bind().await;
    let url = front.url();
    front.forward_to(address);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("scim-token"), SCIM_TOKEN).expect("writes");
    let secret = emulator.client_secret();
    let config = config_with(
        &dir,
        &emulator,
        &secret,
        &scim_rules(&url, "token_file = \"scim-token\""),
    );
    let words = [
        "cannot connect securely",
        "the server's certificate is not trusted",
        "[target] ca_file",
    ];
    refused_untrusted(&config, &[&["check"][..], &["once"]], &words).await;
    assert!(
        stub.authorizations.lock().expect("lock").is_empty(),
        "the token never went to the server it could not verify"
    );

    std::fs::copy(TLS_CA, dir.path().join("ca.pem")).expect("copies");
    edit(&config, |t| {
        t.replace(
            "request_timeout = \"5s\"",
            "request_timeout = \"5s\"\nca_file = \"ca.pem\"",
        )
    });
    let out = Run::default().output(&config, &["check"]).await;
    assert_exit(&out, 0, "check with the CA");
    let out = Run::default().output(&config, &["once", "--json"]).await;
    assert_exit(&out, 0, "once with the CA");
    let created = *stub.created.lock().expect("lock");
    assert!(created > 20, "the users were created over HTTPS: {created}");
}

/// A `ca_file` that cannot be used stops every command that connects, exit 2, naming the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_file_that_cannot_be_used_is_a_config_error_naming_the_key() {
    let emulator = emulator_with(EmulatorOptions::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = emulator.client_secret();
    let config = config_with(&dir, &emulator, &secret, CLI_RULES);
    std::fs::copy(TLS_SERVER, dir.path().join("server.pem")).expect("copies");
    let key_only = std::fs::read_to_string(TLS_SERVER)
        .expect("reads")
        .split("-----BEGIN PRIVATE KEY-----")
        .nth(1)
        .map(|k| format!("-----BEGIN PRIVATE KEY-----{k}"))
        .expect("a key");
    std::fs::write(dir.path().join("key-only.pem"), key_only).expect("writes");
    let good = std::fs::read_to_string(&config).expect("reads");
    for (file, says) in [
        ("missing.pem", "missing.pem: cannot be read"),
        ("key-only.pem", "holds no certificate"),
    ] {
        std::fs::write(
            &config,
            good.replace("groups = [", &format!("ca_file = \"{file}\"\ngroups = [")),
        )
        .expect("writes");
        for args in [&["check"][..], &["once"], &["run"]] {
            let out = Run::default().output(&config, args).await;
            assert_exit(&out, 2, &format!("{file}: {args:?}"));
            let stderr = stderr(&out);
            assert!(
                stderr.contains("[source] ca_file") && stderr.contains(says),
                "{stderr}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Where Graph's token goes

/// Graph's token goes only to `[source] graph_url`: a stored delta link that leads elsewhere
/// (graph_url changed since) starts its query over as a full round, and a link on a page that
/// leads elsewhere fails the cycle; neither is followed with the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_another_host_is_never_followed_with_the_token() {
    let old = emulator_with(EmulatorOptions::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_with(&dir, &old, &old.client_secret(), CLI_RULES);
    let out = Run::default().output(&config, &["once"]).await;
    assert_exit(&out, 0, "the first cycle stores links to the old Graph");
    // graph_url moves (a proxy, another cloud): the stored links still lead to the old one.
    let new = emulator_with(EmulatorOptions::default()).await;
    edit(&config, |t| t.replace(old.base_url(), new.base_url()));
    std::fs::write(dir.path().join("client-secret"), new.client_secret()).expect("writes");
    let before = old.requests().graph_total();
    let out = Run::default().output(&config, &["once", "--json"]).await;
    assert_exit(&out, 0, "a full round from the new graph_url");
    assert!(
        stderr(&out).contains("a stored delta link leads elsewhere than [source] graph_url"),
        "{}",
        stderr(&out)
    );
    assert_eq!(common::stdout_json(&out)["users_round"]["kind"], "full");
    assert_eq!(
        old.requests().graph_total(),
        before,
        "the old Graph got no request (and no token)"
    );

    // A Graph whose pages link to another host.
    let (stub, address) = scim_stub(ScimMode::Refuse).await;
    let elsewhere = format!("http://{address}");
    let options = EmulatorOptions {
        user_page_size: 5,
        public_url: Some(elsewhere.clone()),
        ..EmulatorOptions::default()
    };
    let lying = emulator_with(options).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_with(&dir, &lying, &lying.client_secret(), CLI_RULES);
    edit(&config, |t| {
        t.replace(&elsewhere, &format!("http://{}", lying.local_addr()))
    });
    let out = Run::default().output(&config, &["once"]).await;
    assert_exit(&out, 1, "a link elsewhere");
    let err = stderr(&out);
    assert!(
        err.contains(&elsewhere) && err.contains("[source] graph_url"),
        "names where the link led and the key: {err}"
    );
    assert!(
        stub.authorizations.lock().expect("lock").is_empty(),
        "the other host got no request (and no token)"
    );
}

/// A recorder of every request body, and a server that answers every request with a 307 to it.
async fn redirect_to_recorder() -> (Arc<Mutex<Vec<String>>>, SocketAddr) {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let recorder = axum::Router::new().fallback(move |body: String| {
        let seen = seen.clone();
        async move {
            seen.lock().expect("lock").push(body);
            StatusCode::NOT_FOUND
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let target = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, recorder).await;
    });
    let redirect = axum::Router::new().fallback(move |uri: axum::http::Uri| async move {
        (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", format!("http://{target}{uri}"))],
        )
            .into_response()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, redirect).await;
    });
    (bodies, address)
}

/// A token endpoint that answers with a 307 to another host had the token request — the client
/// secret in its body — sent again there (reqwest drops the Authorization header on such a
/// redirect, not a body). No client follows a redirect to another origin now: the token
/// endpoint's says where it pointed and what to set, and a SCIM target's is its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_host_never_gets_the_client_secret() {
    let (bodies, address) = redirect_to_recorder().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = echo_config(&dir, address);
    let out = Run::default().output(&config, &["check"]).await;
    assert_exit(&out, 1, "a token endpoint that redirects elsewhere");
    assert!(
        stderr(&out).contains("answered 307, a redirect to http://127.0.0.1:")
            && stderr(&out).contains("set authority_url"),
        "{}",
        stderr(&out)
    );
    assert!(
        bodies.lock().expect("lock").is_empty(),
        "the other host got nothing"
    );

    let emulator = emulator_with(EmulatorOptions::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("scim-token"), SCIM_TOKEN).expect("writes");
    let rules = scim_rules(&format!("http://{address}"), "token_file = \"scim-token\"");
    let config = config_with(&dir, &emulator, &emulator.client_secret(), &rules);
    let out = Run::default().output(&config, &["check"]).await;
    assert_exit(&out, 1, "a SCIM target that redirects elsewhere");
    assert!(stderr(&out).contains("307"), "{}", stderr(&out));
    assert!(
        bodies.lock().expect("lock").is_empty(),
        "the other host got nothing"
    );
}
