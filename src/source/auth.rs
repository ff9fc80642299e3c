//! Access tokens for Microsoft Graph: OAuth2 client credentials against
//! `{authority_url}/{tenant_id}/oauth2/v2.0/token` with scope `{graph_url}/.default`.
//!
//! Part of `source/`; `http.rs` asks for a token before each request. The token is cached until
//! five minutes before it expires and dropped when Graph answers 401. Token endpoint errors
//! become one line with the AADSTS code and the likely fix; neither the secret nor a token ever
//! appears in a message (Invariant 6).

use std::time::{Duration, Instant};

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};

use super::SourceError;
use super::page::shorten;
use crate::config::SourceConfig;
use crate::credential::{ASSERTION_TYPE, ClientCertificate, Credential};
use crate::requests::{BodyError, read_body};
use crate::secret::Secret;

/// Tokens are renewed this long before Graph would reject them.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(300);
/// Transport failures of the token endpoint are tried this often before a cycle fails.
const TOKEN_ATTEMPTS: u32 = 3;

struct Cached {
    token: Secret,
    renew_at: Instant,
}

/// Gets and caches app-only tokens.
pub struct TokenSource {
    http: reqwest::Client,
    token_url: String,
    tenant_id: String,
    client_id: String,
    credential: Credential,
    secret_origin: String,
    scope: String,
    cached: tokio::sync::Mutex<Option<Cached>>,
}

impl TokenSource {
    pub fn new(http: reqwest::Client, config: &SourceConfig) -> Self {
        let authority = config.authority_url.as_str().trim_end_matches('/');
        let graph = config.graph_url.as_str().trim_end_matches('/');
        TokenSource {
            http,
            token_url: format!("{authority}/{}/oauth2/v2.0/token", config.tenant_id),
            tenant_id: config.tenant_id.clone(),
            client_id: config.client_id.clone(),
            credential: config.credential.clone(),
            secret_origin: config.secret_origin.clone(),
            scope: format!("{graph}/.default"),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// A token valid for at least a few more minutes.
    pub async fn token(&self) -> Result<Secret, SourceError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(c.token.clone());
        }
        let (token, lifetime) = self.acquire().await?;
        let keep = lifetime
            .checked_sub(RENEW_BEFORE_EXPIRY)
            .unwrap_or(lifetime / 2);
        *cached = Some(Cached {
            token: token.clone(),
            renew_at: Instant::now() + keep,
        });
        Ok(token)
    }

