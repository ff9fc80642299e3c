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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub client_secret_env: Option<String>,
    pub authority_url: Option<String>,
    pub graph_url: Option<String>,
    pub groups: Option<Vec<String>>,
    pub members: Option<String>,
    pub request_timeout: Option<String>,
    pub max_retry_wait: Option<String>,
}
