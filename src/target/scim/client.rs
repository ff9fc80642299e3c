//! Every request to the SCIM endpoint goes through here: the bearer token, `application/scim+json`,
//! retries on 429, 502, 503, 504 and connection errors (honouring `Retry-After`), and SCIM error
//! bodies (`status`, `scimType`, `detail`) turned into one line for the per-user outcome.
//!
//! Part of the SCIM adapter (`target/scim/`). The token never appears in a message or a log.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::config::one_line;
use crate::requests::{BodyError, NO_ANSWER, RequestCounts, read_body};
use crate::retry::{Jitter, RetryPolicy, parse_retry_after};
use crate::secret::Secret;
use crate::tls::CaBundle;

const SCIM_JSON: &str = "application/scim+json";

/// The largest answer read: a SCIM answer is a resource or a short list.
const MAX_ANSWER_BYTES: usize = 16 << 20;

/// An answer of the endpoint: its status and JSON body, if it sent one.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
}

impl Reply {
    /// What a query answered: `Some` with its first resource (`None` when it found nothing)
    /// when the body is a ListResponse, `None` when it is not one — an HTML page, an empty
    /// body, `Resources` that is not an array — which must not be taken for "not found".
    pub fn listed(&self) -> Option<Option<&Value>> {
        let body = self.body.as_ref()?;
        match body.get("Resources") {
            Some(Value::Array(resources)) => Some(resources.first()),
            // RFC 7644 §3.4.2: Resources may be left out when nothing matched.
            None if body.get("totalResults").and_then(Value::as_u64) == Some(0) => Some(None),
            _ => None,
        }
    }

    /// What a query that did not answer a ListResponse said instead, for messages.
    pub fn not_a_list(&self) -> String {
        let what = match &self.body {
            None => "a body that is not JSON",
            Some(_) => "JSON without a Resources array",
        };
        format!(
            "answered {} with {what}, not a ListResponse; check [target] url (the SCIM base, such as https://app.example.com/scim/v2)",
            self.status.as_u16()
        )
    }

    /// `409 uniqueness: userName exists` — what the endpoint said, for messages: one line of
    /// bounded length, whatever the endpoint wrote.
    pub fn describe(&self) -> String {
        let body = self.body.as_ref();
        let field = |key: &str| {
            body.and_then(|b| b.get(key))
                .and_then(Value::as_str)
                .map(|text| one_line(text, 300))
        };
        let mut text = self.status.as_u16().to_string();
        if body.is_none() {
            if let Some(reason) = self.status.canonical_reason() {
                text.push(' ');
                text.push_str(reason);
            }
            text.push_str(" (not a SCIM answer: the body is not JSON)");
            return text;
        }
        if let Some(kind) = field("scimType") {
            text.push(' ');
            text.push_str(&kind);
        }
        if let Some(detail) = field("detail") {
            text.push_str(": ");
            text.push_str(&detail);
        }
        text
    }
}

/// The `id` of a resource the endpoint sent: a string that is not empty.
pub fn resource_id(resource: &Value) -> Option<&str> {
    resource
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.trim().is_empty())
}

/// `{collection}/{id}` (`/Users/2819c223-7f76-453a-919d-413861904646`): the path of one
/// resource, its id percent-encoded as one path segment, so that an id holding `/`, `?`, `#`,
/// `%`, `;`, `+` or a space addresses that resource and no other. Only RFC 3986's unreserved
/// characters and `@` and `:` are left as they are (an id that is an e-mail address or a URN
/// reads the same as before). `Err` for an empty id (the collection itself) and for `.` and
/// `..`, which every URL parser, reqwest's too, reads as "here" and "the parent", however they
/// are encoded.
pub fn resource_path(collection: &str, id: &str) -> Result<String, String> {
    if matches!(id, "" | "." | "..") {
        return Err(format!(
            "the target's id {id:?} cannot address one resource in a URL path"
        ));
    }
    let mut path = String::with_capacity(collection.len() + 1 + 3 * id.len());
    path.push_str(collection);
    path.push('/');
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@:".contains(&byte) {
            path.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            path.push('%');
            path.push(char::from(HEX[usize::from(byte >> 4)]));
            path.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    Ok(path)
}

