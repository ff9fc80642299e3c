//! Malformed answers from both sides, through the binary (issue 6, item 4).
//!
//! Graph: the emulator serves a wrong body (`FaultKind::Body`) on one endpoint — not JSON,
//! JSON of the wrong shape, `value` not an array, a user without `id`, wrong types, nulls, a
//! huge string, links that are not URLs or point elsewhere, a delta page without its links.
//! `entrasync once` must exit 1 with one clear last line naming what was wrong, never panic,
//! send the bearer token nowhere but Graph, and leave the snapshot exactly as it was; the next
//! cycle against a healthy emulator converges.
//!
//! SCIM: a hand-rolled HTTP server (`Canned`) stands in for a broken SCIM endpoint — an HTML
//! error page, a create answered without `id`, a lookup whose `Resources` is not an array, 200
//! with an empty body, 2 GB announced and the connection closed, a body that never ends (and
//! Graph's the same). entrasync must report
//! per-user failures (exit 3) or a clean cycle error (exit 1), never panic, and never record a
//! push the target did not confirm (the pushed state is read back from the snapshot).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{assert_exit, demo_setup, entrasync, set_department};
use entrasync::emulator::{Emulator, Endpoint, FaultKind, FaultRule};
use entrasync::snapshot::{Snapshot, SourceState};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ANNA: &str = "anna.berg@contoso.com";

/// Two permission groups over the demo tenant, into a file target.
const RULES: &str = r#"
[[permission_groups]]
name = "Full User"
aliases = ["Stratsys Full Users", "Strategy Team"]
priority = 1

[[permission_groups]]
name = "Reader"
aliases = ["Stratsys Readers", "Stratsys Reporters"]
priority = 2

[target]
kind = "file"
path = "users.json"
"#;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts no panic and returns the last line of standard error.
fn last_line(out: &Output, what: &str) -> String {
    let err = stderr(out);
    for panic in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!err.contains(panic), "{what}: {err}");
    }
    err.trim_end().lines().last().unwrap_or_default().to_owned()
}

/// Everything the next cycle starts from, read from the snapshot while no entrasync runs.
fn snapshot_state(dir: &Path) -> (SourceState, String) {
    let snapshot = Snapshot::open(&dir.join("state"))
        .expect("the snapshot opens")
        .snapshot;
    let state = snapshot.source_state().expect("the source state reads");
    let pushed = format!("{:?}", snapshot.pushed().expect("the pushed state reads"));
    (state, pushed)
}

/// A port that counts the connections made to it: where a hostile link points.
struct Elsewhere {
    url: String,
    connections: Arc<AtomicUsize>,
}

async fn elsewhere() -> Elsewhere {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    Elsewhere { url, connections }
}

/// One malformed Graph answer.
struct GraphCase {
    name: &'static str,
    endpoint: Endpoint,
    /// The body, given the emulator's base URL and a URL elsewhere.
    body: fn(&str, &str) -> Vec<u8>,
    /// The status it is served with.
    status: u16,
    /// Words the last line must hold.
    says: &'static [&'static str],
    /// `once` arguments (on demand reads other endpoints).
    args: &'static [&'static str],
}

