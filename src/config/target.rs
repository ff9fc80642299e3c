//! `[target]` and `[deprovision]`: where the users go and what happens to those who leave,
//! checked and turned into validated values.
//!
//! Part of configuration loading (raw TOML → validated values, see `mod.rs`). The SCIM bearer
//! token is a [`Secret`], read from `token_file` or `token_env` like the client secret.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use super::raw::{RawDeprovision, RawTarget};
use super::{ConfigError, SecretKeys, Validator};
use crate::plan::WhenLeaving;
use crate::secret::Secret;
use crate::tls::CaBundle;

const DEFAULT_MAX_DEPROVISIONS: usize = 500;
const DEFAULT_MAX_CONCURRENCY: usize = 8;
const DEFAULT_TARGET_TIMEOUT: Duration = Duration::from_secs(30);

/// `[deprovision]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeprovisionConfig {
    pub when: WhenLeaving,
    /// More deactivations and deletions than this in one cycle are held back.
    pub max_deprovisions: usize,
}

impl Default for DeprovisionConfig {
    fn default() -> Self {
        DeprovisionConfig {
            when: WhenLeaving::Deactivate,
            max_deprovisions: DEFAULT_MAX_DEPROVISIONS,
        }
    }
}

/// Which request shapes the SCIM adapter sends (`shared/design/entra-scim-dialect.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Entra with the `aadOptscim062020` flag: lower-case ops, real booleans.
    Entra,
    /// Entra's default shapes: PascalCase ops, `"False"` strings.
    EntraLegacy,
}

/// How permissions reach a SCIM target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionsAs {
    /// The `roles` attribute, `primary` on the primary permission.
    Roles,
    /// Target Groups named after the permission groups.
    Groups,
    Both,
}

/// `[target] kind = "scim"`.
#[derive(Debug, Clone)]
pub struct ScimConfig {
    /// The base URL (`…/scim/v2`), without a trailing slash.
    pub url: Url,
    pub token: Secret,
    pub dialect: Dialect,
    pub permissions: PermissionsAs,
    pub max_concurrency: usize,
    pub request_timeout: Duration,
    /// The attributes a create looks the user up by first, in order.
    pub match_attributes: Vec<String>,
    /// `ca_file`: CA certificates trusted for the endpoint besides the system's.
    pub ca: Option<CaBundle>,
}

/// Where the users go.
#[derive(Debug, Clone)]
pub enum TargetKind {
    File { path: PathBuf },
    Scim(Box<ScimConfig>),
}

/// `[target]`.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    pub kind: TargetKind,
    /// A user to create that the target already has: adopt it (`true`) or report it.
    pub adopt_existing: bool,
    /// userNames (lower-cased) entrasync never touches.
    pub exclude: BTreeSet<String>,
}

