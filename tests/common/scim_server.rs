//! A real SCIM 2.0 server for the integration tests: `scim2-server` 0.8.3 from PyPI (strict,
//! RFC 7643/7644-correct, in memory), behind a small counting proxy written here.
//!
//! Include it from a test file as `#[path = "common/scim_server.rs"] mod scim_server;` (or as a
//! submodule of `tests/common`). It uses std, tokio, axum, reqwest and serde_json only.
//!
//! # Install
//! [`start`] first makes sure `scim2-server==0.8.3` is installed in a virtualenv at
//! `$CARGO_TARGET_TMPDIR/scim-venv` (`target/tmp/scim-venv`), with `python3 -m venv` and that
//! venv's pip. An existing venv is reused when its marker file, written at the end of a complete
//! install, names [`SCIM2_SERVER_VERSION`] and `scim2-server --help` runs; otherwise it is deleted
//! and installed anew (so changing the version reinstalls).
//! pip and venv write to `target/tmp/scim-venv-install.log`, which a failure names (and quotes
//! the end of, so that a CI log shows it).
//!
//! Many tests, in several test binaries run at once, may start at the same moment; the install
//! happens exactly once. Within a process a `OnceLock` holds the outcome. Across processes the
//! lock is the file `target/tmp/scim-venv.lock`, taken with `OpenOptions::create_new` (atomic on
//! every local file system; `File::lock` would need Rust 1.89, above the crate's 1.85). Its
//! holder writes its pid into it and removes it when done (also when it panics). The others poll
//! every 200 ms, then check the venv again. A lock is stale, and removed, when the process
//! whose pid it holds is gone (checked through `/proc`, where there is one) or when it is older
//! than [`STALE_LOCK_AFTER`] (an install is killed after [`INSTALL_TIMEOUT`]); this is what a test
//! run killed mid-install leaves behind. A holder that fails writes its message to
//! `target/tmp/scim-venv.failed`, and the processes that waited for it fail with that message
//! instead of installing again one after the other.
//!
//! # Servers
//! Each [`start`] runs its own server (its own empty store) on a free port: bind 127.0.0.1:0,
//! release the port, start `scim2-server --hostname 127.0.0.1 --port P --bearer-token T` on it
//! with a random token, and poll `GET /v2/Users?count=0` with the token (up to
//! [`READY_TIMEOUT`]). If another process took the port in between, the server exits with
//! "Address already in use" and the harness retries on a new port. The server runs in its own
//! process group under a tiny `sh` watchdog that kills it when the test process's end of a pipe
//! closes, so a test binary killed with SIGKILL leaves no server behind; dropping the
//! [`ScimServer`] kills the whole group. Its output (one access-log line per request) goes to a
//! file under `target/tmp/scim-server-logs/`, kept when the test panics and removed otherwise.
//! There is no skipping: a missing `python3` or an install that fails panics, in CI and outside.
//!
//! # Counting proxy
//! The server does not count requests, so [`ScimServer::base_url`] points at a proxy (axum, on
//! its own thread and runtime, so that it keeps serving even while a test blocks its own
//! runtime, e.g. waiting for a child process) that forwards each request unchanged (method, path,
//! query, headers including `Host`, body) and answers with the server's status, headers
//! (`content-type`, `location`, `etag`, ...) and body, after recording a [`RecordedRequest`].
//! Because `Host` is forwarded, the `location` headers and `meta.location` values name the
//! proxy. The helpers [`ScimServer::users`], [`ScimServer::groups`], [`ScimServer::get_json`]
//! and [`ScimServer::create`] talk to the server directly ([`ScimServer::upstream_url`]), so they
//! are never counted.
//!
//! What scim2-server 0.8.3 does with Entra's dialect is asserted, with comments, in
//! `tests/scim_server_probe.rs`.
#![allow(dead_code)] // each test file uses its own subset