fn graph_cases() -> Vec<GraphCase> {
    let case = |name, endpoint, body, says| GraphCase {
        name,
        endpoint,
        body,
        status: 200,
        says,
        args: &[],
    };
    vec![
        case(
            "a proxy's HTML page",
            Endpoint::UsersDelta,
            |_, _| b"<html><body><h1>Sign in to the proxy</h1></body></html>".to_vec(),
            &[
                "gave up on GET /v1.0/users/delta",
                "a body that is not JSON",
            ],
        ),
        case(
            "an empty body",
            Endpoint::UsersDelta,
            |_, _| Vec::new(),
            &[
                "gave up on GET /v1.0/users/delta",
                "a body that ends too soon",
            ],
        ),
        case(
            "value not an array",
            Endpoint::UsersDelta,
            |base, _| {
                json!({"value": {"id": "1"}, "@odata.deltaLink": format!("{base}/v1.0/users/delta?$deltatoken=x")})
                    .to_string()
                    .into_bytes()
            },
            &[
                "Graph sent JSON of another shape than expected",
                "GET /v1.0/users/delta",
                "the next cycle tries again",
            ],
        ),
        case(
            "a user without id",
            Endpoint::UsersDelta,
            |base, _| {
                json!({"value": [{"userPrincipalName": "nobody@contoso.com"}],
                       "@odata.deltaLink": format!("{base}/v1.0/users/delta?$deltatoken=x")})
                .to_string()
                .into_bytes()
            },
            &[
                "another shape",
                "missing field `id`",
                "GET /v1.0/users/delta",
            ],
        ),
        case(
            "accountEnabled as a word",
            Endpoint::UsersDelta,
            |base, _| {
                json!({"value": [{"id": "1", "accountEnabled": "yes"}],
                       "@odata.deltaLink": format!("{base}/v1.0/users/delta?$deltatoken=x")})
                .to_string()
                .into_bytes()
            },
            &["another shape", "\"yes\"", "a boolean"],
        ),
        case(
            "null everywhere",
            Endpoint::UsersDelta,
            |_, _| {
                br#"{"value": [null, {"id": null}], "@odata.nextLink": null, "@odata.deltaLink": null}"#
                    .to_vec()
            },
            &["another shape", "null", "GET /v1.0/users/delta"],
        ),
        case(
            "a body that is JSON null",
            Endpoint::GroupsDelta,
            |_, _| b"null".to_vec(),
            &["another shape", "GET /v1.0/groups/delta"],
        ),
        case(
            "a 5 MB string where the array goes",
            Endpoint::UsersDelta,
            |_, _| format!(r#"{{"value": "{}"}}"#, "A".repeat(5 << 20)).into_bytes(),
            &["another shape", "…", "GET /v1.0/users/delta"],
        ),
        case(
            "members@delta not an array",
            Endpoint::GroupsDelta,
            |base, _| {
                json!({"value": [{"id": "g", "members@delta": "everyone"}],
                       "@odata.deltaLink": format!("{base}/v1.0/groups/delta?$deltatoken=x")})
                .to_string()
                .into_bytes()
            },
            &["another shape", "\"everyone\"", "GET /v1.0/groups/delta"],
        ),
        case(
            "a delta page without either link",
            Endpoint::UsersDelta,
            |_, _| br#"{"value": [{"id": "1"}]}"#.to_vec(),
            &[
                "neither @odata.nextLink nor @odata.deltaLink",
                "GET /v1.0/users/delta",
            ],
        ),
        case(
            "a nextLink that is not a URL",
            Endpoint::UsersDelta,
            |_, _| br#"{"value": [], "@odata.nextLink": "page two, please"}"#.to_vec(),
            &["an @odata.nextLink that is not a URL", "graph_url"],
        ),
        case(
            "a nextLink to another host",
            Endpoint::UsersDelta,
            |_, elsewhere| {
                json!({"value": [], "@odata.nextLink": format!("{elsewhere}/v1.0/users/delta?$skiptoken=2")})
                    .to_string()
                    .into_bytes()
            },
            &[
                "an @odata.nextLink to http://127.0.0.1:",
                "the bearer token goes only to [source] graph_url",
            ],
        ),
        case(
            "a deltaLink to another host",
            Endpoint::GroupsDelta,
            |_, elsewhere| {
                json!({"value": [], "@odata.deltaLink": format!("{elsewhere}/v1.0/groups/delta?$deltatoken=x")})
                    .to_string()
                    .into_bytes()
            },
            &[
                "an @odata.deltaLink to http://127.0.0.1:",
                "GET /v1.0/groups/delta",
            ],
        ),
        case(
            "a nextLink to the page itself",
            Endpoint::UsersDelta,
            |base, _| {
                // The incremental round's first request is the stored delta link; the fault
                // answers every page, so any page pointing to a fixed URL loops unless refused.
                json!({"value": [], "@odata.nextLink": format!("{base}/v1.0/users/delta?$skiptoken=same")})
                    .to_string()
                    .into_bytes()
            },
            &[
                "an @odata.nextLink to the page it is on",
                "GET /v1.0/users/delta",
            ],
        ),
        GraphCase {
            name: "an HTML error page with 502",
            status: 502,
            ..case(
                "",
                Endpoint::UsersDelta,
                |_, _| b"<html>Bad Gateway</html>".to_vec(),
                &[
                    "Graph answered 502 Bad Gateway to GET /v1.0/users/delta",
                    "without Graph's error body",
                ],
            )
        },
        GraphCase {
            name: "an HTML page with 503, retried",
            status: 503,
            ..case(
                "",
                Endpoint::UsersDelta,
                |_, _| b"<html>Service Unavailable</html>".to_vec(),
                &[
                    "gave up on GET /v1.0/users/delta",
                    "attempts",
                    "503 Service Unavailable",
                ],
            )
        },
        GraphCase {
            name: "a 404 whose body is not Graph's error",
            status: 404,
            ..case(
                "",
                Endpoint::UsersDelta,
                |_, _| b"{\"message\": \"not here\"}".to_vec(),
                &["Graph answered 404", "GET /v1.0/users/delta"],
            )
        },
        case(
            "a token answer that is HTML",
            Endpoint::Token,
            |_, _| b"<html>login</html>".to_vec(),
            &["cannot get a token for tenant"],
        ),
        case(
            "a token answer without a token",
            Endpoint::Token,
            |_, _| br#"{"token_type": "Bearer", "expires_in": "soon"}"#.to_vec(),
            &["cannot get a token for tenant"],
        ),
        GraphCase {
            name: "a token error of several lines and 100 KB",
            status: 400,
            ..case(
                "",
                Endpoint::Token,
                |_, _| {
                    json!({"error": "invalid_client\n\u{1b}[2Jspoofed",
                           "error_description": format!("AADSTS7000215: {}", "x".repeat(100_000))})
                    .to_string()
                    .into_bytes()
                },
                &["cannot get a token for tenant", "AADSTS7000215"],
            )
        },
        GraphCase {
            name: "on demand: a user of the wrong shape",
            args: &["--user", ANNA],
            ..case(
                "",
                Endpoint::User,
                |_, _| br#"{"id": 42, "userPrincipalName": []}"#.to_vec(),
                &["another shape", "GET /v1.0/users/"],
            )
        },
        GraphCase {
            name: "on demand: a member page linking elsewhere",
            args: &["--group", "Stratsys Readers"],
            ..case(
                "",
                Endpoint::Members,
                |_, elsewhere| {
                    json!({"value": [{"id": "x"}], "@odata.nextLink": format!("{elsewhere}/v1.0/groups/g/members")})
                        .to_string()
                        .into_bytes()
                },
                &["an @odata.nextLink to http://127.0.0.1:", "/members"],
            )
        },
    ]
}

/// A tenant with one healthy cycle behind it and a change waiting (so the failing cycle is an
/// incremental one with something to lose).
async fn after_one_cycle() -> (Emulator, tempfile::TempDir, PathBuf) {
    let (emulator, dir, config) = demo_setup(RULES).await;
    let out = entrasync(&config, &["once"]).await;
    assert_exit(&out, 0, "the first, healthy cycle");
    set_department(&emulator, ANNA, "Finance");
    (emulator, dir, config)
}

/// Runs one Graph case; returns what was wrong with it, if anything.
async fn run_graph_case(case: &GraphCase) -> Vec<String> {
    let (emulator, dir, config) = after_one_cycle().await;
    let away = elsewhere().await;
    let users_file = dir.path().join("users.json");
    let file_before = std::fs::read(&users_file).expect("the file target");
    let before = snapshot_state(dir.path());
    let body = (case.body)(emulator.base_url(), &away.url);
    emulator.faults().add(
        FaultRule::new(FaultKind::Body {
            status: case.status,
            body,
        })
        .on(case.endpoint)
        .always(),
    );
    let mut args = vec!["once"];
    args.extend(case.args);
    let out = entrasync(&config, &args).await;
    let mut wrong = Vec::new();
    if out.status.code() != Some(1) {
        wrong.push(format!("exit status {:?}, not 1", out.status.code()));
    }
    let line = last_line(&out, case.name);
    if !line.starts_with("entrasync: ") {
        wrong.push("the last line is not the error".into());
    }
    for word in case.says {
        if !line.contains(word) {
            wrong.push(format!("does not say {word:?}"));
        }
    }
    if std::env::var_os("ENTRASYNC_SHOW_CORPUS").is_some() {
        println!("{:<45} {line}", case.name);
    }
    if stderr(&out).contains('\u{1b}') {
        wrong.push("an escape sequence reached the terminal".into());
    }
    if line.chars().count() > 1000 {
        wrong.push(format!("a line of {} characters", line.chars().count()));
    }
    if away.connections.load(Ordering::SeqCst) != 0 {
        wrong.push("connected to the host a link pointed to".into());
    }
    if std::fs::read(&users_file).expect("the file target") != file_before {
        wrong.push("the file target changed".into());
    }
    if snapshot_state(dir.path()) != before {
        wrong.push("the snapshot changed".into());
    }
    // Graph heals: the next cycle reads the change it missed.
    emulator.faults().clear();
    let healed = entrasync(&config, &["once"]).await;
    if healed.status.code() != Some(0) {
        wrong.push(format!(
            "the healthy cycle after exited {:?}: {}",
            healed.status.code(),
            stderr(&healed)
        ));
    }
    let anna = common::file_users(dir.path()).get(ANNA).map(|u| {
        u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"].clone()
    });
    if anna != Some(json!("Finance")) {
        wrong.push(format!("after healing, Anna's department is {anna:?}"));
    }
    wrong
        .into_iter()
        .map(|w| format!("{}: {w}\n    last line: {line}", case.name))
        .collect()
}

/// Runs the Graph cases named (all but the `REGRESSIONS` ones when `names` is empty), two at
/// a time (the retried cases spend most of their time waiting), and asserts them.
async fn graph(names: &[&str]) {
    let cases: Vec<GraphCase> = graph_cases()
        .into_iter()
        .filter(|c| {
            if names.is_empty() {
                !GRAPH_REGRESSIONS.contains(&c.name)
            } else {
                names.contains(&c.name)
            }
        })
        .collect();
    assert_eq!(
        cases.len(),
        names.len().max(cases.len()),
        "every name is a case"
    );
    let mut failures = Vec::new();
    for pair in cases.chunks(2) {
        let results = futures_util::future::join_all(pair.iter().map(run_graph_case)).await;
        failures.extend(results.into_iter().flatten());
    }
    assert!(
        failures.is_empty(),
        "{} problems in {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Found: a body was read whole however large, so a graph_url that streams for ever (a broken
/// proxy) filled the memory. Graph here is a server that answers every request so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_graph_body_is_refused_before_it_fills_the_memory() {
    let endless = canned(|_, _| ENDLESS.to_vec()).await;
    let graph = endless.base.trim_end_matches("/scim/v2").to_owned();
    let (emulator, dir, config) = demo_setup(RULES).await;
    let text = std::fs::read_to_string(&config).expect("reads");
    let text = text.replacen(
        &format!("graph_url = {:?}", emulator.base_url()),
        &format!("graph_url = {graph:?}"),
        1,
    );
    std::fs::write(&config, text).expect("writes");
    let out = entrasync(&config, &["once"]).await;
    assert_exit(&out, 1, "an endless Graph answer");
    let line = last_line(&out, "endless");
    // The users round and the group bindings start together: either is refused first.
    assert!(
        line.starts_with("entrasync: Graph sent a body larger than 64 MiB for GET /v1.0/"),
        "{line}"
    );
    assert!(!dir.path().join("users.json").exists(), "nothing written");
}

/// The cases that found something broken; each has its own test below.
const GRAPH_REGRESSIONS: [&str; 9] = [
    "a nextLink to another host",
    "a deltaLink to another host",
    "on demand: a member page linking elsewhere",
    "a nextLink that is not a URL",
    "a nextLink to the page itself",
    "a 5 MB string where the array goes",
    "value not an array",
    "a token error of several lines and 100 KB",
    "an HTML error page with 502",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_graph_answers_fail_the_cycle_cleanly_and_change_nothing() {
    graph(&[]).await;
}

/// Found: a link to another host was followed with the bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_to_another_host_never_get_the_bearer_token() {
    graph(&GRAPH_REGRESSIONS[..3]).await;
}

/// Found: a nextLink that is not a URL was retried as a transport error until max_retry_wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_that_is_not_a_url_fails_at_once() {
    graph(&[GRAPH_REGRESSIONS[3]]).await;
}

/// Found: a nextLink to the page itself was read for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_to_the_page_itself_is_not_read_for_ever() {
    graph(&[GRAPH_REGRESSIONS[4]]).await;
}