impl Validator<'_> {
    pub(super) fn deprovision(
        &self,
        raw: Option<RawDeprovision>,
    ) -> Result<DeprovisionConfig, ConfigError> {
        let raw = raw.unwrap_or_default();
        let when = match raw.when.as_deref().map(str::trim) {
            None | Some("deactivate") => WhenLeaving::Deactivate,
            Some("delete") => WhenLeaving::Delete,
            Some("keep") => WhenLeaving::Keep,
            Some(other) => {
                return Err(self.invalid(
                    "[deprovision] when",
                    format!("is \"{other}\"; it must be \"deactivate\" (active = false, the default), \"delete\" or \"keep\" (stop updating, leave the user)"),
                ));
            }
        };
        let max_deprovisions = match raw.max_deprovisions {
            None => DEFAULT_MAX_DEPROVISIONS,
            Some(n) => usize::try_from(n).map_err(|_| {
                self.invalid(
                    "[deprovision] max_deprovisions",
                    format!(
                        "is {n}; write 0 or more (0 holds back every deactivation and deletion)"
                    ),
                )
            })?,
        };
        Ok(DeprovisionConfig {
            when,
            max_deprovisions,
        })
    }

    pub(super) fn target(&mut self, raw: RawTarget) -> Result<TargetConfig, ConfigError> {
        let exclude = raw
            .exclude
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|u| u.trim().to_lowercase())
            .filter(|u| !u.is_empty())
            .collect();
        let adopt_existing = raw.adopt_existing.unwrap_or(false);
        let kind = match raw.kind.as_deref().map(str::trim) {
            Some("file") => self.file_target(raw)?,
            Some("scim") => TargetKind::Scim(Box::new(self.scim_target(raw)?)),
            Some(other) => {
                return Err(self.invalid(
                    "[target] kind",
                    format!("is \"{other}\"; it must be \"scim\" or \"file\""),
                ));
            }
            None => {
                return Err(self.invalid(
                    "[target] kind",
                    "is missing; write kind = \"scim\" or kind = \"file\"",
                ));
            }
        };
        Ok(TargetConfig {
            kind,
            adopt_existing,
            exclude,
        })
    }

    fn file_target(&self, raw: RawTarget) -> Result<TargetKind, ConfigError> {
        let scim_only = [
            ("url", raw.url.is_some()),
            ("token", raw.token.is_some()),
            ("token_file", raw.token_file.is_some()),
            ("token_env", raw.token_env.is_some()),
            ("dialect", raw.dialect.is_some()),
            ("permissions", raw.permissions.is_some()),
            ("max_concurrency", raw.max_concurrency.is_some()),
            ("match", raw.match_attributes.is_some()),
            ("ca_file", raw.ca_file.is_some()),
        ];
        if let Some((key, _)) = scim_only.iter().find(|(_, given)| *given) {
            return Err(self.invalid(
                &format!("[target] {key}"),
                "is for kind = \"scim\"; a file target takes path only",
            ));
        }
        match raw.path {
            Some(path) if !path.as_os_str().is_empty() => Ok(TargetKind::File {
                path: self.resolve(path),
            }),
            _ => Err(self.invalid(
                "[target] path",
                "is missing; write the file the users go to, such as path = \"users.json\"",
            )),
        }
    }

    fn scim_target(&mut self, raw: RawTarget) -> Result<ScimConfig, ConfigError> {
        let text = self.required(
            "[target] url",
            raw.url,
            "the SCIM base URL the application gives (the Tenant URL of Entra's provisioning)",
        )?;
        let url = if raw.allow_insecure_http == Some(true) {
            let url = Url::parse(text.trim_end_matches('/')).map_err(|err| {
                self.invalid("[target] url", format!("\"{text}\" is not a URL ({err})"))
            })?;
            self.no_credentials("[target] url", &url)?;
            url
        } else {
            self.url("[target] url", &text)?
        };
        let keys = SecretKeys {
            section: "[target]",
            name: "token",
            what: "the SCIM bearer token (Entra's Secret Token)",
        };
        let (token, _) = self.secret(keys, raw.token, raw.token_file, raw.token_env)?;
        let ca = self.ca_file("[target] ca_file", raw.ca_file)?;
        let dialect = match raw.dialect.as_deref().map(str::trim) {
            None | Some("entra") => Dialect::Entra,
            Some("entra-legacy") => Dialect::EntraLegacy,
            Some(other) => {
                return Err(self.invalid(
                    "[target] dialect",
                    format!(
                        "is \"{other}\"; it must be \"entra\" (the default) or \"entra-legacy\""
                    ),
                ));
            }
        };
        let permissions = match raw.permissions.as_deref().map(str::trim) {
            None | Some("roles") => PermissionsAs::Roles,
            Some("groups") => PermissionsAs::Groups,
            Some("both") => PermissionsAs::Both,
            Some(other) => {
                return Err(self.invalid(
                    "[target] permissions",
                    format!("is \"{other}\"; it must be \"roles\", \"groups\" or \"both\""),
                ));
            }
        };
        let max_concurrency = match raw.max_concurrency {
            None => DEFAULT_MAX_CONCURRENCY,
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| {
                    self.invalid("[target] max_concurrency", format!("is {n}; write 1 to 64"))
                })?,
        };
        let request_timeout = self.duration(
            "[target] request_timeout",
            raw.request_timeout,
            DEFAULT_TARGET_TIMEOUT,
        )?;
        let match_attributes = raw
            .match_attributes
            .unwrap_or_else(|| vec!["externalId".into(), "userName".into()]);
        if match_attributes.is_empty() {
            return Err(self.invalid(
                "[target] match",
                "is empty; a create must first look the user up (default [\"externalId\", \"userName\"]) so a crash never duplicates anyone",
            ));
        }
        Ok(ScimConfig {
            url,
            token,
            dialect,
            permissions,
            max_concurrency,
            request_timeout,
            match_attributes,
            ca,
        })
    }
}
