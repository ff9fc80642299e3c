//! Every GET to Microsoft Graph goes through here: bearer token, retries with `Retry-After` and
//! jittered backoff, one token renewal on 401, and the resync signal.
//!
//! Part of `source/`: `delta.rs` and `groups.rs` ask for typed JSON; this file decides what a
//! status means. It never logs a URL's query (delta tokens) or a token, only the path.
//!
//! Where the token may go is decided before a URL gets here: every URL is built from
//! `[source] graph_url` or is a link `page::check_link` found on its origin (the links on a page,
//! and a stored delta link before its round follows it). A redirect elsewhere is not followed
//! by the client itself (`tls.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, RETRY_AFTER};
use serde::de::DeserializeOwned;

use super::SourceError;
use super::auth::TokenSource;
use super::page::{BadBody, GraphErrorBody, parse_body};
use crate::requests::{BodyError, NO_ANSWER, RequestCounts, read_body};
use crate::retry::{Jitter, RetryPolicy, parse_retry_after};

/// The largest page read: Graph's are a few megabytes at most (999 objects).
const MAX_PAGE_BYTES: usize = 64 << 20;

/// The most of an error body read: its code and message are near the start.
const MAX_ERROR_BYTES: usize = 1 << 20;

/// The key that trusts a private CA for Graph, for messages.
pub(super) const CA_KEY: &str = "[source] ca_file";

/// Why a request did not give a value.
#[derive(Debug)]
pub enum Failure {
    /// Graph said the delta token is no longer usable (410, `syncStateNotFound`,
    /// `resyncRequired`): the caller starts its query over as a full round.
    Resync,
    Error(SourceError),
}

impl From<SourceError> for Failure {
    fn from(err: SourceError) -> Self {
        Failure::Error(err)
    }
}

/// The HTTP side of the Graph client.
pub struct GraphHttp {
    client: reqwest::Client,
    auth: TokenSource,
    policy: RetryPolicy,
    jitter: Jitter,
    requests: RequestCounts,
    progress: Arc<ReadProgress>,
}

/// How far the rounds of this client have read, for a progress display: pages and the objects
/// on them (users, groups, removals), retries and repeats included.
#[derive(Debug, Default)]
pub struct ReadProgress {
    pages: AtomicU64,
    objects: AtomicU64,
}

impl ReadProgress {
    /// Pages and objects read so far.
    pub fn read(&self) -> (u64, u64) {
        (
            self.pages.load(Ordering::Relaxed),
            self.objects.load(Ordering::Relaxed),
        )
    }
}

impl GraphHttp {
    /// A client for Graph with `client`'s TLS, timeouts and redirect policy.
    pub fn new(client: reqwest::Client, auth: TokenSource, policy: RetryPolicy) -> Self {
        GraphHttp {
            client,
            auth,
            policy,
            jitter: Jitter::new(),
            requests: RequestCounts::default(),
            progress: Arc::default(),
        }
    }

    pub fn set_policy(&mut self, policy: RetryPolicy) {
        self.policy = policy;
    }

    /// Requests sent to Graph so far (every attempt counts), tokens not included.
    pub fn requests(&self) -> u64 {
        self.requests.total()
    }

    /// Answers from Graph so far, by HTTP status.
    pub fn requests_by_status(&self) -> BTreeMap<u16, u64> {
        self.requests.by_status()
    }

    /// Counts a page of `objects` as read.
    pub fn page_read(&self, objects: usize) {
        self.progress.pages.fetch_add(1, Ordering::Relaxed);
        self.progress
            .objects
            .fetch_add(objects as u64, Ordering::Relaxed);
    }

    /// A shared view of how far reading has come.
    pub fn progress(&self) -> Arc<ReadProgress> {
        self.progress.clone()
    }

    pub fn auth(&self) -> &TokenSource {
        &self.auth
    }