/// Found: a page of another shape was retried until max_retry_wait, and its message quoted
/// the unexpected value whole (5 MB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_another_shape_fails_at_once_on_one_short_line() {
    graph(&GRAPH_REGRESSIONS[5..7]).await;
}

/// Found: the token endpoint's error code and description went out raw (several lines, an
/// escape sequence, 100 KB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_error_of_several_lines_is_one_bounded_line() {
    graph(&[GRAPH_REGRESSIONS[7]]).await;
}

/// Found: an error page that is not Graph's said "Graph answered 502 - to …:  (request-id -)".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_without_graphs_error_body_says_so() {
    graph(&[GRAPH_REGRESSIONS[8]]).await;
}

// ---------------------------------------------------------------------------------------------
// SCIM

/// One request the canned endpoint received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query, as sent.
    target: String,
}

/// What the canned endpoint answers: raw HTTP, so anything can be said.
type Responder = fn(&Seen, usize) -> Vec<u8>;

/// A hand-rolled HTTP/1.1 server standing in for a broken SCIM endpoint: each connection
/// gets one answer from `respond` (given the request and how many came before it) and is
/// closed. Every request is recorded.
struct Canned {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn canned(respond: Responder) -> Canned {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!(
        "http://{}/scim/v2",
        listener.local_addr().expect("an address")
    );
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let Some(request) = read_request(&mut stream).await else {
                    return;
                };
                let nth = {
                    let mut log = log.lock().expect("the log");
                    log.push(request.clone());
                    log.len() - 1
                };
                let answer = respond(&request, nth);
                if answer == ENDLESS {
                    endless_answer(&mut stream).await;
                    return;
                }
                let _ = stream.write_all(&answer).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Canned { base, seen }
}

impl Canned {
    /// How many `method` requests to a path under `path` it received.
    fn seen(&self, method: &str, path: &str) -> usize {
        let seen = self.seen.lock().expect("the log");
        let path = format!("/scim/v2{path}");
        seen.iter()
            .filter(|s| s.method == method && s.target.starts_with(&path))
            .count()
    }
}

/// What a responder returns to have the server stream a body that never ends.
const ENDLESS: &[u8] = b"ENDLESS";

/// A 200 whose chunked body never ends: written until the client gives up.
async fn endless_answer(stream: &mut tokio::net::TcpStream) {
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
    chunk.extend(std::iter::repeat_n(b' ', 64 * 1024));
    chunk.extend_from_slice(b"\r\n");
    while stream.write_all(&chunk).await.is_ok() {}
}

/// Reads one request head and its body (by Content-Length).
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut words = head.split_whitespace();
    let method = words.next()?.to_owned();
    let target = words.next()?.to_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some(Seen { method, target })
}

