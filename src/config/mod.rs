//! Configuration: the TOML file of ARCHITECTURE §4 turned into validated values, before any
//! stage runs.
//!
//! Two phases, as ripgrep turns raw arguments into validated ones: `raw` deserializes with
//! unknown keys refused, then [`load`] checks every value and resolves secrets. A bad file gives
//! one [`ConfigError`] naming the file, the key and what to do (exit status 2); nothing else in
//! the program parses configuration.
//!
//! Files: `raw.rs` (the file's shape), `syntax.rs` (what a syntax or type error says), this file
//! (the whole and its top-level keys), `source.rs`, `rules.rs`, `target.rs` (the sections),
//! `secrets.rs`, `schedule.rs`, `duration.rs`.

mod duration;
mod raw;
mod rules;
mod schedule;
mod secrets;
mod source;
mod syntax;
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
pub use source::{Members, ScopeBy, SourceConfig};
pub use target::{DeprovisionConfig, Dialect, PermissionsAs, ScimConfig, TargetConfig, TargetKind};

use crate::tls::CaBundle;
use raw::RawConfig;
use secrets::SecretKeys;
use syntax::syntax_error;

/// Where the config is looked for when `--config` is not given and `$ENTRASYNC_CONFIG` is unset.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/entrasync/entrasync.toml";
const DEFAULT_STATE_DIR: &str = "/var/lib/entrasync";
const DEFAULT_SCHEDULE: &str = "40m";

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

/// `text` as one printable line, for messages that quote what a file or a server wrote:
/// control characters (line breaks, escape sequences) and the bidirectional overrides that
/// reorder a terminal line are written as escapes (`\n`, `\u{202e}`), everything else as it is.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// [`printable`], and at most `max` characters (an ellipsis marks the cut): for what a
/// server wrote, which may be megabytes.
pub fn one_line(text: &str, max: usize) -> String {
    let line = printable(text);
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
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

/// The largest configuration read: a real one is a few kilobytes, and `--config /dev/zero`
/// must not fill the memory.
const MAX_CONFIG_BYTES: u64 = 8 << 20;

fn load_with(path: &Path, read_secrets: bool) -> Result<Config, ConfigError> {
    use std::io::Read;
    let read_error = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            key: "the file".into(),
            message: format!(
                "is larger than {} MiB, which no configuration is; check --config names the right file",
                MAX_CONFIG_BYTES >> 20
            ),
        });
    }
    let text = String::from_utf8(bytes).map_err(|err| {
        let valid = err.utf8_error().valid_up_to();
        let bytes = err.as_bytes();
        // Everything before the bad byte is UTF-8: count lines and characters there.
        let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        ConfigError::Syntax {
            path: path.to_owned(),
            line: before.matches('\n').count() + 1,
            column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
            message: format!(
                "the byte 0x{:02X} is not UTF-8 text; TOML files are UTF-8: save the file as UTF-8 (without other encodings' characters)",
                bytes[valid]
            ),
        }
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

/// Why `state_dir` cannot be the state directory, when what is already there says so: a file
/// (or a device) where it, or a directory above it, should be — which would otherwise fail the
/// first command that opens the snapshot as if the machine were at fault. Only looks: nothing is
/// created here (the snapshot makes the directory when it first opens it), and a path that
/// cannot be looked at (no permission) is left for that open to report.
fn state_dir_problem(state_dir: &Path) -> Option<String> {
    let fix = format!("point state_dir at a directory, such as \"{DEFAULT_STATE_DIR}\"");
    for dir in state_dir.ancestors() {
        match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => return None,
            Ok(meta) => {
                let what = if meta.is_file() {
                    "is a file, not a directory"
                } else {
                    "is not a directory"
                };
                return Some(if dir == state_dir {
                    format!("\"{}\" {what}: {fix}", state_dir.display())
                } else {
                    format!(
                        "\"{}\" cannot be a directory: \"{}\" above it {what}; {fix}",
                        state_dir.display(),
                        dir.display()
                    )
                });
            }
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) => {}
            Err(_) => return None,
        }
    }
    None
}

struct Validator<'a> {
    path: &'a Path,
    base: &'a Path,
    warnings: Vec<String>,
    /// False for commands that need no secret: the secret keys are checked, not read.
    read_secrets: bool,
}

impl Validator<'_> {
    /// The error for `key`; both parts may quote the file, so both are made one line.
    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            key: printable(key),
            message: printable(&message.into()),
        }
    }

    fn config(mut self, mut raw: RawConfig) -> Result<Config, ConfigError> {
        let state_dir = raw
            .state_dir
            .take()
            .unwrap_or_else(|| DEFAULT_STATE_DIR.into());
        if state_dir.as_os_str().to_string_lossy().trim().is_empty() {
            return Err(self.invalid(
                "state_dir",
                "is empty, which would put the snapshot beside this file; write a directory such as \"/var/lib/entrasync\", or leave the key out for that default",
            ));
        }
        let state_dir = self.resolve(state_dir);
        if let Some(problem) = state_dir_problem(&state_dir) {
            return Err(self.invalid("state_dir", problem));
        }
        let schedule = self.schedule(raw.schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE))?;
        let rules = self.rules(&mut raw)?;
        let deprovision = self.deprovision(raw.deprovision.take())?;
        let target = raw.target.take().map(|t| self.target(t)).transpose()?;
        let http = raw.http.take().map(|h| self.http(h)).transpose()?;
        // `[source] scope` is settled with the rules: its default depends on what they list.
        let scope = raw.source.as_mut().and_then(|s| s.scope.take());
        let mut source = self.source(raw.source.take().ok_or_else(|| {
            self.invalid(
                "[source]",
                "is missing: entrasync needs tenant_id, client_id and a client secret to read Microsoft Graph",
            )
        })?)?;
        let mut rules = rules;
        self.scope(scope.as_deref(), &source, &mut rules)?;
        // Graph must also be read for the groups that grant permissions or filter users.
        for entry in rules.groups_read() {
            if !source.groups.iter().any(|g| g.eq_ignore_ascii_case(&entry)) {
                source.groups.push(entry);
            }
        }
        source.app_roles = rules.app_roles_read();
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
        self.no_credentials(key, &url)?;
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

    /// A URL with `user:password@` is refused without quoting it: Graph and SCIM take bearer
    /// tokens, and the password would show in every message that names the URL.
    fn no_credentials(&self, key: &str, url: &Url) -> Result<(), ConfigError> {
        if url.username().is_empty() && url.password().is_none() {
            return Ok(());
        }
        Err(self.invalid(
            key,
            format!(
                "carries a user name or password (the URL is not shown); remove the part before @ in {}://…@{}: entrasync authenticates with tokens",
                url.scheme(),
                url.host_str().unwrap_or_default()
            ),
        ))
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

    fn duration(
        &self,
        key: &str,
        text: Option<String>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match text {
            None => Ok(default),
            Some(text) => match parse_duration(&text) {
                Ok(d) if d.is_zero() => Err(self.invalid(
                    key,
                    "must be longer than zero; write a duration such as \"30s\"",
                )),
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
