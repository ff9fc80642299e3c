//! `[source]`: how to reach Microsoft Graph and what to read there, validated (part of the
//! configuration's second phase, beside `target.rs` for `[target]`).

use std::time::Duration;

use reqwest::Url;

use super::raw::RawSource;
use super::{ConfigError, Validator};
use crate::credential::Credential;
use crate::tls::CaBundle;

const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(600);

/// How far scoped group membership reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Members {
    /// Direct members only, as Entra's provisioning does.
    Direct,
    /// Members of nested groups too, through `/groups/{id}/transitiveMembers`.
    Transitive,
}

/// `[source]`: how to reach Microsoft Graph and what to read.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub tenant_id: String,
    pub client_id: String,
    /// The client secret or certificate the app signs in with.
    pub credential: Credential,
    /// Where the secret came from, for messages that must not show it ("client_secret_file
    /// /run/credentials/...").
    pub secret_origin: String,
    pub authority_url: Url,
    pub graph_url: Url,
    /// `ca_file`: CA certificates trusted for the token endpoint and Graph besides the
    /// system's (not read by the commands that read no secret).
    pub ca: Option<CaBundle>,
    /// Scoped groups as configured: display names or object ids.
    pub groups: Vec<String>,
    pub members: Members,
    /// How long one HTTP request may take before it counts as failed (and is retried).
    pub request_timeout: Duration,
    /// The most a round waits in total on throttling and retries before it fails.
    pub max_retry_wait: Duration,
}

impl Validator<'_> {
    pub(super) fn source(&mut self, mut raw: RawSource) -> Result<SourceConfig, ConfigError> {
        let tenant_id = self.required(
            "[source] tenant_id",
            raw.tenant_id.take(),
            "the directory (tenant) id or a verified domain such as contoso.onmicrosoft.com",
        )?;
        // The tenant goes into the token URL's path: a GUID or a domain name, nothing that
        // would change the URL.
        if !tenant_id
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(self.invalid(
                "[source] tenant_id",
                format!("is \"{tenant_id}\", which is neither a directory (tenant) id nor a domain; write the GUID from the Entra admin center's Overview, or a verified domain such as contoso.onmicrosoft.com"),
            ));
        }
        let client_id = self.required(
            "[source] client_id",
            raw.client_id.take(),
            "the application (client) id of the app registration",
        )?;
        let (credential, secret_origin) = self.credential(&mut raw)?;
        let authority_url = self.url(
            "[source] authority_url",
            raw.authority_url
                .as_deref()
                .unwrap_or(DEFAULT_AUTHORITY_URL),
        )?;
        let graph_url = self.url(
            "[source] graph_url",
            raw.graph_url.as_deref().unwrap_or(DEFAULT_GRAPH_URL),
        )?;
        let ca = self.ca_file("[source] ca_file", raw.ca_file.take())?;
        let groups = self.groups(raw.groups.unwrap_or_default())?;
        let members = match raw.members.as_deref().unwrap_or("direct") {
            "direct" => Members::Direct,
            "transitive" => Members::Transitive,
            other => {
                return Err(self.invalid(
                    "[source] members",
                    format!("is \"{other}\"; it must be \"direct\" or \"transitive\""),
                ));
            }
        };
        let request_timeout = self.duration(
            "[source] request_timeout",
            raw.request_timeout,
            DEFAULT_REQUEST_TIMEOUT,
        )?;
        let max_retry_wait = self.duration(
            "[source] max_retry_wait",
            raw.max_retry_wait,
            DEFAULT_MAX_RETRY_WAIT,
        )?;
        Ok(SourceConfig {
            tenant_id,
            client_id,
            credential,
            secret_origin,
            authority_url,
            graph_url,
            ca,
            groups,
            members,
            request_timeout,
            max_retry_wait,
        })
    }

    fn groups(&self, groups: Vec<String>) -> Result<Vec<String>, ConfigError> {
        let mut seen: Vec<String> = Vec::with_capacity(groups.len());
        for group in groups {
            let group = group.trim().to_owned();
            if group.is_empty() {
                return Err(self.invalid(
                    "[source] groups",
                    "has an empty entry; write a group's display name or object id",
                ));
            }
            if seen.iter().any(|g| g.eq_ignore_ascii_case(&group)) {
                return Err(self.invalid(
                    "[source] groups",
                    format!("lists \"{group}\" twice; remove one"),
                ));
            }
            seen.push(group);
        }
        Ok(seen)
    }
}