/// An HTTP answer with this status line, content type and body.
fn http(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

fn scim_json(status: &str, body: &Value) -> Vec<u8> {
    http(status, "application/scim+json", body.to_string().as_bytes())
}

/// The empty ListResponse a healthy endpoint gives for a user it does not have.
fn empty_list() -> Vec<u8> {
    scim_json(
        "200 OK",
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                "totalResults": 0, "Resources": []}),
    )
}

/// A healthy endpoint: lookups find nothing, creates get an id.
fn healthy(request: &Seen, nth: usize) -> Vec<u8> {
    match request.method.as_str() {
        "GET" => empty_list(),
        "POST" => scim_json(
            "201 Created",
            &json!({"id": format!("u{nth}"), "userName": "x"}),
        ),
        _ => scim_json("200 OK", &json!({})),
    }
}

/// The first GET (the connection check before a cycle writes anything) is answered as a
/// healthy endpoint answers; the rest as `then` says.
fn after_check(request: &Seen, nth: usize, then: fn(&Seen, usize) -> Vec<u8>) -> Vec<u8> {
    if nth == 0 {
        empty_list()
    } else {
        then(request, nth)
    }
}

/// One broken SCIM endpoint.
struct ScimCase {
    name: &'static str,
    respond: Responder,
    /// The exit status: 3 when users failed one by one, 1 when the target cannot be used.
    exit: i32,
    /// Words every failure message (exit 3) or the last line (exit 1) must hold.
    says: &'static [&'static str],
    /// `once` arguments.
    args: &'static [&'static str],
    /// Whether a POST /Users may have been sent (false: the lookup must stop the create).
    may_post: bool,
}

