//! Configuration: the TOML file of ARCHITECTURE §4 turned into validated values, before any
//! stage runs.
//!
//! Two phases, as ripgrep turns raw arguments into validated ones: `raw` deserializes with
//! unknown keys refused, then [`load`] checks every value and resolves secrets. A bad file gives
//! one [`ConfigError`] naming the file, the key and what to do (exit status 2); nothing else in
//! the program parses configuration.

mod duration;
mod raw;
mod rules;
mod schedule;
mod secrets;
mod target;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

pub use duration::{format as format_duration, parse_duration};
pub use rules::{
    AttributeMapping, Department, ENTERPRISE_DEPARTMENT, EXPRESSION_PROPERTIES, Filter,
    PermissionGroup, RulesConfig, TARGET_ATTRIBUTES,
};
pub use schedule::{CronSchedule, Schedule};
pub use target::{DeprovisionConfig, Dialect, PermissionsAs, ScimConfig, TargetConfig, TargetKind};

use crate::credential::Credential;
use crate::tls::CaBundle;
use raw::{RawConfig, RawSource};
use secrets::SecretKeys;

/// Where the config is looked for when `--config` is not given and `$ENTRASYNC_CONFIG` is unset.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/entrasync/entrasync.toml";
const DEFAULT_STATE_DIR: &str = "/var/lib/entrasync";
const DEFAULT_SCHEDULE: &str = "40m";
const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";
const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(600);

/// A configuration that passed every check.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, for messages.
    pub path: PathBuf,
    pub state_dir: PathBuf,
    pub schedule: Schedule,
    pub source: SourceConfig,
    /// `[filter]`, `[[permission_groups]]`, `[[departments]]`, `[attributes]`.
    pub rules: RulesConfig,
    pub deprovision: DeprovisionConfig,
    /// Where the users go; without it a cycle reads Entra and applies the rules, and writes
    /// nothing anywhere.
    pub target: Option<TargetConfig>,
    /// `[http]`: where `run` serves `/healthz` and `/metrics`; none without it.
    pub http: Option<HttpConfig>,
    /// Things that work but should be fixed (an inline secret); the caller logs them.
    pub warnings: Vec<String>,
}

/// `[http]`: the service's own small HTTP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Address and port, such as `127.0.0.1:9464`.
    pub listen: std::net::SocketAddr,
}

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

/// A configuration that cannot be used. Each message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read the configuration {path}: {source}; pass --config PATH or set ENTRASYNC_CONFIG"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {key} {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// Reads and validates the configuration at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, true)
}

/// [`load`] for the commands that only read the state directory (`status`, `log`, `reset`):
/// every key is checked, but no secret is read, so they work where the service's credentials
/// are not (`$CREDENTIALS_DIRECTORY` exists only inside the unit). The secrets are left empty.
pub fn load_without_secrets(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, false)
}

fn load_with(path: &Path, read_secrets: bool) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_with(&text, path, read_secrets)
}

/// Validates configuration text; `path` names it in messages and anchors relative paths.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    parse_with(text, path, true)
}

fn parse_with(text: &str, path: &Path, read_secrets: bool) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|err| syntax_error(text, path, &err))?;
    Validator {
        path,
        base: path.parent().unwrap_or(Path::new(".")),
        warnings: Vec::new(),
        read_secrets,
    }
    .config(raw)
}

/// Turns a TOML error into `file:line:column: [table] message` on one line.
fn syntax_error(text: &str, path: &Path, err: &toml::de::Error) -> ConfigError {
    let offset = err.span().map_or(0, |span| span.start).min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| format!("in {} ", l.split('#').next().unwrap_or(l).trim()))
        .unwrap_or_default();
    // A type error points at the value: name the key written before it on the same line.
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let key = text[line_start..offset]
        .split_once('=')
        .map(|(key, _)| format!("key `{}`: ", key.trim()))
        .unwrap_or_default();
    let mut message = err.message().trim().replace('\n', " ");
    // "invalid type: integer `8675309`, expected a string" quotes the value: not a secret's.
    if holds_secret(&text[line_start..offset]) {
        message = without_quoted_values(&message);
    }
    ConfigError::Syntax {
        path: path.to_owned(),
        line,
        column,
        message: format!("{table}{key}{message}"),
    }
}

/// The keys whose values are secrets (`[source] client_secret`, `[target] token`).
const SECRET_KEYS: [&str; 2] = ["client_secret", "token"];

/// Whether the value that follows `before` (the line up to it) belongs to a secret key, as
/// `client_secret = `, `"token" = ` or `source = { client_secret = `.
fn holds_secret(before: &str) -> bool {
    let Some((keys, _)) = before.rsplit_once('=') else {
        return false;
    };
    let key = keys
        .rsplit(|c: char| c.is_whitespace() || c == '{' || c == ',')
        .find(|k| !k.is_empty())
        .unwrap_or_default();
    let key = key.rsplit('.').next().unwrap_or_default();
    SECRET_KEYS.contains(&key.trim_matches(['"', '\'']))
}

/// `message` without what it quotes in backticks or double quotes.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quote = None;
    for c in message.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '`' || c == '"' => {
                quote = Some(c);
                if out.ends_with(' ') {
                    out.pop();
                }
            }
            None => out.push(c),
        }
    }
    out
}

struct Validator<'a> {
    path: &'a Path,
    base: &'a Path,
    warnings: Vec<String>,
    /// False for commands that need no secret: the secret keys are checked, not read.
    read_secrets: bool,
}

