//! Secrets in the configuration: the client secret or certificate of `[source]` and the SCIM
//! bearer token of `[target]`, read from a file (systemd's `$CREDENTIALS_DIRECTORY` expanded),
//! an environment variable, or — with a warning — the file itself.
//!
//! Part of configuration loading. Messages name the key and where the value was looked for,
//! never the value (Invariant 6). Commands that need no secret check the keys and read nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::raw::RawSource;
use super::{ConfigError, Validator};
use crate::credential::{ClientCertificate, Credential};
use crate::secret::Secret;

/// The keys of one secret: `{name}`, `{name}_file`, `{name}_env` in `section`.
pub(super) struct SecretKeys {
    pub section: &'static str,
    pub name: &'static str,
    /// What the secret is, for the message when none is given.
    pub what: &'static str,
}

impl Validator<'_> {
    /// `[source]`'s credential: exactly one of a client secret (file, variable or inline) and a
    /// certificate with its private key (`client_certificate_file`).
    pub(super) fn credential(
        &mut self,
        raw: &mut RawSource,
    ) -> Result<(Credential, String), ConfigError> {
        let Some(file) = raw.client_certificate_file.take() else {
            let keys = SecretKeys {
                section: "[source]",
                name: "client_secret",
                what: "the app registration's client secret (or client_certificate_file)",
            };
            let (secret, origin) = self.secret(
                keys,
                raw.client_secret.take(),
                raw.client_secret_file.take(),
                raw.client_secret_env.take(),
            )?;
            return Ok((Credential::Secret(secret), origin));
        };
        let key = "[source] client_certificate_file";
        if raw.client_secret.is_some()
            || raw.client_secret_file.is_some()
            || raw.client_secret_env.is_some()
        {
            return Err(self.invalid(
                key,
                "is given with a client secret; keep one: the certificate, or the secret",
            ));
        }
        if !self.read_secrets {
            return Ok((
                Credential::Secret(Secret::new(String::new())),
                format!("{key} (not read)"),
            ));
        }
        let path = self.secret_path(key, file)?;
        let pem = std::fs::read(&path).map_err(|err| {
            self.invalid(key, format!("{}: cannot be read ({err}); check the path and that the entrasync user may read it", path.display()))
        })?;
        let certificate = ClientCertificate::from_pem(&pem)
            .map_err(|why| self.invalid(key, format!("{} {why}", path.display())))?;
        let origin = format!(
            "client_certificate_file {} (thumbprint x5t#S256 {})",
            path.display(),
            certificate.thumbprint_s256()
        );
        Ok((Credential::Certificate(Arc::new(certificate)), origin))
    }

    /// A secret file's path as written: `$CREDENTIALS_DIRECTORY` expanded, relative to the
    /// config file.
    fn secret_path(&self, key: &str, file: PathBuf) -> Result<PathBuf, ConfigError> {
        let file = expand_credentials_directory(&file, std::env::var_os(CREDENTIALS_DIRECTORY))
            .map_err(|why| self.invalid(key, why))?;
        Ok(self.resolve(file))
    }

    pub(super) fn secret(
        &mut self,
        keys: SecretKeys,
        inline: Option<String>,
        file: Option<PathBuf>,
        env: Option<String>,
    ) -> Result<(Secret, String), ConfigError> {
        let SecretKeys {
            section,
            name,
            what,
        } = keys;
        let key = |suffix: &str| format!("{section} {name}{suffix}");
        let given = [inline.is_some(), file.is_some(), env.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(self.invalid(
                &key(""),
                format!("is given more than one way; keep exactly one of {name}_file, {name}_env and {name}"),
            ));
        }
        if !self.read_secrets && given.iter().any(|g| *g) {
            return Ok((
                Secret::new(String::new()),
                format!("{} (not read)", key("")),
            ));
        }
        let (value, origin) = if let Some(file) = file {
            let file = self.secret_path(&key("_file"), file)?;
            let text = std::fs::read_to_string(&file).map_err(|err| {
                self.invalid(&key("_file"), format!("{}: cannot be read ({err}); check the path and that the entrasync user may read it", file.display()))
            })?;
            (text, format!("{name}_file {}", file.display()))
        } else if let Some(variable) = env {
            if !is_variable_name(&variable) {
                // Likely the secret itself pasted in the wrong key: never repeat it.
                return Err(self.invalid(
                    &key("_env"),
                    format!("is not the name of an environment variable (the value is not shown, in case it is the secret itself); name the variable that holds {what}, such as ENTRASYNC_{}", name.to_uppercase()),
                ));
            }
            let text = std::env::var(&variable).map_err(|_| {
                self.invalid(
                    &key("_env"),
                    format!(
                        "names the environment variable {variable}, which is not set (or not UTF-8)"
                    ),
                )
            })?;
            (text, format!("{name}_env {variable}"))
        } else if let Some(text) = inline {
            self.warnings.push(format!(
                "{}: {} is written in the file; move it to {name}_file or {name}_env so it stays out of backups and version control",
                self.path.display(),
                key("")
            ));
            (text, format!("{name} in the configuration"))
        } else {
            return Err(self.invalid(
                &key("_file"),
                format!("is missing: give {what} as {name}_file (recommended) or {name}_env"),
            ));
        };
        let value = value.trim_end_matches(['\r', '\n']).to_owned();
        if value.trim().is_empty() {
            return Err(self.invalid(
                &format!("{section} {}", name.replace('_', " ")),
                format!("from {origin} is empty; put the secret's value there"),
            ));
        }
        Ok((Secret::new(value), origin))
    }
}

/// An environment variable's name as shells write one: a letter or `_`, then letters, digits
/// and `_`.
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The variable systemd sets to the folder of the unit's `LoadCredential=` files.
const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// A secret file path may start with `$CREDENTIALS_DIRECTORY` (or `${CREDENTIALS_DIRECTORY}`),
/// so one config works under systemd's `LoadCredential=` whatever the unit's name.
pub(super) fn expand_credentials_directory(
    path: &Path,
    directory: Option<std::ffi::OsString>,
) -> Result<PathBuf, String> {
    let text = path.to_string_lossy();
    let rest = ["${CREDENTIALS_DIRECTORY}", "$CREDENTIALS_DIRECTORY"]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix));
    let Some(rest) = rest else {
        return Ok(path.to_path_buf());
    };
    match directory {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join(rest.trim_start_matches('/'))),
        _ => Err(format!(
            "{} starts with $CREDENTIALS_DIRECTORY, which is not set: systemd sets it for a unit with LoadCredential=; outside systemd give the file's own path",
            path.display()
        )),
    }
}
