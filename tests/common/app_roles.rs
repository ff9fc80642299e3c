//! Shared by the app role tests (`tests/app_roles*.rs`): tenants built in code with an
//! enterprise app, its roles, users and groups; a config for them with the rules of a vendor
//! recipe — read from `config/examples/`, so the shipped recipes are what runs — and a SCIM
//! target (scim2-server behind the counting proxy); and lookups of the users the target has,
//! their roles and the writes a cycle sent.
//!
//! Include it as `#[path = "common/app_roles.rs"] mod app_roles;` beside `mod common;` and
//! `#[path = "common/scim_server.rs"] mod scim_server;`.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};

use entrasync::config::{self, Config};
use entrasync::emulator::{AppRole, DEFAULT_ACCESS, Emulator, EmulatorOptions, Tenant};
use entrasync::engine::CycleReport;
use entrasync::source::Graph;
use entrasync::target::AnyTarget;
use serde_json::{Value, json};

use crate::common::{Harness, fast_retries, write_config};
use crate::scim_server::{self, RecordedRequest, ScimServer};

/// The tenant of every app role test.
pub const TENANT_ID: &str = "contoso.onmicrosoft.com";
/// entrasync's own app registration (what signs in to Graph).
pub const SYNC_CLIENT_ID: &str = "3f6e8a52-1c0b-4b8e-9a1d-5e2f7c4b9d10";

/// An empty tenant where entrasync's registration signs in.
pub fn tenant() -> Tenant {
    Tenant::new(TENANT_ID, SYNC_CLIENT_ID)
}

/// Adds the enabled member `login@contoso.com`, named after `login` ("eve.editor" is Eve
/// Editor), whose `mail` is written with capitals (`Eve.Editor@Contoso.com`), as Entra keeps
/// whatever case it was typed in; returns the user's id.
pub fn add_person(t: &mut Tenant, login: &str) -> String {
    let capital = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect::<String>())
            .unwrap_or_default()
    };
    let (given, family) = login.split_once('.').unwrap_or((login, "Person"));
    let (given, family) = (capital(given), capital(family));
    t.add_user(json!({
        "userPrincipalName": format!("{login}@contoso.com"),
        "mail": format!("{given}.{family}@Contoso.com"),
        "givenName": given,
        "surname": family,
        "displayName": format!("{given} {family}"),
        "department": "Engineering",
        "userType": "Member",
        "accountEnabled": true,
    }))
}

/// Registers the enterprise app `app_id` with a role per value (display name = value); returns
/// its service principal id.
pub fn add_app(t: &mut Tenant, name: &str, app_id: &str, values: &[&str]) -> String {
    let roles = values.iter().map(|v| AppRole::new(v, v)).collect();
    t.add_service_principal(name, app_id, roles)
        .expect("the app registers")
}

/// Assigns `principal` (a user or group id) the role of `sp` whose value is `value`, or default
/// access for `None`; returns the assignment's id.
pub fn assign(t: &mut Tenant, sp: &str, principal: &str, value: Option<&str>) -> String {
    let role = match value {
        None => DEFAULT_ACCESS.to_owned(),
        Some(value) => {
            t.app_roles(sp)
                .into_iter()
                .find(|r| r.value == value)
                .unwrap_or_else(|| panic!("the app defines {value}"))
                .id
        }
    };
    t.assign_app_role(sp, principal, &role)
        .expect("the tenant takes the assignment")
}

/// The id of the user `login@contoso.com`.
pub fn user_id(t: &Tenant, login: &str) -> String {
    t.user_id_by_upn(&format!("{login}@contoso.com"))
        .unwrap_or_else(|| panic!("{login} is in the tenant"))
}

/// The config text for a test: `top` (top-level keys such as `default_permission`) first, the
/// harness's `[source]` with `source` appended (`app = ...`, `scope = ...`), then `rest` (rule
/// sections), then a SCIM `[target]` at `server` with `target` appended.
pub fn config_text(base: &str, top: &str, source: &str, rest: &str, server: &ScimServer) -> String {
    format!(
        "{top}\n{base}{source}\n{rest}\n[target]\nkind = \"scim\"\nurl = \"{url}\"\n\
         token_file = \"scim-token\"\n",
        url = server.base_url
    )
}

/// A vendor recipe: what goes at the top, into `[source]`, and after it.
#[derive(Clone, Debug, Default)]
pub struct Recipe {
    pub top: String,
    pub source: String,
    pub rest: String,
}

/// The application (client) id the recipes in `config/examples/` name in `[source] app`.
pub const EXAMPLE_APP_ID: &str = "11111111-2222-3333-4444-555555555555";

/// The rules of `config/examples/{name}.toml` as a test runs them: its top-level keys but
/// `state_dir` and `schedule`; of its `[source]`, `app` (naming `app_id` instead of the
/// example's placeholder) and `scope`; and every section after `[source]`.
pub fn example_recipe(name: &str, app_id: &str) -> Recipe {
    let path = format!("{}/config/examples/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut recipe = Recipe::default();
    let mut section: Option<&str> = None;
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with('[') {
            section = Some(code);
        }
        let key = code.split('=').next().unwrap_or_default().trim();
        let (into, line) = match section {
            None if matches!(key, "state_dir" | "schedule") => continue,
            None => (&mut recipe.top, line.to_owned()),
            Some("[source]") if key == "app" => {
                assert!(line.contains(EXAMPLE_APP_ID), "{path}: {line}");
                (&mut recipe.source, line.replace(EXAMPLE_APP_ID, app_id))
            }
            Some("[source]") if key == "scope" => (&mut recipe.source, line.to_owned()),
            Some("[source]") => continue,
            Some(_) => (&mut recipe.rest, line.to_owned()),
        };
        into.push_str(&line);
        into.push('\n');
    }
    assert!(!recipe.source.is_empty(), "{path} names an app");
    recipe
}