fn scim_cases() -> Vec<ScimCase> {
    vec![
        ScimCase {
            name: "an HTML error page on create",
            respond: |r, n| {
                after_check(r, n, |r, _| match r.method.as_str() {
                    "GET" => empty_list(),
                    _ => http(
                        "500 Internal Server Error",
                        "text/html",
                        b"<html><body><h1>500</h1>\n<p>Something broke.</p></body></html>",
                    ),
                })
            },
            exit: 3,
            says: &[
                "POST /Users for",
                "500 Internal Server Error (not a SCIM answer",
            ],
            args: &[],
            may_post: true,
        },
        ScimCase {
            name: "a create answered without id",
            respond: |r, n| {
                after_check(r, n, |r, _| match r.method.as_str() {
                    "GET" => empty_list(),
                    _ => scim_json("201 Created", &json!({"userName": "someone"})),
                })
            },
            exit: 3,
            says: &["created a user but sent no id"],
            args: &[],
            may_post: true,
        },
        ScimCase {
            name: "a create answered with an empty id",
            respond: |r, n| {
                after_check(r, n, |r, _| match r.method.as_str() {
                    "GET" => empty_list(),
                    _ => scim_json("201 Created", &json!({"id": "", "userName": "someone"})),
                })
            },
            exit: 3,
            says: &["created a user but sent no id"],
            args: &[],
            may_post: true,
        },
        ScimCase {
            name: "a create answered 200 with an empty body",
            respond: |r, n| {
                after_check(r, n, |r, _| match r.method.as_str() {
                    "GET" => empty_list(),
                    _ => http("200 OK", "application/scim+json", b""),
                })
            },
            exit: 3,
            says: &["created a user but sent no id"],
            args: &[],
            may_post: true,
        },
        ScimCase {
            name: "a lookup whose Resources is not an array",
            respond: |r, n| {
                after_check(r, n, |r, n| match r.method.as_str() {
                    "GET" => scim_json(
                        "200 OK",
                        &json!({"totalResults": 1, "Resources": {"id": "x"}}),
                    ),
                    _ => healthy(r, n),
                })
            },
            exit: 3,
            says: &[
                "GET /Users?filter=",
                "not a ListResponse",
                "check [target] url",
            ],
            args: &[],
            may_post: false,
        },
        ScimCase {
            name: "a lookup answered 200 with an empty body",
            respond: |r, n| {
                after_check(r, n, |r, n| match r.method.as_str() {
                    "GET" => http("200 OK", "application/scim+json", b""),
                    _ => healthy(r, n),
                })
            },
            exit: 3,
            says: &[
                "GET /Users?filter=",
                "not a ListResponse",
                "check [target] url",
            ],
            args: &[],
            may_post: false,
        },
        ScimCase {
            name: "a lookup answered with a login page",
            respond: |r, n| {
                after_check(r, n, |r, n| match r.method.as_str() {
                    "GET" => http("200 OK", "text/html", b"<html><form>Sign in</form></html>"),
                    _ => healthy(r, n),
                })
            },
            exit: 3,
            says: &[
                "GET /Users?filter=",
                "not a ListResponse",
                "check [target] url",
            ],
            args: &[],
            may_post: false,
        },
        ScimCase {
            name: "an error detail of several lines and 50 KB",
            respond: |r, n| {
                after_check(r, n, |r, _| match r.method.as_str() {
                    "GET" => empty_list(),
                    _ => {
                        let detail =
                            format!("first line\nsecond line \u{1b}[2J{}", "d".repeat(50_000));
                        scim_json(
                            "400 Bad Request",
                            &json!({"status": "400", "scimType": "invalidValue\r\nx", "detail": detail}),
                        )
                    }
                })
            },
            exit: 3,
            says: &[
                "POST /Users for",
                "400 invalidValue\\r\\nx",
                "first line\\nsecond line \\u{1b}[2J",
                "…",
            ],
            args: &[],
            may_post: true,
        },
        ScimCase {
            name: "2 GB announced, then the connection closed",
            respond: |r, n| {
                after_check(r, n, |r, _| {
                    match r.method.as_str() {
                    "GET" => empty_list(),
                    _ => b"HTTP/1.1 201 Created\r\nContent-Type: application/scim+json\r\nContent-Length: 2147483648\r\n\r\n{\"id\": \"u".to_vec(),
                }
                })
            },
            exit: 3,
            says: &[
                "POST /Users",
                "the answer is larger than 16 MiB",
                "check [target] url",
            ],
            args: &[],
            may_post: true,
        },
        ScimCase {
            name: "a create cut off halfway, every time",
            respond: |r, n| {
                after_check(r, n, |r, _| {
                    match r.method.as_str() {
                    "GET" => empty_list(),
                    _ => b"HTTP/1.1 201 Created\r\nContent-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{\"id\": \"u".to_vec(),
                }
                })
            },
            exit: 3,
            says: &["POST /Users", "cut off", "after 5 attempts"],
            args: &[],
            may_post: true,
        },
        ScimCase {
            name: "the connection check answered with an endless stream",
            respond: |_, _| ENDLESS.to_vec(),
            exit: 1,
            says: &["the SCIM target", "cannot be used", "larger than 16 MiB"],
            args: &[],
            may_post: false,
        },
        ScimCase {
            name: "the connection check answered with HTML",
            respond: |_, _| http("200 OK", "text/html", b"<html>Welcome</html>"),
            exit: 1,
            says: &[
                "the SCIM target",
                "cannot be used",
                "not with an empty ListResponse",
            ],
            args: &[],
            may_post: false,
        },
        ScimCase {
            name: "the connection check refused with an HTML 401",
            respond: |_, _| http("401 Unauthorized", "text/html", b"<html>Go away</html>"),
            exit: 1,
            says: &["the SCIM target", "401", "token_file"],
            args: &[],
            may_post: false,
        },
    ]
}

