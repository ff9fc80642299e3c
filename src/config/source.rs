//! `[source]`: how to reach Microsoft Graph and what to read there, validated (part of the
//! configuration's second phase, beside `target.rs` for `[target]`).

use std::time::Duration;

use reqwest::Url;

use super::raw::{RawApp, RawSource};
use super::{ConfigError, RulesConfig, Validator};
use crate::credential::Credential;
use crate::source::{AppRef, looks_like_object_id};
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

/// Who is in scope (`[source] scope`); `[filter]` narrows each of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ScopeBy {
    /// The direct (or transitive) members of the scoped groups: `[source] groups` and the
    /// permission aliases. With none of them, every user (filters alone decide).
    #[default]
    Groups,
    /// The users assigned to `[source] app`, directly or as direct members of an assigned group
    /// ("Sync only assigned users and groups", Entra's default).
    Assigned,
    /// Every user of the tenant (Syncro's filter-only mode).
    All,
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
    /// `[source] app`: the application whose app roles and assignments are read each cycle.
    pub app: Option<AppRef>,
    /// App role values the rules map, each with its permission group
    /// (`[[permission_groups]] app_roles`): a cycle checks that the app defines each one, as it
    /// checks that each configured group exists.
    pub app_roles: Vec<(String, String)>,
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
        let app = raw.app.take().map(|app| self.app(app)).transpose()?;
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
            app,
            app_roles: Vec::new(),
            request_timeout,
            max_retry_wait,
        })
    }

    /// Settles who is in scope: `[source] scope` as written, or by default the listed groups
    /// when there are any (source groups or permission aliases), else the app's assigned users
    /// when an app is named, else everyone.
    pub(super) fn scope(
        &self,
        written: Option<&str>,
        source: &SourceConfig,
        rules: &mut RulesConfig,
    ) -> Result<(), ConfigError> {
        let written = match written.map(str::trim) {
            None => None,
            Some("groups") => Some(ScopeBy::Groups),
            Some("assigned") => Some(ScopeBy::Assigned),
            Some("all") => Some(ScopeBy::All),
            Some(other) => {
                return Err(self.invalid(
                    "[source] scope",
                    format!("is \"{other}\"; it must be \"groups\" (members of the listed groups), \"assigned\" (users assigned to [source] app) or \"all\" (every user, narrowed by [filter])"),
                ));
            }
        };
        let mut groups = source.groups.clone();
        for alias in rules.permission_groups.iter().flat_map(|p| &p.aliases) {
            if !groups.iter().any(|g| g.eq_ignore_ascii_case(alias)) {
                groups.push(alias.clone());
            }
        }
        let with_roles = rules
            .permission_groups
            .iter()
            .find(|p| !p.app_roles.is_empty());
        if let (Some(group), None) = (with_roles, &source.app) {
            return Err(self.invalid(
                &format!("[[permission_groups]] ({}) app_roles", group.name),
                "needs [source] app, the application whose role assignments give them; add app = { client_id = \"…\" } to [source]",
            ));
        }
        let scope = match written {
            Some(scope) => scope,
            None if !groups.is_empty() => ScopeBy::Groups,
            None if source.app.is_some() => ScopeBy::Assigned,
            None => ScopeBy::All,
        };
        let named = match scope {
            ScopeBy::Groups => None,
            ScopeBy::Assigned => Some("assigned"),
            ScopeBy::All => Some("all"),
        };
        if scope == ScopeBy::Assigned && source.app.is_none() {
            return Err(self.invalid(
                "[source] scope",
                "is \"assigned\", which needs [source] app: the application whose assigned users and groups are in scope; add app = { client_id = \"…\" }",
            ));
        }
        if let (Some(named), false) = (named, source.groups.is_empty()) {
            return Err(self.invalid(
                "[source] groups",
                format!("lists groups, but scope = \"{named}\" does not scope by group; move them to [filter] groups to narrow the scope to their members, or remove scope"),
            ));
        }
        if written == Some(ScopeBy::Groups) && groups.is_empty() {
            return Err(self.invalid(
                "[source] scope",
                "is \"groups\", but no group is listed in [source] groups or in a permission group's aliases; list the groups whose members are in scope, or write scope = \"all\"",
            ));
        }
        rules.scope = scope;
        if scope == ScopeBy::Groups {
            rules.scope_groups = groups;
        }
        Ok(())
    }

    fn app(&self, raw: RawApp) -> Result<AppRef, ConfigError> {
        let key = "[source] app";
        let id = |name: &str, value: String| {
            let value = value.trim().to_owned();
            if looks_like_object_id(&value) {
                Ok(value)
            } else {
                Err(self.invalid(
                    &format!("{key} {name}"),
                    format!("is \"{value}\", which is no GUID; copy it from the Entra admin center (Enterprise applications, the app's Overview)"),
                ))
            }
        };
        match (raw.service_principal_id, raw.client_id) {
            (Some(sp), None) => Ok(AppRef::ServicePrincipal(id("service_principal_id", sp)?)),
            (None, Some(client)) => Ok(AppRef::ClientId(id("client_id", client)?)),
            (Some(_), Some(_)) => Err(self.invalid(
                key,
                "names the app twice; write either service_principal_id (the enterprise application's object id) or client_id (its application id), not both",
            )),
            (None, None) => Err(self.invalid(
                key,
                "names no app; write { client_id = \"…\" } (the application id) or { service_principal_id = \"…\" } (the enterprise application's object id)",
            )),
        }
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
