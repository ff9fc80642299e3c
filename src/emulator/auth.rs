//! The emulator's token endpoint (`POST /{tenant}/oauth2/v2.0/token`, client credentials) and
//! the bearer check of every Graph request.
//!
//! Part of `emulator/`. Errors come back as Entra sends them (graph-delta.md §1): a JSON body with
//! `error`, an `AADSTS…` `error_description` and `error_codes`; 401 for `invalid_client` (a wrong
//! secret), 400 for the rest.

use std::time::Instant;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Shared;
use super::faults::lock;
use super::odata::decode_form;

/// Answers a token request for `tenant` with the form `body`.
pub fn token(shared: &Shared, tenant: &str, body: &[u8]) -> Response {
    let form = decode_form(&String::from_utf8_lossy(body));
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (tenant_id, client_id) = {
        let t = lock(&shared.tenant);
        (t.tenant_id().to_owned(), t.client_id().to_owned())
    };
    if !tenant.eq_ignore_ascii_case(&tenant_id) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    if field("grant_type") != Some("client_credentials") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if field("client_id") != Some(client_id.as_str()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory '{tenant}'.",
                field("client_id").unwrap_or_default()
            ),
        );
    }
    match (field("client_secret"), field("client_assertion")) {
        (None, None) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        }
        (Some(secret), None) if secret != shared.client_secret => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
            );
        }
        (Some(_), None) => {}
        (None, Some(jwt)) => {
            lock(&shared.assertions).push(jwt.to_owned());
            if field("client_assertion_type") != Some(crate::credential::ASSERTION_TYPE) {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    50_027,
                    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
                );
            }
            let token_url = format!("{}/{tenant}/oauth2/v2.0/token", shared.base_url);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let certificate = shared.options.certificate.as_deref();
            if let Err((code, text)) =
                super::assertion::check(jwt, certificate, &client_id, &token_url, now)
            {
                return refuse(StatusCode::UNAUTHORIZED, "invalid_client", code, &text);
            }
        }
        (Some(_), Some(_)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                7000218,
                "Only one of 'client_assertion' and 'client_secret' may be presented.",
            );
        }
    }
    let scope_ok = field("scope")
        .is_some_and(|s| s.split(' ').all(|s| s.ends_with("/.default")) && !s.is_empty());
    if !scope_ok {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope must end in /.default for the client credentials flow.",
        );
    }
    let access_token = format!(
        "eyJ0eXAiOiJKV1QiLCJlbXUiOnRydWV9.{:016x}{:016x}",
        shared.random(),
        shared.random()
    );
    let lifetime = shared.options.token_lifetime;
    lock(&shared.tokens).insert(access_token.clone(), Instant::now() + lifetime);
    let seconds = lifetime.as_secs();
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": seconds,
        "ext_expires_in": seconds,
        "access_token": access_token,
    }))
    .into_response()
}

/// Checks the `Authorization` header of a Graph request; `Err` is the 401 to send.
pub fn check_bearer(
    shared: &Shared,
    header: Option<&str>,
) -> Result<(), (&'static str, &'static str)> {
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return Err(("InvalidAuthenticationToken", "Access token is empty."));
    };
    match lock(&shared.tokens).get(token) {
        Some(expires) if Instant::now() < *expires => Ok(()),
        Some(_) => Err((
            "InvalidAuthenticationToken",
            "Lifetime validation failed, the token is expired.",
        )),
        None => Err((
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.",
        )),
    }
}

fn refuse(status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let trace = "7b5e0c3a-0000-4000-8000-emulator";
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {}", httpdate::fmt_http_date(std::time::SystemTime::now())),
        "error_codes": [code],
        "timestamp": httpdate::fmt_http_date(std::time::SystemTime::now()),
        "trace_id": trace,
        "correlation_id": trace,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, axum::Json(body)).into_response()
}