use std::collections::hash_map::RandomState;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::future::IntoFuture;
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The one version the tests run against.
pub const SCIM2_SERVER_VERSION: &str = "0.8.3";
/// The longest a `python3 -m venv` or the `pip install` may take before it is killed.
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// A lock file older than this is a leftover, whoever's pid it holds.
pub const STALE_LOCK_AFTER: Duration = Duration::from_secs(900);
/// How long a started server has to answer.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The page size the listing helpers ask for (scim2-server's own default is maxResults, 1000).
pub const LIST_PAGE_SIZE: usize = 50;

/// Written last by a complete install, holding the version installed.
const READY_MARKER: &str = ".entrasync-ready";
const PORT_ATTEMPTS: usize = 5;
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One request the proxy forwarded, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, ...
    pub method: String,
    /// The path as the client sent it, with the `/v2` prefix: `/v2/Users/1f3...`.
    pub path: String,
    /// The raw (still percent-encoded) query string, without `?`.
    pub query: Option<String>,
    /// `None` for an empty body; the parsed JSON; for a body that is not JSON, a JSON string
    /// holding its text.
    pub body: Option<Value>,
    /// The request's `content-type` header.
    pub content_type: Option<String>,
    /// The status the server answered (502 when the proxy could not reach it).
    pub status: u16,
}

impl RecordedRequest {
    /// POST, PUT, PATCH or DELETE.
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }
}

/// A way for the proxy to make a request go wrong (fault tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetFault {
    /// Answer this status (with `Retry-After: 0` for 429 and 503) instead of the server's.
    Status(u16),
    /// Answer nothing for this long (longer than the client's request timeout).
    Stall(Duration),
    /// 409 Conflict to a POST (the user "already exists").
    ConflictOnCreate,
}

/// When a [`TargetFault`] fires: on one request in `one_in`, before or after the server did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    pub fault: TargetFault,
    pub one_in: u32,
    /// The server does the request first, then the client gets the fault: the write landed but
    /// the answer says otherwise — the hardest case for the client.
    pub after_forwarding: bool,
}

#[derive(Debug, Default)]
struct FaultState {
    plan: Option<FaultPlan>,
    seen: u32,
    fired: u32,
}

/// A running scim2-server and the counting proxy in front of it. Dropping it stops both.
pub struct ScimServer {
    /// The proxy's SCIM base URL, `http://127.0.0.1:PORT/v2`: what the code under test gets.
    pub base_url: String,
    /// The bearer token the server accepts (and the only one).
    pub token: String,
    /// The server's own base URL, `http://127.0.0.1:PORT/v2`: requests there are not recorded.
    pub upstream_url: String,
    /// The server's output (its access log is on stderr).
    pub log_path: PathBuf,
    recorded: Arc<Mutex<Vec<RecordedRequest>>>,
    faults: Arc<Mutex<FaultState>>,
    client: reqwest::Client,
    proxy: Proxy,
    process: ServerProcess,
}

/// Installs scim2-server if needed and starts a fresh one behind a counting proxy; panics with
/// one message naming what failed and the log to read.
pub async fn start() -> ScimServer {
    match try_start().await {
        Ok(server) => server,
        Err(message) => panic!(
            "the SCIM test server (scim2-server {SCIM2_SERVER_VERSION}) is not available: {message}"
        ),
    }
}