    /// Forgets `rejected` (Graph said 401), so the next [`TokenSource::token`] gets a new one.
    /// A token that was already replaced by a concurrent request is left alone.
    pub async fn invalidate(&self, rejected: &Secret) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == rejected) {
            *cached = None;
        }
    }

    async fn acquire(&self) -> Result<(Secret, Duration), SourceError> {
        let token_url = TokenUrl::new(self.token_url.clone()).map_err(|err| SourceError::Auth {
            tenant: self.tenant_id.clone(),
            detail: format!(
                "the token URL {} is not valid ({err}); check [source] authority_url and tenant_id",
                self.token_url
            ),
        })?;
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_token_uri(token_url)
            .set_auth_type(AuthType::RequestBody);
        let client = match &self.credential {
            Credential::Secret(secret) => {
                client.set_client_secret(ClientSecret::new(secret.expose().to_owned()))
            }
            // No secret: the assertion goes in the body as extra parameters.
            Credential::Certificate(_) => client,
        };
        let send = |request: oauth2::HttpRequest| send(self.http.clone(), request);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut exchange = client
                .exchange_client_credentials()
                .add_scope(Scope::new(self.scope.clone()));
            let assertion = match &self.credential {
                Credential::Certificate(certificate) => Some(self.assertion(certificate)?),
                Credential::Secret(_) => None,
            };
            if let Some(assertion) = &assertion {
                exchange = exchange
                    .add_extra_param("client_assertion_type", ASSERTION_TYPE)
                    .add_extra_param("client_assertion", assertion.expose());
            }
            let result = exchange.request_async(&send).await;
            let assertion = assertion.as_ref();
            let failure = match result {
                Ok(response) => {
                    let lifetime = response.expires_in().unwrap_or(Duration::from_secs(3599));
                    return Ok((
                        Secret::new(response.access_token().secret().clone()),
                        lifetime,
                    ));
                }
                // What the endpoint said is shown: never with the secret or the assertion,
                // should it quote the request it refused.
                Err(err) => match self.explain(err) {
                    Explained::Transient(line) => {
                        Explained::Transient(self.redact(line, assertion))
                    }
                    Explained::Final(line) => Explained::Final(self.redact(line, assertion)),
                },
            };
            match failure {
                Explained::Transient(why) if attempt < TOKEN_ATTEMPTS => {
                    tracing::warn!(attempt, "token endpoint failed ({why}); trying again");
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
                Explained::Transient(detail) | Explained::Final(detail) => {
                    return Err(SourceError::Auth {
                        tenant: self.tenant_id.clone(),
                        detail,
                    });
                }
            }
        }
    }

    /// `line` without the client secret or `assertion`, in any form they travel in.
    fn redact(&self, line: String, assertion: Option<&Secret>) -> String {
        let secrets = self.credential.secret().into_iter().chain(assertion);
        secrets.fold(line, |line, secret| secret.redact(&line).into_owned())
    }

    /// A fresh client assertion signed with `certificate`.
    fn assertion(&self, certificate: &ClientCertificate) -> Result<Secret, SourceError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let jti = crate::retry::Jitter::new().guid();
        certificate
            .assertion(&self.client_id, &self.token_url, now, &jti)
            .map_err(|detail| SourceError::Auth {
                tenant: self.tenant_id.clone(),
                detail,
            })
    }

    /// One line: the AADSTS code, what Entra said (first line only) and what to do.
    fn explain(
        &self,
        err: RequestTokenError<TransportError, oauth2::basic::BasicErrorResponse>,
    ) -> Explained {
        match err {
            RequestTokenError::ServerResponse(response) => {
                // What the endpoint wrote goes into one line of bounded length.
                let description = response.error_description().map_or("", String::as_str);
                let first_line = shorten(description.lines().next().unwrap_or("").trim(), 300);
                let first_line = first_line.as_str();
                let aadsts = aadsts_code(first_line);
                let error = shorten(response.error().as_ref(), 100);
                let code = match aadsts {
                    Some(n) => format!("AADSTS{n} ({error})"),
                    None => error,
                };
                let said = first_line
                    .split_once(": ")
                    .map_or(first_line, |(_, rest)| rest);
                let line = format!("{code}: {said} — {}", self.hint(aadsts, response.error()));
                if *response.error()
                    == BasicErrorResponseType::Extension("temporarily_unavailable".into())
                {
                    Explained::Transient(line)
                } else {
                    Explained::Final(line)
                }
            }
            RequestTokenError::Request(err) => {
                if let TransportError::Redirected { status, location } = &err {
                    return Explained::Final(format!(
                        "the token endpoint {} answered {status}, a redirect to {location}: the credential goes only to [source] authority_url, so it was not followed; set authority_url to where the token endpoint is",
                        self.token_url
                    ));
                }
                let tls = match &err {
                    TransportError::Http(http) => crate::tls::explain(http, super::http::CA_KEY),
                    _ => None,
                };
                match tls {
                    // Not trusted now, not trusted in a second: no retry.
                    Some(why) => Explained::Final(format!(
                        "cannot connect securely to the token endpoint {}: {why}",
                        self.token_url
                    )),
                    None => Explained::Transient(format!(
                        "cannot reach the token endpoint {} ({}); check the network, proxy and [source] authority_url",
                        self.token_url,
                        match &err {
                            TransportError::Http(http) => super::http::describe_transport(http),
                            _ => err.to_string(),
                        }
                    )),
                }
            }
            // The body of a response that failed to parse may hold a token: never show it.
            RequestTokenError::Parse(err, _body) => Explained::Final(format!(
                "the token endpoint {} answered something that is not a token response ({}); check [source] authority_url",
                self.token_url,
                shorten(&err.inner().to_string(), 200)
            )),
            RequestTokenError::Other(what) => Explained::Final(format!(
                "the token endpoint {} answered unexpectedly ({}); check [source] authority_url",
                self.token_url,
                shorten(&what, 200)
            )),
        }
    }

    fn hint(&self, aadsts: Option<u32>, error: &BasicErrorResponseType) -> String {
        let origin = &self.secret_origin;
        match aadsts {
            Some(7_000_215) => format!("the client secret is wrong: put the secret's Value (not its Secret ID) from the app registration's Certificates & secrets into {origin}"),
            Some(7_000_222) => format!("the client secret has expired: create a new one under the app registration's Certificates & secrets and put it into {origin}"),
            Some(7_000_218) => format!("no secret reached the token endpoint: check that {origin} holds the secret"),
            Some(700_027) => format!("Entra does not know the certificate that signed the client assertion: upload its public part (the .cer or the certificate in {origin}) under the app registration's Certificates & secrets"),
            Some(700_024) => "the client assertion is outside its valid time: check this machine's clock (NTP)".to_owned(),
            Some(700_016) => format!("no application with client id {} exists in tenant {}: check [source] client_id and tenant_id, and that the app is registered in (or consented to by) that tenant", self.client_id, self.tenant_id),
            Some(90_002) => format!("tenant {} does not exist: check [source] tenant_id", self.tenant_id),
            Some(70_011) => "the scope was refused: check [source] graph_url (it must be the Graph root, such as https://graph.microsoft.com)".to_owned(),
            _ if *error == BasicErrorResponseType::InvalidClient => format!("check [source] client_id and {origin}"),
            _ => "check [source] tenant_id, client_id and the client secret".to_owned(),
        }
    }
}