/// The HTTP side of the SCIM adapter.
pub struct Client {
    http: reqwest::Client,
    /// The base URL, no trailing slash (`https://app.example.com/scim/v2`).
    base: String,
    token: Secret,
    policy: RetryPolicy,
    jitter: Jitter,
    requests: RequestCounts,
}

impl Client {
    pub fn new(
        base: &str,
        token: Secret,
        timeout: Duration,
        ca: Option<&CaBundle>,
    ) -> Result<Client, reqwest::Error> {
        let http = crate::tls::client_builder(ca)?
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .timeout(timeout)
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            policy: RetryPolicy {
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(60),
                max_total_wait: Duration::from_secs(300),
                max_attempts: 5,
            },
            jitter: Jitter::new(),
            requests: RequestCounts::default(),
        })
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn set_policy(&mut self, policy: RetryPolicy) {
        self.policy = policy;
    }

    /// Requests sent so far, retries included.
    pub fn requests(&self) -> u64 {
        self.requests.total()
    }

    /// Answers so far, by HTTP status.
    pub fn requests_by_status(&self) -> BTreeMap<u16, u64> {
        self.requests.by_status()
    }

    /// Sends one request, retrying what is worth retrying; `Err` says why it could not be
    /// answered at all.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        loop {
            attempt += 1;
            self.requests.sent();
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.token.expose())
                .header(ACCEPT, SCIM_JSON)
                .query(query);
            if let Some(body) = body {
                request = request
                    .header(CONTENT_TYPE, SCIM_JSON)
                    .body(serde_json::to_vec(body).unwrap_or_default());
            }
            let answer = request.send().await;
            self.requests
                .answered(answer.as_ref().map_or(NO_ANSWER, |r| r.status().as_u16()));
            let (retry_after, why) = match answer {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    let retryable = matches!(
                        status,
                        StatusCode::TOO_MANY_REQUESTS
                            | StatusCode::BAD_GATEWAY
                            | StatusCode::SERVICE_UNAVAILABLE
                            | StatusCode::GATEWAY_TIMEOUT
                    );
                    match read_body(response, MAX_ANSWER_BYTES).await {
                        Ok(bytes) if !retryable => {
                            // An endpoint may quote the Authorization header it refused: the
                            // body is shown and recorded, the token must not be.
                            let text = String::from_utf8_lossy(&bytes);
                            let body = serde_json::from_str(&self.token.redact(&text)).ok();
                            return Ok(Reply { status, body });
                        }
                        Ok(_) => (retry_after, status.to_string()),
                        Err(BodyError::Transport(err)) => {
                            (None, format!("the answer was cut off ({err})"))
                        }
                        Err(BodyError::TooLarge { limit }) => {
                            return Err(format!(
                                "{method} {path}: the answer is {} (a SCIM answer is a few kilobytes); check [target] url",
                                BodyError::too_large(limit)
                            ));
                        }
                    }
                }
                Err(err) => {
                    // A certificate that is not trusted stays so: no retry.
                    if let Some(why) = crate::tls::explain(&err, "[target] ca_file") {
                        return Err(format!("{method} {path}: cannot connect securely: {why}"));
                    }
                    let why = if err.is_timeout() {
                        "no answer in time (request_timeout)"
                    } else if err.is_connect() {
                        "cannot connect"
                    } else {
                        "a transport error"
                    };
                    (None, why.to_owned())
                }
            };
            match self
                .policy
                .next_delay(attempt, retry_after, waited, self.jitter.next())
            {
                Some(delay) => {
                    tracing::warn!(%method, path, attempt, wait_ms = delay.as_millis() as u64, "SCIM request failed ({why}); retrying");
                    tokio::time::sleep(delay).await;
                    waited += delay;
                }
                None => {
                    return Err(format!(
                        "{method} {path}: {why}, after {attempt} attempts; the next cycle tries again"
                    ));
                }
            }
        }
    }
}
