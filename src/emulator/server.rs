//! The emulator's HTTP side: one handler that routes a request, checks its bearer token, fires
//! any injected fault, and answers with Graph's JSON and error envelope.
//!
//! Part of `emulator/`. Routing is by hand, so OData's options (`$select`, `$filter`,
//! `$skiptoken`, `$deltatoken` in either case) and the `/delta` and `/microsoft.graph.delta`
//! spellings are read exactly as Graph reads them (`odata.rs` decodes them). Delta requests are
//! answered by `delta_request.rs`, the directory's reads by `directory.rs`, the apps' by
//! `app_reads.rs`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Shared;
use super::app_reads::{self, AppRoute};
use super::auth;
use super::cursor::Cursor;
use super::delta_request;
use super::directory;
use super::faults::{Endpoint, FaultKind, lock};
use super::odata::{decode, parse_query};

/// A Graph error to send: status and the `{"error": {...}}` envelope.
#[derive(Debug)]
pub struct GraphError {
    pub(super) status: u16,
    pub(super) code: String,
    message: String,
    inner_code: Option<String>,
    /// `Location`, `Retry-After`.
    headers: Vec<(header::HeaderName, String)>,
}

impl GraphError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> GraphError {
        GraphError {
            status,
            code: code.to_owned(),
            message: message.into(),
            inner_code: None,
            headers: Vec::new(),
        }
    }

    pub(super) fn sync_state_not_found() -> GraphError {
        GraphError::new(
            400,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        )
    }

    fn response(self, request_id: &str) -> Response {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let mut inner =
            json!({"date": date, "request-id": request_id, "client-request-id": request_id});
        if let Some(code) = &self.inner_code {
            inner["code"] = json!(code);
        }
        let body =
            json!({"error": {"code": self.code, "message": self.message, "innerError": inner}});
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// A parsed GET: the emulator's base URL and the query options, keys lower-cased.
pub struct Request {
    pub base: String,
    path: String,
    params: Vec<(String, String)>,
    /// Items per page of a listing without `$top` (`EmulatorOptions::list_page_size`).
    default_top: usize,
}

impl Request {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `$select` as property names.
    pub fn select(&self) -> Option<Vec<String>> {
        self.get("$select").map(|s| {
            s.split(',')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect()
        })
    }

    /// One page of a listing: `$top` items from the `$skiptoken` offset, with a next link.
    pub fn listing(&self, items: Vec<Value>, entity: &str) -> Result<Value, GraphError> {
        self.listing_range(items.len(), entity, |range| {
            items.get(range).unwrap_or_default().to_vec()
        })
    }

    /// A page of a listing of `total` items, `$top` at a time, from `$skiptoken`: only the
    /// page's items are made (`items` gets their range), so paging a large listing costs what
    /// a page costs.
    pub fn listing_range(
        &self,
        total: usize,
        entity: &str,
        items: impl FnOnce(std::ops::Range<usize>) -> Vec<Value>,
    ) -> Result<Value, GraphError> {
        let top = match self.get("$top") {
            None => self.default_top,
            Some(t) => t
                .parse::<usize>()
                .ok()
                .filter(|t| (1..=999).contains(t))
                .ok_or_else(|| {
                    GraphError::new(400, "Request_BadRequest", format!("Invalid page size specified: '{t}'. Must be between 1 and 999 inclusive."))
                })?,
        };
        let offset = match self.get("$skiptoken") {
            None => 0,
            Some(token) => token
                .strip_prefix('l')
                .and_then(|n| usize::from_str_radix(n, 16).ok())
                .ok_or_else(|| {
                    GraphError::new(400, "Request_BadRequest", "The skip token is invalid.")
                })?,
        };
        let end = (offset + top).min(total);
        let mut page = json!({
            "@odata.context": format!("{}/v1.0/$metadata#{entity}", self.base),
            "value": items(offset.min(end)..end),
        });
        if end < total {
            let mut url = reqwest::Url::parse(&format!("{}{}", self.base, self.path))
                .map_err(|e| GraphError::new(500, "InternalServerError", e.to_string()))?;
            url.query_pairs_mut()
                .extend_pairs(self.params.iter().filter(|(k, _)| k != "$skiptoken"))
                .append_pair("$skiptoken", &format!("l{end:x}"));
            page["@odata.nextLink"] = json!(url.as_str());
        }
        Ok(page)
    }
}

/// Where a request goes.
enum Route {
    Delta(Endpoint),
    Users,
    User(String),
    MemberOf(String),
    Groups,
    Group(String),
    Members(String, bool),
    Apps(AppRoute),
    Other,
}

impl Route {
    fn parse(path: &str) -> Route {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let delta = |s: &str| s == "delta" || s == "microsoft.graph.delta";
        if let Some(route) = AppRoute::parse(&segments) {
            return Route::Apps(route);
        }
        match segments.as_slice() {
            ["v1.0", "users", d] if delta(d) => Route::Delta(Endpoint::UsersDelta),
            ["v1.0", "groups", d] if delta(d) => Route::Delta(Endpoint::GroupsDelta),
            ["v1.0", "users"] => Route::Users,
            ["v1.0", "users", id] => Route::User(decode(id)),
            ["v1.0", "users", id, "memberOf"] => Route::MemberOf(decode(id)),
            ["v1.0", "groups"] => Route::Groups,
            ["v1.0", "groups", id] => Route::Group(decode(id)),
            ["v1.0", "groups", id, "members"] => Route::Members(decode(id), false),
            ["v1.0", "groups", id, "transitiveMembers"] => Route::Members(decode(id), true),
            _ => Route::Other,
        }
    }

    fn endpoint(&self) -> Endpoint {
        match self {
            Route::Delta(endpoint) => *endpoint,
            Route::Users => Endpoint::UsersList,
            Route::User(_) => Endpoint::User,
            Route::MemberOf(_) => Endpoint::MemberOf,
            Route::Groups => Endpoint::GroupsList,
            Route::Group(_) => Endpoint::Group,
            Route::Members(_, false) => Endpoint::Members,
            Route::Members(_, true) => Endpoint::TransitiveMembers,
            Route::Apps(route) => route.endpoint(),
            Route::Other => Endpoint::Other,
        }
    }
}

/// Every request comes here.
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    request: axum::extract::Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let request_id = format!("{:016x}", shared.random());
    if let Some(tenant) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix("/oauth2/v2.0/token"))
    {
        shared.requests.record(Endpoint::Token);
        if parts.method != Method::POST {
            return GraphError::new(405, "invalid_request", "Use POST.").response(&request_id);
        }
        if let Some(kind) = shared.faults.take_token() {
            let request = Request {
                base: shared.base_url.clone(),
                path: path.clone(),
                params: Vec::new(),
                default_top: shared.options.list_page_size,
            };
            if let Some(response) = fail(&shared, &kind, &request, &request_id).await {
                return response;
            }
        }
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        return auth::token(&shared, tenant, &body);
    }
    let route = Route::parse(&path);
    let endpoint = route.endpoint();
    shared.requests.record(endpoint);
    let params = parse_query(parts.uri.query().unwrap_or_default());
    let request = Request {
        base: shared.base_url.clone(),
        path,
        params,
        default_top: shared.options.list_page_size,
    };
    if parts.method != Method::GET {
        return GraphError::new(
            405,
            "Request_BadRequest",
            "The emulator serves only GET on Graph paths.",
        )
        .response(&request_id);
    }
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Err((code, message)) = auth::check_bearer(&shared, bearer) {
        return GraphError::new(401, code, message).response(&request_id);
    }
    let page = request
        .get("$skiptoken")
        .and_then(Cursor::decode)
        .map_or(0, |c| c.page);
    let fault = shared.faults.take(endpoint, page);
    if let Some(kind) = &fault {
        if let Some(response) = fail(&shared, kind, &request, &request_id).await {
            return response;
        }
    }
    let answer = match route {
        Route::Delta(endpoint) => delta_request::answer(&shared, endpoint, &request),
        Route::Other => Err(GraphError::new(
            400,
            "BadRequest",
            format!("Resource not found for the segment '{}'.", request.path),
        )),
        route => {
            let tenant = lock(&shared.tenant);
            let listed = match route {
                Route::Users => directory::users(&tenant, &request),
                Route::User(id) => directory::user(&tenant, &id, &request),
                Route::MemberOf(id) => directory::member_of(&tenant, &id, &request),
                Route::Groups => directory::groups(&tenant, &request),
                Route::Group(id) => directory::group(&tenant, &id, &request),
                Route::Members(id, transitive) => {
                    directory::members(&tenant, &id, &request, transitive)
                }
                Route::Apps(route) => app_reads::answer(&tenant, &route, &request),
                Route::Delta(_) | Route::Other => unreachable!("handled above"),
            };
            listed.map(|value| (value, None))
        }
    };
    let (mut answer, round_page) = match answer {
        Ok(answer) => answer,
        Err(err) => return err.response(&request_id),
    };
    if let (Some(FaultKind::Replay { earlier }), Some(key)) = (&fault, round_page) {
        delta_request::replay(&shared, &mut answer, key, *earlier);
    }
    let body = serde_json::to_vec(&answer).unwrap_or_default();
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"),
    );
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("request-id", id.clone());
        headers.insert("client-request-id", id);
    }
    if fault == Some(FaultKind::TruncatedBody) {
        // Send half the body, then fail the stream: hyper cuts the connection mid-message.
        // The pause lets the headers and the first half leave before the cut.
        let half = body[..body.len() / 2].to_vec();
        let chunks = futures_util::stream::unfold(Some(half), |half| async move {
            match half {
                Some(half) => Some((Ok(half), None)),
                None => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    let cut = std::io::Error::other("truncated on purpose");
                    Some((Err::<Vec<u8>, _>(cut), None))
                }
            }
        });
        *response.body_mut() = Body::from_stream(chunks);
    } else {
        *response.body_mut() = Body::from(body);
    }
    response
}