enum Explained {
    Transient(String),
    Final(String),
}

/// The number in `AADSTS7000215: ...`.
fn aadsts_code(text: &str) -> Option<u32> {
    let rest = &text[text.find("AADSTS")? + "AADSTS".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The transport failure of the token request, as the oauth2 crate wants an error type.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("could not read the response: {0}")]
    Response(#[from] oauth2::http::Error),
    #[error("its answer is {0}, which no token response is")]
    TooLarge(String),
    #[error("it answered {status}, a redirect to {location}")]
    Redirected { status: u16, location: String },
}

/// The largest token response read: a token is a few kilobytes.
const MAX_TOKEN_RESPONSE_BYTES: usize = 1 << 20;

/// Sends an oauth2 request with reqwest 0.13 (the oauth2 crate's own integration is reqwest 0.12).
async fn send(
    client: reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, TransportError> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    // The client follows no redirect elsewhere (tls.rs): say where it pointed.
    if response.status().is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| response.url().join(l).ok())
            .map_or_else(
                || "elsewhere".to_owned(),
                |u| u.origin().ascii_serialization(),
            );
        return Err(TransportError::Redirected {
            status: response.status().as_u16(),
            location,
        });
    }
    let mut builder = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = read_body(response, MAX_TOKEN_RESPONSE_BYTES)
        .await
        .map_err(|err| match err {
            BodyError::Transport(err) => TransportError::Http(err),
            BodyError::TooLarge { limit } => TransportError::TooLarge(BodyError::too_large(limit)),
        })?;
    Ok(builder.body(body)?)
}

#[cfg(test)]
mod tests {
    use super::aadsts_code;

    #[test]
    fn reads_the_aadsts_number() {
        assert_eq!(
            aadsts_code("AADSTS7000215: Invalid client secret provided."),
            Some(7_000_215)
        );
        assert_eq!(
            aadsts_code("AADSTS90002: Tenant 'x' not found."),
            Some(90_002)
        );
        assert_eq!(aadsts_code("Something else"), None);
    }
}
