//! The configuration file as written: phase one of loading.
//!
//! These types mirror the TOML of ARCHITECTURE §4 and refuse unknown keys, so a typo is an error
//! that lists the keys that exist; nothing here is checked beyond its TOML type. `mod.rs` turns
//! them into validated values.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub state_dir: Option<PathBuf>,
    pub schedule: Option<String>,
    pub source: Option<RawSource>,
    pub filter: Option<RawFilter>,
    pub permission_groups: Option<Vec<RawPermissionGroup>>,
    pub default_permission: Option<String>,
    pub departments: Option<Vec<RawDepartment>>,
    /// Target attribute → expression (or `"none"`).
    pub attributes: Option<toml::Table>,
    pub deprovision: Option<RawDeprovision>,
    pub target: Option<RawTarget>,
    pub http: Option<RawHttp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeprovision {
    pub when: Option<String>,
    pub max_deprovisions: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub kind: Option<String>,
    // file
    pub path: Option<PathBuf>,
    // scim
    pub url: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub dialect: Option<String>,
    pub permissions: Option<String>,
    pub max_concurrency: Option<i64>,
    pub request_timeout: Option<String>,
    pub allow_insecure_http: Option<bool>,
    pub ca_file: Option<PathBuf>,
    #[serde(rename = "match")]
    pub match_attributes: Option<Vec<String>>,
    // both
    pub adopt_existing: Option<bool>,
    pub exclude: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    pub user_types: Option<Vec<String>>,
    pub domains: Option<Vec<String>>,
    pub departments: Option<Vec<String>>,
    pub office_locations: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPermissionGroup {
    pub name: Option<String>,
    pub aliases: Option<Vec<String>>,
    pub priority: Option<i64>,
    pub fallback_department: Option<String>,
    pub app_roles: Option<Vec<String>>,
    pub exclusive: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDepartment {
    pub name: Option<String>,
    pub aliases: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub client_secret_env: Option<String>,
    pub client_certificate_file: Option<PathBuf>,
    pub authority_url: Option<String>,
    pub graph_url: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub groups: Option<Vec<String>>,
    pub members: Option<String>,
    pub app: Option<RawApp>,
    pub scope: Option<String>,
    pub request_timeout: Option<String>,
    pub max_retry_wait: Option<String>,
}

/// `[source] app`: the application whose app roles and assignments are read.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApp {
    pub service_principal_id: Option<String>,
    pub client_id: Option<String>,
}