/// Runs one SCIM case; returns what was wrong with it, if anything.
async fn run_scim_case(case: &ScimCase) -> Vec<String> {
    let server = canned(case.respond).await;
    let rules = RULES.replace(
        "[target]\nkind = \"file\"\npath = \"users.json\"\n",
        &format!(
            "[target]\nkind = \"scim\"\nurl = \"{}\"\ntoken_file = \"scim-token\"\nmax_concurrency = 64\n",
            server.base
        ),
    );
    let (_emulator, dir, config) = demo_setup(&rules).await;
    std::fs::write(dir.path().join("scim-token"), "canned-scim-token").expect("write");
    let mut args = vec!["once"];
    args.extend(case.args);
    let out = entrasync(&config, &args).await;
    let mut wrong = Vec::new();
    if out.status.code() != Some(case.exit) {
        wrong.push(format!(
            "exit status {:?}, not {}",
            out.status.code(),
            case.exit
        ));
    }
    let err = stderr(&out);
    let line = last_line(&out, case.name);
    if err.contains("canned-scim-token") {
        wrong.push("shows the token".into());
    }
    if err.contains('\u{1b}') {
        wrong.push("an escape sequence reached the terminal".into());
    }
    // Each user the target refused is one WARN line; the cycle error is the last line.
    let messages: Vec<&str> = if case.exit == 3 {
        err.lines()
            .filter(|l| l.contains(" WARN ") && l.contains("user="))
            .collect()
    } else {
        vec![line.as_str()]
    };
    if messages.is_empty() {
        wrong.push("no failure reported".into());
    }
    for message in &messages {
        for word in case.says {
            if !message.contains(word) {
                wrong.push(format!(
                    "does not say {word:?}: {}",
                    message.chars().take(300).collect::<String>()
                ));
            }
        }
        if message.chars().count() > 1200 {
            wrong.push(format!("a line of {} characters", message.chars().count()));
        }
    }
    if std::env::var_os("ENTRASYNC_SHOW_CORPUS").is_some() {
        let first = messages.first().copied().unwrap_or_default();
        println!(
            "{:<45} {}",
            case.name,
            first.chars().take(400).collect::<String>()
        );
    }
    let posts = server.seen("POST", "/Users");
    if !case.may_post && posts != 0 {
        wrong.push(format!("sent {posts} POST /Users requests"));
    }
    let (_, pushed) = snapshot_state(dir.path());
    if pushed != "{}" {
        wrong.push(format!(
            "recorded a push the target did not confirm: {pushed}"
        ));
    }
    wrong.dedup();
    wrong
        .into_iter()
        .map(|w| format!("{}: {w}", case.name))
        .collect()
}