impl ScimServer {
    /// Every request the proxy forwarded since the start or the last [`Self::reset_requests`].
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.recorded).clone()
    }

    /// How many of them were writes (POST, PUT, PATCH, DELETE).
    pub fn writes(&self) -> usize {
        lock(&self.recorded).iter().filter(|r| r.is_write()).count()
    }

    /// Forgets the requests recorded so far.
    pub fn reset_requests(&self) {
        lock(&self.recorded).clear();
    }

    /// From now on, the proxy makes requests go wrong as `plan` says (`None`: no more faults).
    pub fn set_faults(&self, plan: Option<FaultPlan>) {
        *lock(&self.faults) = FaultState {
            plan,
            ..FaultState::default()
        };
    }

    /// How many requests the faults hit since [`Self::set_faults`].
    pub fn faults_fired(&self) -> u32 {
        lock(&self.faults).fired
    }

    /// All Users, following the pages (`startIndex`, `count` = [`LIST_PAGE_SIZE`]); not recorded.
    pub async fn users(&self) -> Vec<Value> {
        self.list("Users").await
    }

    /// All Groups, members included, following the pages; not recorded.
    pub async fn groups(&self) -> Vec<Value> {
        self.list("Groups").await
    }

    /// All resources of `endpoint` (`"Users"`, `"Groups"`), following the pages; not recorded.
    pub async fn list(&self, endpoint: &str) -> Vec<Value> {
        let mut resources = Vec::new();
        let mut start_index = 1;
        loop {
            let query = format!("{endpoint}?startIndex={start_index}&count={LIST_PAGE_SIZE}");
            let page = self.get_json(&query).await;
            let total = page["totalResults"]
                .as_u64()
                .unwrap_or_else(|| panic!("GET {query}: no totalResults in {page}"));
            let found = page["Resources"].as_array().cloned().unwrap_or_default();
            let count = found.len();
            resources.extend(found);
            if count == 0 || resources.len() as u64 >= total {
                return resources;
            }
            start_index += count;
        }
    }

    /// `GET {upstream_url}/{path_and_query}` (e.g. `"Users/ID"`), which must answer 200; not
    /// recorded.
    pub async fn get_json(&self, path_and_query: &str) -> Value {
        let url = format!(
            "{}/{}",
            self.upstream_url,
            path_and_query.trim_start_matches('/')
        );
        let response = self
            .client
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {url}: {err}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status.as_u16(), 200, "GET {url} answered {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("GET {url}: {err} in {text}"))
    }

    /// `POST {upstream_url}/{endpoint}` of `resource`, which must answer 201; returns the created
    /// resource. For seeding the application's side; not recorded.
    pub async fn create(&self, endpoint: &str, resource: Value) -> Value {
        let url = format!("{}/{}", self.upstream_url, endpoint.trim_start_matches('/'));
        let response = self
            .client
            .post(&url)
            .bearer_auth(&self.token)
            .header("content-type", "application/scim+json")
            .body(resource.to_string())
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST {url}: {err}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(
            status.as_u16(),
            201,
            "POST {url} of {resource} answered {status}: {text}"
        );
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("POST {url}: {err} in {text}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Starting

async fn try_start() -> Result<ScimServer, String> {
    let executable = tokio::task::spawn_blocking(ensure_installed)
        .await
        .map_err(|err| format!("the install task failed: {err}"))??;
    let token = format!("scim-test-{}", random_hex());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|err| format!("could not build an HTTP client: {err}"))?;

    let mut last_error = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port().map_err(|err| format!("could not find a free port: {err}"))?;
        let mut process = ServerProcess::spawn(&executable, port, &token)?;
        match wait_until_ready(&client, &mut process, port, &token).await {
            Ok(()) => {
                let upstream_origin = format!("http://127.0.0.1:{port}");
                let recorded = Arc::new(Mutex::new(Vec::new()));
                let faults = Arc::new(Mutex::new(FaultState::default()));
                let proxy = Proxy::start(upstream_origin.clone(), recorded.clone(), faults.clone())
                    .map_err(|err| {
                        process.keep_log = true;
                        format!("could not start the counting proxy: {err}")
                    })?;
                return Ok(ScimServer {
                    base_url: format!("http://{}/v2", proxy.address),
                    token,
                    upstream_url: format!("{upstream_origin}/v2"),
                    log_path: process.log_path.clone(),
                    recorded,
                    faults,
                    client,
                    proxy,
                    process,
                });
            }
            Err(Failure::PortTaken) => {
                last_error = format!("port {port} was taken before the server could bind it");
            }
            Err(Failure::Fatal(message)) => {
                process.keep_log = true;
                return Err(message);
            }
        }
    }
    Err(format!("{last_error}, {PORT_ATTEMPTS} times in a row"))
}

enum Failure {
    PortTaken,
    Fatal(String),
}