/// The response of a fault that answers instead of the endpoint; `None` for the faults that
/// change the real answer (`TruncatedBody`, `Replay`).
async fn fail(
    shared: &Shared,
    kind: &FaultKind,
    request: &Request,
    request_id: &str,
) -> Option<Response> {
    let err = match kind {
        FaultKind::TooManyRequests { retry_after } => {
            let mut err = GraphError::new(429, "TooManyRequests", "Please retry again later.");
            err.inner_code = Some("429".into());
            err.headers
                .extend(retry_after.clone().map(|v| (header::RETRY_AFTER, v)));
            err
        }
        FaultKind::ServiceUnavailable { retry_after } => {
            let mut err = GraphError::new(
                503,
                "serviceNotAvailable",
                "The service is temporarily unavailable.",
            );
            err.headers
                .extend(retry_after.clone().map(|v| (header::RETRY_AFTER, v)));
            err
        }
        FaultKind::GatewayTimeout => GraphError::new(
            504,
            "gatewayTimeout",
            "The gateway did not receive a timely response.",
        ),
        FaultKind::Gone => {
            let mut err = GraphError::new(410, "Gone", "The tenant was moved; resynchronize.");
            let kind = if request.path.contains("/groups/") {
                "groups"
            } else {
                "users"
            };
            err.headers.push((
                header::LOCATION,
                format!("{}/v1.0/{kind}/delta?$deltatoken=", request.base),
            ));
            err
        }
        FaultKind::SyncStateNotFound => GraphError::sync_state_not_found(),
        FaultKind::ResyncRequired => GraphError::new(
            400,
            "resyncRequired",
            "The delta token is no longer valid, and the app must reset the sync state.",
        ),
        FaultKind::NestedSyncStateNotFound => {
            let mut err = GraphError::new(400, "BadRequest", "The request cannot be served.");
            err.inner_code = Some("SyncStateNotFound".into());
            err
        }
        FaultKind::Status { status, code } => {
            GraphError::new(*status, code, format!("Injected {status} {code}."))
        }
        FaultKind::Hang => {
            let mut stopping = shared.stopping.clone();
            let _ = stopping.wait_for(|stop| *stop).await;
            GraphError::new(503, "serviceNotAvailable", "The emulator is shutting down.")
        }
        FaultKind::Slow { delay } => {
            tokio::time::sleep(*delay).await;
            return None;
        }
        FaultKind::TruncatedBody | FaultKind::Replay { .. } => return None,
        FaultKind::Body { status, body } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
            let mut response = (status, body.clone()).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return Some(response);
        }
    };
    Some(err.response(request_id))
}