/// Runs the SCIM cases named (all but the `SCIM_REGRESSIONS` ones when `names` is empty), all
/// at once (the cut-off case waits out five retries, about 8 to 15 s), and asserts them.
async fn scim(names: &[&str]) {
    let cases: Vec<ScimCase> = scim_cases()
        .into_iter()
        .filter(|c| {
            if names.is_empty() {
                !SCIM_REGRESSIONS.contains(&c.name)
            } else {
                names.contains(&c.name)
            }
        })
        .collect();
    assert_eq!(
        cases.len(),
        names.len().max(cases.len()),
        "every name is a case"
    );
    let results = futures_util::future::join_all(cases.iter().map(run_scim_case)).await;
    let failures: Vec<String> = results.into_iter().flatten().collect();
    assert!(
        failures.is_empty(),
        "{} problems in {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The cases that found something broken; each has its own test below.
const SCIM_REGRESSIONS: [&str; 8] = [
    "a lookup whose Resources is not an array",
    "a lookup answered 200 with an empty body",
    "a lookup answered with a login page",
    "a create answered with an empty id",
    "an error detail of several lines and 50 KB",
    "an HTML error page on create",
    "2 GB announced, then the connection closed",
    "the connection check answered with an endless stream",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_scim_endpoint_fails_users_or_the_cycle_and_records_nothing_unconfirmed() {
    scim(&[]).await;
}

/// Found: a lookup answered 200 with something that is not a ListResponse was taken for "not
/// found", and every user was POSTed again (duplicates in a target that has them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_that_is_not_a_list_response_creates_no_one() {
    scim(&SCIM_REGRESSIONS[..3]).await;
}

/// Found: a create answered with `"id": ""` was recorded as pushed, with an empty target id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_answered_with_an_empty_id_is_not_recorded() {
    scim(&[SCIM_REGRESSIONS[3]]).await;
}

/// Found: answers were read whole however large: 2 GB announced was waited for (and retried
/// five times), an endless stream filled the memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_answer_larger_than_16_mib_is_refused_unread() {
    scim(&SCIM_REGRESSIONS[6..]).await;
}

/// Found: a SCIM error's scimType and detail went into the WARN line raw (several lines, an
/// escape sequence, 50 KB), and an HTML error page said only "500".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_error_is_one_bounded_line_that_says_what_answered() {
    scim(&SCIM_REGRESSIONS[4..6]).await;
}