/// The emulator serving a tenant, a scim2-server, and the library's view of a config for them:
/// cycles run in-process (`engine::cycle`), as `tests/provision_scim.rs` runs them.
pub struct AppSetup {
    pub h: Harness,
    pub server: ScimServer,
    pub config: Config,
    pub target: AnyTarget,
}

impl AppSetup {
    /// Serves `tenant` (no scoped groups in `[source] groups`) and a fresh SCIM server, with the
    /// config of `recipe`.
    pub async fn start(tenant: Tenant, recipe: Recipe) -> AppSetup {
        let mut h = Harness::start(tenant, EmulatorOptions::default(), &[], "direct").await;
        let server = scim_server::start().await;
        std::fs::write(h.dir.path().join("scim-token"), &server.token).expect("write the token");
        let base = std::fs::read_to_string(&h.config_path).expect("reads");
        let text = config_text(&base, &recipe.top, &recipe.source, &recipe.rest, &server);
        std::fs::write(&h.config_path, text).expect("writes");
        let config = config::load(&h.config_path).expect("the test config is valid");
        let target = AnyTarget::from_config(config.target.as_ref().expect("a target"))
            .expect("the SCIM target builds");
        // The harness's client knows the config before the recipe: no app to list.
        h.graph = Graph::new(&config.source)
            .expect("the HTTP client builds")
            .with_retry_policy(fast_retries());
        AppSetup {
            h,
            server,
            config,
            target,
        }
    }

    /// One whole cycle; panics if it cannot run. The requests it sent to the target are those
    /// recorded from now on.
    pub async fn cycle(&self) -> CycleReport {
        self.server.reset_requests();
        self.h.provision(&self.config, &self.target).await
    }

    /// Changes the tenant as an admin would.
    pub fn admin<R>(&self, change: impl FnOnce(&mut Tenant) -> R) -> R {
        self.h.emulator.mutate(change)
    }

    /// The target's user named `user_name`, if it has one (exactly one).
    pub async fn find(&self, user_name: &str) -> Option<Value> {
        let users = self.server.users().await;
        let mut found = users.into_iter().filter(|u| u["userName"] == user_name);
        let user = found.next();
        assert!(found.next().is_none(), "{user_name} exists once at most");
        user
    }

    /// The target's user named `user_name`; panics without one.
    pub async fn user(&self, user_name: &str) -> Value {
        self.find(user_name)
            .await
            .unwrap_or_else(|| panic!("{user_name} is in the target"))
    }

    /// The userNames the target has, sorted.
    pub async fn user_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .server
            .users()
            .await
            .iter()
            .filter_map(|u| u["userName"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// The writes (POST, PUT, PATCH, DELETE) the target received since the last cycle began.
    pub fn writes(&self) -> Vec<RecordedRequest> {
        let requests = self.server.requests().into_iter();
        requests.filter(RecordedRequest::is_write).collect()
    }

    /// Asserts a cycle with no change in Entra evaluates nobody and writes nothing.
    pub async fn assert_quiet(&self) {
        let quiet = self.cycle().await;
        assert_eq!(quiet.evaluated, 0, "a quiet cycle evaluates nobody");
        assert_eq!(quiet.exit_status, 0, "{:?}", quiet.failures);
        assert_eq!(self.server.writes(), 0, "no write: {:?}", self.writes());
    }
}

/// The user's roles as `(value, primary)`, primary first, then by value.
pub fn roles(user: &Value) -> Vec<(String, bool)> {
    let mut roles: Vec<(String, bool)> = user["roles"]
        .as_array()
        .map(|roles| {
            roles
                .iter()
                .map(|r| {
                    let value = r["value"].as_str().expect("a role value").to_owned();
                    // scim2-server keeps what it was sent; the legacy dialect sends "True".
                    let primary = r["primary"] == true || r["primary"] == "True";
                    (value, primary)
                })
                .collect()
        })
        .unwrap_or_default();
    roles.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    roles
}

/// The value of the user's primary role (`roles[primary eq "True"].value`); panics unless there
/// is exactly one.
pub fn primary_role(user: &Value) -> String {
    let primary: Vec<String> = roles(user)
        .into_iter()
        .filter(|(_, p)| *p)
        .map(|(v, _)| v)
        .collect();
    assert_eq!(primary.len(), 1, "one primary role: {user}");
    primary[0].clone()
}

/// A folder with a config for the binary: the emulator serving `tenant`, a fresh scim2-server,
/// and `recipe`'s rules. No snapshot is opened here, so `entrasync` runs on it freely.
pub struct CliSetup {
    pub emulator: Emulator,
    pub server: ScimServer,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl CliSetup {
    pub async fn start(tenant: Tenant, recipe: Recipe) -> CliSetup {
        let emulator = Emulator::start(tenant, EmulatorOptions::default())
            .await
            .expect("the emulator starts");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = write_config(&dir, &emulator, &[], "direct", &emulator.client_secret());
        let server = scim_server::start().await;
        std::fs::write(dir.path().join("scim-token"), &server.token).expect("write the token");
        let base = std::fs::read_to_string(&config).expect("reads");
        let text = config_text(&base, &recipe.top, &recipe.source, &recipe.rest, &server);
        std::fs::write(&config, text).expect("writes");
        CliSetup {
            emulator,
            server,
            dir,
            config,
        }
    }

    pub fn path(&self) -> &Path {
        &self.config
    }
}