    /// GETs `url` and parses the body as `T`, retrying what is worth retrying. Every attempt is
    /// added to `sent` (the caller's own count: rounds run concurrently on one client). `url`
    /// gets the bearer token: it must be on `[source] graph_url`'s origin (built from it, or a
    /// link `page::check_link` passed).
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        sent: &mut u64,
    ) -> Result<T, Failure> {
        let path = path_of(url);
        let mut attempt = 0u32;
        let mut waited = Duration::ZERO;
        let mut renewed_token = false;
        loop {
            attempt += 1;
            let token = self.auth.token().await?;
            self.requests.sent();
            *sent += 1;
            let sent = self
                .client
                .get(url)
                .bearer_auth(token.expose())
                .header(ACCEPT, "application/json")
                .send()
                .await;
            self.requests
                .answered(sent.as_ref().map_or(NO_ANSWER, |r| r.status().as_u16()));
            let (retry_after, why) = match sent {
                Err(err) => {
                    if let Some(detail) = crate::tls::explain(&err, CA_KEY) {
                        return Err(SourceError::Tls {
                            host: origin_of(url),
                            detail,
                        }
                        .into());
                    }
                    (None, describe_transport(&err))
                }
                Ok(response) if response.status().is_success() => {
                    match read_body(response, MAX_PAGE_BYTES).await {
                        Ok(body) => match parse_body::<T>(&body) {
                            Ok(value) => return Ok(value),
                            Err(BadBody::Unreadable(why)) => (None, why),
                            Err(BadBody::Shape(what)) => {
                                return Err(SourceError::Malformed { path, what }.into());
                            }
                        },
                        Err(BodyError::Transport(err)) => (None, describe_transport(&err)),
                        Err(BodyError::TooLarge { limit }) => {
                            let what = format!("a body {}", BodyError::too_large(limit));
                            return Err(SourceError::Malformed { path, what }.into());
                        }
                    }
                }
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    let body = read_body(response, MAX_ERROR_BYTES)
                        .await
                        .unwrap_or_default();
                    // The message is shown and recorded: never with the token, should Graph (or
                    // a proxy) quote the request it refused.
                    let text = String::from_utf8_lossy(&body);
                    let error = GraphErrorBody::parse(token.redact(&text).as_bytes());
                    match status {
                        StatusCode::UNAUTHORIZED if !renewed_token => {
                            tracing::info!(%path, "Graph refused the token (401); getting a new one");
                            self.auth.invalidate(&token).await;
                            renewed_token = true;
                            attempt -= 1;
                            continue;
                        }
                        StatusCode::GONE => return Err(Failure::Resync),
                        StatusCode::TOO_MANY_REQUESTS
                        | StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::GATEWAY_TIMEOUT => (retry_after, status_line(status, &error)),
                        _ if status.is_client_error() && error.asks_for_resync() => {
                            return Err(Failure::Resync);
                        }
                        _ => return Err(graph_error(&path, status, error).into()),
                    }
                }
            };
            match self
                .policy
                .next_delay(attempt, retry_after, waited, self.jitter.next())
            {
                Some(delay) => {
                    tracing::warn!(%path, attempt, wait_ms = delay.as_millis() as u64, "Graph request failed ({why}); retrying");
                    tokio::time::sleep(delay).await;
                    waited += delay;
                }
                None => {
                    return Err(SourceError::GaveUp {
                        path,
                        host: origin_of(url),
                        attempts: attempt,
                        waited,
                        last: why,
                    }
                    .into());
                }
            }
        }
    }
}

/// `https://graph.microsoft.com`: where a URL goes, without its path and query, for messages.
fn origin_of(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(
        |_| "the configured graph_url".to_owned(),
        |u| u.origin().ascii_serialization(),
    )
}

/// `GET /v1.0/users/delta`: the method and path of a URL, without its query (which may carry
/// delta tokens) — what messages show.
/// `{graph}/v1.0/` + `segments` (each percent-encoded as one segment) + `query`.
pub fn endpoint(
    graph: &str,
    segments: &[&str],
    query: &[(&str, &str)],
) -> Result<reqwest::Url, SourceError> {
    let malformed = |what: String| SourceError::Malformed {
        path: graph.to_owned(),
        what,
    };
    let mut url = reqwest::Url::parse(&format!("{graph}/v1.0"))
        .map_err(|e| malformed(format!("graph_url does not make a URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|()| malformed("graph_url cannot take a path".into()))?
        .extend(segments);
    url.query_pairs_mut().extend_pairs(query);
    Ok(url)
}

pub fn path_of(url: &str) -> String {
    let path = reqwest::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| url.split('?').next().unwrap_or_default().to_owned());
    format!("GET {path}")
}

pub(super) fn describe_transport(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "no answer in time (request_timeout)"
    } else if err.is_connect() {
        "cannot connect"
    } else if err.is_body() || err.is_decode() {
        "the response was cut off"
    } else {
        "a transport error"
    };
    // reqwest's own text may include the URL with its delta token; the path is enough.
    let mut source = std::error::Error::source(err);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

fn status_line(status: StatusCode, error: &GraphErrorBody) -> String {
    if error.code.is_empty() {
        status.to_string()
    } else {
        format!("{status} {}", error.code)
    }
}

fn graph_error(path: &str, status: StatusCode, error: GraphErrorBody) -> SourceError {
    let hint = match status {
        StatusCode::UNAUTHORIZED => {
            "Graph refused a fresh token: check that the app registration is in this tenant"
        }
        StatusCode::FORBIDDEN if path.contains("servicePrincipals") => {
            "grant the app registration the application permission Application.Read.All (to read [source] app's roles and assignments), with admin consent"
        }
        StatusCode::FORBIDDEN => {
            "grant the app registration the application permissions User.Read.All and GroupMember.Read.All, with admin consent"
        }
        StatusCode::NOT_FOUND => "the object does not exist (any more); check [source] groups",
        StatusCode::BAD_REQUEST => {
            "this is a bug in entrasync or an unsupported query; please report it with the request id"
        }
        _ => "the next cycle tries again",
    };
    // A body without Graph's error envelope came from something else on the way (a proxy, a
    // gateway): say so rather than print an empty code and message.
    let (code, message) = if error.code.is_empty() && error.message.is_empty() {
        (
            status.canonical_reason().unwrap_or("-").to_owned(),
            "an answer without Graph's error body (from a proxy or gateway on the way?)".to_owned(),
        )
    } else if error.code.is_empty() {
        ("-".to_owned(), error.message)
    } else {
        (error.code, error.message)
    };
    SourceError::Graph {
        path: path.to_owned(),
        status: status.as_u16(),
        code,
        message,
        request_id: error.request_id.unwrap_or_else(|| "-".into()),
        hint,
    }
}