impl Validator<'_> {
    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    fn config(mut self, mut raw: RawConfig) -> Result<Config, ConfigError> {
        let state_dir = self.resolve(
            raw.state_dir
                .take()
                .unwrap_or_else(|| DEFAULT_STATE_DIR.into()),
        );
        let schedule = self.schedule(raw.schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE))?;
        let rules = self.rules(&mut raw)?;
        let deprovision = self.deprovision(raw.deprovision.take())?;
        let target = raw.target.take().map(|t| self.target(t)).transpose()?;
        let http = raw.http.take().map(|h| self.http(h)).transpose()?;
        let mut source = self.source(raw.source.take().ok_or_else(|| {
            self.invalid(
                "[source]",
                "is missing: entrasync needs tenant_id, client_id and a client secret to read Microsoft Graph",
            )
        })?)?;
        let mut rules = rules;
        rules.scope_groups = source.groups.clone();
        for alias in rules.permission_groups.iter().flat_map(|p| &p.aliases) {
            if !rules
                .scope_groups
                .iter()
                .any(|g| g.eq_ignore_ascii_case(alias))
            {
                rules.scope_groups.push(alias.clone());
            }
        }
        // Graph must also be read for the groups that grant permissions or filter users.
        for entry in rules.groups_read() {
            if !source.groups.iter().any(|g| g.eq_ignore_ascii_case(&entry)) {
                source.groups.push(entry);
            }
        }
        Ok(Config {
            path: self.path.to_owned(),
            state_dir,
            schedule,
            source,
            rules,
            deprovision,
            target,
            http,
            warnings: self.warnings,
        })
    }

    /// Relative paths in the file are relative to the file, not to wherever entrasync runs.
    fn resolve(&self, path: PathBuf) -> PathBuf {
        if path.is_absolute() {
            path
        } else {
            self.base.join(path)
        }
    }

    fn http(&mut self, raw: raw::RawHttp) -> Result<HttpConfig, ConfigError> {
        let text = raw.listen.ok_or_else(|| {
            self.invalid(
                "[http] listen",
                "is missing: write the address and port to serve /healthz and /metrics on, such as \"127.0.0.1:9464\", or remove [http]",
            )
        })?;
        let listen: std::net::SocketAddr = text.trim().parse().map_err(|_| {
            self.invalid(
                "[http] listen",
                format!("\"{text}\" is not an address and port; write one such as \"127.0.0.1:9464\" (or \"[::1]:9464\")"),
            )
        })?;
        if !listen.ip().is_loopback() {
            self.warnings.push(format!(
                "{}: [http] listen = \"{listen}\" serves /metrics beyond this machine; it shows counts and user numbers, no secrets — put it behind a firewall or use 127.0.0.1",
                self.path.display()
            ));
        }
        Ok(HttpConfig { listen })
    }

    fn schedule(&self, text: &str) -> Result<Schedule, ConfigError> {
        Schedule::parse(text).map_err(|why| self.invalid("schedule", why))
    }

    fn source(&mut self, mut raw: RawSource) -> Result<SourceConfig, ConfigError> {
        let tenant_id = self.required(
            "[source] tenant_id",
            raw.tenant_id.take(),
            "the directory (tenant) id or a verified domain such as contoso.onmicrosoft.com",
        )?;
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

    fn required(
        &self,
        key: &str,
        value: Option<String>,
        what: &str,
    ) -> Result<String, ConfigError> {
        match value.map(|v| v.trim().to_owned()) {
            Some(v) if !v.is_empty() => Ok(v),
            Some(_) => Err(self.invalid(key, format!("is empty; set it to {what}"))),
            None => Err(self.invalid(key, format!("is missing; set it to {what}"))),
        }
    }

    fn url(&self, key: &str, text: &str) -> Result<Url, ConfigError> {
        let url = Url::parse(text.trim().trim_end_matches('/'))
            .map_err(|err| self.invalid(key, format!("\"{text}\" is not a URL ({err})")))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(self.invalid(
                    key,
                    format!("\"{text}\" is plain http to a remote host; the client secret and tokens would travel unencrypted, use https"),
                ));
            }
            other => {
                return Err(
                    self.invalid(key, format!("\"{text}\" has the scheme {other}; use https"))
                );
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.invalid(
                key,
                format!("\"{text}\" must not carry a query or fragment"),
            ));
        }
        Ok(url)
    }

    /// `ca_file`: a PEM file of CA certificates (relative to the config file), read and checked
    /// now so a bad one is a config error naming the key. Commands that connect nowhere
    /// (`status`, `log`, `reset`) do not read it.
    fn ca_file(&self, key: &str, file: Option<PathBuf>) -> Result<Option<CaBundle>, ConfigError> {
        let Some(file) = file.filter(|_| self.read_secrets) else {
            return Ok(None);
        };
        if file.as_os_str().is_empty() {
            return Err(self.invalid(
                key,
                "is empty; give the PEM file of the CA that signed the server's certificate, or remove the key",
            ));
        }
        let path = self.resolve(file);
        CaBundle::read(&path)
            .map(Some)
            .map_err(|why| self.invalid(key, format!("{}: {why}", path.display())))
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
                return Err(self.invalid("[source] groups", format!("lists \"{group}\" twice")));
            }
            seen.push(group);
        }
        Ok(seen)
    }

    fn duration(
        &self,
        key: &str,
        text: Option<String>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match text {
            None => Ok(default),
            Some(text) => match parse_duration(&text) {
                Ok(d) if d.is_zero() => Err(self.invalid(key, "must be longer than zero")),
                Ok(d) => Ok(d),
                Err(why) => Err(self.invalid(key, why)),
            },
        }
    }
}

/// True for `localhost` and loopback addresses: the only hosts plain http may reach.
fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests;