async fn wait_until_ready(
    client: &reqwest::Client,
    process: &mut ServerProcess,
    port: u16,
    token: &str,
) -> Result<(), Failure> {
    let probe = format!("http://127.0.0.1:{port}/v2/Users?count=0");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = process.exited() {
            let output = fs::read_to_string(&process.log_path).unwrap_or_default();
            if output.contains("Address already in use") {
                return Err(Failure::PortTaken);
            }
            return Err(Failure::Fatal(format!(
                "scim2-server exited ({status}) before answering; its output is in {}:\n{}",
                process.log_path.display(),
                tail(&output, 30)
            )));
        }
        let last = match client.get(&probe).bearer_auth(token).send().await {
            // Another test's server may answer on a port that was ours for a moment: only a 200
            // to our token from a process that is still running counts.
            Ok(response) if response.status().as_u16() == 200 && process.exited().is_none() => {
                return Ok(());
            }
            Ok(response) => format!("it answered {}", response.status()),
            Err(err) => err.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(Failure::Fatal(format!(
                "scim2-server did not answer GET {probe} with 200 within {READY_TIMEOUT:?} \
                 (last: {last}); its output is in {}",
                process.log_path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Runs a program (given as `$@`) with its stdin closed, and kills it when this shell's stdin,
/// a pipe from the test process, reaches end of file: the test process dropped the handle or
/// died, even by SIGKILL. It exits with the program's status.
const WATCHDOG: &str = r#"exec 3<&0
"$@" </dev/null 3<&- &
watched=$!
( read -r _ <&3; kill -KILL "$watched" 2>/dev/null ) &
wait "$watched""#;

/// `program args...` under [`WATCHDOG`], in a process group of its own whose id is the
/// returned child's pid. Keep the child's stdin open for as long as the program may run.
fn watched<A: AsRef<OsStr>>(program: &Path, args: impl IntoIterator<Item = A>) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(WATCHDOG)
        .arg("sh")
        .arg(program)
        .args(args)
        .stdin(Stdio::piped())
        .process_group(0);
    command
}

/// Kills the process group `group` (the watchdog, the program and the watchdog's subshell).
fn kill_group(group: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{group}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

struct ServerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    log_path: PathBuf,
    keep_log: bool,
    status: Option<std::process::ExitStatus>,
}

impl ServerProcess {
    fn spawn(executable: &Path, port: u16, token: &str) -> Result<ServerProcess, String> {
        static SERVERS: AtomicU64 = AtomicU64::new(0);
        let dir = work_dir().join("scim-server-logs");
        fs::create_dir_all(&dir)
            .map_err(|err| format!("could not create {}: {err}", dir.display()))?;
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        let log_path = dir.join(format!("{}-{n}-port{port}.log", std::process::id()));
        let log = File::create(&log_path)
            .map_err(|err| format!("could not create {}: {err}", log_path.display()))?;
        let stderr = log
            .try_clone()
            .map_err(|err| format!("could not share {}: {err}", log_path.display()))?;
        let port = port.to_string();
        let args = [
            "--hostname",
            "127.0.0.1",
            "--port",
            &port,
            "--bearer-token",
            token,
        ];
        let mut child = watched(executable, args)
            .env("PYTHONUNBUFFERED", "1")
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|err| format!("could not run sh to start {}: {err}", executable.display()))?;
        let stdin = child.stdin.take();
        Ok(ServerProcess {
            child,
            stdin,
            log_path,
            keep_log: false,
            status: None,
        })
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Closing the pipe alone would also stop the server, but not synchronously.
        kill_group(self.child.id());
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep_log && !std::thread::panicking() {
            let _ = fs::remove_file(&self.log_path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Installing

fn work_dir() -> PathBuf {
    match option_env!("CARGO_TARGET_TMPDIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("tmp"),
    }
}

/// Where the virtualenv lives: `$CARGO_TARGET_TMPDIR/scim-venv`.
pub fn venv_dir() -> PathBuf {
    work_dir().join("scim-venv")
}

/// Where the last install wrote pip's and venv's output.
pub fn install_log_path() -> PathBuf {
    work_dir().join("scim-venv-install.log")
}

fn lock_path() -> PathBuf {
    work_dir().join("scim-venv.lock")
}

fn failure_path() -> PathBuf {
    work_dir().join("scim-venv.failed")
}

fn executable(venv: &Path) -> PathBuf {
    venv.join("bin").join("scim2-server")
}

/// The path of a working `scim2-server`, installed once per machine and checked once per process.
fn ensure_installed() -> Result<PathBuf, String> {
    static INSTALLED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALLED.get_or_init(install_once).clone()
}

fn install_once() -> Result<PathBuf, String> {
    let venv = venv_dir();
    if venv_works(&venv) {
        return Ok(executable(&venv));
    }
    let dir = work_dir();
    fs::create_dir_all(&dir).map_err(|err| format!("could not create {}: {err}", dir.display()))?;
    let lock = lock_path();
    let waiting_since = SystemTime::now();
    let give_up = Instant::now() + STALE_LOCK_AFTER + Duration::from_secs(60);
    let mut waited = false;
    loop {
        match OpenOptions::new().write(true).create_new(true).open(&lock) {
            Ok(mut file) => {
                let _ = writeln!(file, "{}", std::process::id());
                let _guard = LockGuard(lock.clone());
                // Whoever held the lock before may have installed it meanwhile.
                if venv_works(&venv) {
                    return Ok(executable(&venv));
                }
                if waited {
                    if let Some(message) = failure_since(waiting_since) {
                        return Err(message);
                    }
                }
                let started = Instant::now();
                let result = install(&venv);
                match &result {
                    Ok(_) => {
                        let _ = fs::remove_file(failure_path());
                        eprintln!(
                            "scim2-server {SCIM2_SERVER_VERSION} installed into {} in {:.1?} (log: {})",
                            venv.display(),
                            started.elapsed(),
                            install_log_path().display()
                        );
                    }
                    Err(message) => {
                        let _ = fs::write(failure_path(), message);
                    }
                }
                return result;
            }
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                waited = true;
                if let Some(why) = stale(&lock) {
                    eprintln!("removing the stale lock {} ({why})", lock.display());
                    let _ = fs::remove_file(&lock);
                    continue;
                }
                if Instant::now() >= give_up {
                    return Err(format!(
                        "waited {:?} for another process's install (lock {}, holder pid {}); \
                         its output is in {}",
                        STALE_LOCK_AFTER + Duration::from_secs(60),
                        lock.display(),
                        fs::read_to_string(&lock).unwrap_or_default().trim(),
                        install_log_path().display()
                    ));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(err) => {
                return Err(format!(
                    "could not create the lock {}: {err}",
                    lock.display()
                ));
            }
        }
    }
}

/// Removes the lock file when the install is over, also when it panics.
struct LockGuard(PathBuf);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Why `lock` is a leftover, if it is one.
fn stale(lock: &Path) -> Option<String> {
    let metadata = fs::metadata(lock).ok()?;
    let age = metadata
        .modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .unwrap_or_default();
    if age > STALE_LOCK_AFTER {
        return Some(format!("{age:.0?} old"));
    }
    let pid: u32 = fs::read_to_string(lock).ok()?.trim().parse().ok()?;
    let proc = Path::new("/proc");
    if proc.join("self").exists() && !proc.join(pid.to_string()).exists() {
        return Some(format!("process {pid}, which took it, is gone"));
    }
    None
}

/// The failure message a holder we waited for left, if it failed after we started waiting.
fn failure_since(since: SystemTime) -> Option<String> {
    let path = failure_path();
    let modified = fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    fs::read_to_string(&path).ok()
}

fn venv_works(venv: &Path) -> bool {
    fs::read_to_string(venv.join(READY_MARKER)).is_ok_and(|v| v == SCIM2_SERVER_VERSION)
        && Command::new(executable(venv))
            .arg("--help")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}

fn install(venv: &Path) -> Result<PathBuf, String> {
    let log_path = install_log_path();
    let mut log = File::create(&log_path)
        .map_err(|err| format!("could not create {}: {err}", log_path.display()))?;
    let fail = |message: String| {
        let output = fs::read_to_string(&log_path).unwrap_or_default();
        format!(
            "installing scim2-server=={SCIM2_SERVER_VERSION} into {} failed: {message}; \
             the output is in {}; its end:\n{}",
            venv.display(),
            log_path.display(),
            tail(&output, 30)
        )
    };
    if venv.exists() {
        // A broken venv or one a killed install left half done (it has no marker).
        let _ = writeln!(log, "removing the unusable {}", venv.display());
        fs::remove_dir_all(venv).map_err(|err| fail(format!("could not remove it: {err}")))?;
    }
    let venv_args = [OsStr::new("-m"), OsStr::new("venv"), venv.as_os_str()];
    run_logged(Path::new("python3"), venv_args, &mut log, "python3 -m venv").map_err(
        |message| {
            fail(format!(
                "{message} (python3 and its venv module, Debian's python3-venv, are needed)"
            ))
        },
    )?;
    let requirement = format!("scim2-server=={SCIM2_SERVER_VERSION}");
    let pip_args = [
        "install",
        "--disable-pip-version-check",
        "--no-input",
        &requirement,
    ];
    let pip = venv.join("bin").join("pip");
    run_logged(
        &pip,
        pip_args,
        &mut log,
        &format!("pip install {requirement}"),
    )
    .map_err(fail)?;
    run_logged(
        &executable(venv),
        ["--help"],
        &mut log,
        "scim2-server --help",
    )
    .map_err(fail)?;
    fs::write(venv.join(READY_MARKER), SCIM2_SERVER_VERSION)
        .map_err(|err| fail(format!("could not write the marker: {err}")))?;
    Ok(executable(venv))
}

/// Runs `program args...` under the watchdog, so that it dies with the test process, with its
/// output appended to `log`; kills it after [`INSTALL_TIMEOUT`].
fn run_logged<A: AsRef<OsStr>>(
    program: &Path,
    args: impl IntoIterator<Item = A>,
    log: &mut File,
    what: &str,
) -> Result<(), String> {
    let _ = writeln!(log, "$ {what}");
    let _ = log.flush();
    let stdout = log
        .try_clone()
        .map_err(|err| format!("could not share the log: {err}"))?;
    let stderr = log
        .try_clone()
        .map_err(|err| format!("could not share the log: {err}"))?;
    let started = Instant::now();
    let mut child = watched(program, args)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|err| format!("could not run `{what}`: {err}"))?;
    // Held until the end: its closing tells the watchdog to kill the program.
    let _stdin = child.stdin.take();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => {
                let _ = writeln!(log, "({what}: done in {:.1?})", started.elapsed());
                return Ok(());
            }
            Ok(Some(status)) => {
                kill_group(child.id());
                return Err(format!("`{what}` failed ({status})"));
            }
            Ok(None) if started.elapsed() > INSTALL_TIMEOUT => {
                kill_group(child.id());
                let _ = child.wait();
                return Err(format!(
                    "`{what}` did not finish within {INSTALL_TIMEOUT:?}"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(err) => return Err(format!("could not wait for `{what}`: {err}")),
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn random_hex() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (0..2u64)
        .map(|i| {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_u64(i);
            hasher.write_u128(nanos);
            hasher.write_u32(std::process::id());
            format!("{:016x}", hasher.finish())
        })
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------------------------
// The counting proxy

struct Proxy {
    address: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct ProxyState {
    upstream_origin: String,
    client: reqwest::Client,
    recorded: Arc<Mutex<Vec<RecordedRequest>>>,
    faults: Arc<Mutex<FaultState>>,
}

impl Proxy {
    fn start(
        upstream_origin: String,
        recorded: Arc<Mutex<Vec<RecordedRequest>>>,
        faults: Arc<Mutex<FaultState>>,
    ) -> std::io::Result<Proxy> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(std::io::Error::other)?;
        let state = Arc::new(ProxyState {
            upstream_origin,
            client,
            recorded,
            faults,
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("scim-proxy-{}", address.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(err) => {
                            return eprintln!("the SCIM counting proxy could not listen: {err}");
                        }
                    };
                    let app = axum::Router::new().fallback(forward).with_state(state);
                    tokio::select! {
                        result = axum::serve(listener, app).into_future() => {
                            if let Err(err) = result {
                                eprintln!("the SCIM counting proxy stopped: {err}");
                            }
                        }
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here cancels the connections still open.
            })?;
        Ok(Proxy {
            address,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Headers that belong to one connection, not to the message; the body length is set anew.
fn hop_by_hop(name: &axum::http::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
    )
}

async fn forward(
    axum::extract::State(state): axum::extract::State<Arc<ProxyState>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let content_type = parts
        .headers
        .get("content-type")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(err) => {
            return plain(
                502,
                format!("the counting proxy could not read the request body: {err}"),
            );
        }
    };
    let recorded_body = if bytes.is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        )
    };
    let mut record = RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path,
        query,
        body: recorded_body,
        content_type,
        status: 502,
    };

    // Whether a fault hits this request (decided before anything is forwarded).
    let fault = {
        let mut faults = lock(&state.faults);
        let plan = faults.plan;
        plan.filter(|plan| {
            let applies = match plan.fault {
                TargetFault::ConflictOnCreate => parts.method == axum::http::Method::POST,
                _ => true,
            };
            applies && {
                faults.seen += 1;
                faults.seen % plan.one_in.max(1) == 0
            }
        })
        .inspect(|_| faults.fired += 1)
    };
    if let Some(plan) = fault.filter(|p| !p.after_forwarding) {
        record.status = 0;
        lock(&state.recorded).push(record);
        return faulty_answer(plan.fault).await;
    }

    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = state.client.request(
        parts.method.clone(),
        format!("{}{target}", state.upstream_origin),
    );
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            upstream = upstream.header(name, value);
        }
    }
    if !bytes.is_empty() || !matches!(parts.method.as_str(), "GET" | "HEAD" | "DELETE") {
        upstream = upstream.body(bytes);
    }
    let answer = match upstream.send().await {
        Ok(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            match response.bytes().await {
                Ok(body) => {
                    record.status = status.as_u16();
                    let mut out = axum::response::Response::new(axum::body::Body::from(body));
                    *out.status_mut() = status;
                    for (name, value) in &headers {
                        if !hop_by_hop(name) {
                            out.headers_mut().append(name, value.clone());
                        }
                    }
                    out
                }
                Err(err) => plain(
                    502,
                    format!("the counting proxy lost the server's answer: {err}"),
                ),
            }
        }
        Err(err) => plain(
            502,
            format!("the counting proxy could not reach the server: {err}"),
        ),
    };
    lock(&state.recorded).push(record);
    match fault {
        Some(plan) => faulty_answer(plan.fault).await,
        None => answer,
    }
}

/// What the client gets instead of the server's answer.
async fn faulty_answer(fault: TargetFault) -> axum::response::Response {
    match fault {
        TargetFault::Status(status) => {
            let mut out = plain(status, format!("injected {status}"));
            if matches!(status, 429 | 503) {
                out.headers_mut()
                    .insert("retry-after", axum::http::HeaderValue::from_static("0"));
            }
            out
        }
        TargetFault::Stall(time) => {
            tokio::time::sleep(time).await;
            plain(504, "injected stall".into())
        }
        TargetFault::ConflictOnCreate => {
            let mut out = axum::response::Response::new(axum::body::Body::from(
                serde_json::json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": "409",
                    "scimType": "uniqueness",
                    "detail": "injected conflict",
                })
                .to_string(),
            ));
            *out.status_mut() = axum::http::StatusCode::CONFLICT;
            out
        }
    }
}

fn plain(status: u16, text: String) -> axum::response::Response {
    let mut out = axum::response::Response::new(axum::body::Body::from(text));
    *out.status_mut() =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
    out
}
