//! `entrasync demo`: the whole flow on a machine with nothing but this binary.
//!
//! Starts the built-in Graph emulator (`emulator/`) with the sample tenant, writes a config (with
//! Stratsys-like rules and a file target) and a client secret under `./entrasync-demo/` exactly
//! as an operator would, and runs two cycles through the same `engine::cycle` a real deployment
//! uses: a first, full one into a fresh snapshot that creates everyone in `users.json`, then —
//! after changing the tenant the way real life does — an incremental one that reads only those
//! changes and writes only their difference. This is the only product code that depends on
//! `emulator/`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;

use crate::cli::print_report;
use crate::config;
use crate::emulator::{Emulator, Tenant};
use crate::engine::{self, Options};
use crate::snapshot::Snapshot;

/// Where the demo writes its config, secret and state, relative to the working directory.
pub const DEMO_DIR: &str = "entrasync-demo";

/// The scoped groups of the demo config (display names in `config/demo-tenant.json`).
pub const DEMO_GROUPS: [&str; 4] = [
    "Stratsys Full Users",
    "Stratsys Readers",
    "Strategy Team",
    "Stratsys Reporters",
];

/// Runs the demo in `./entrasync-demo/`.
pub async fn run() -> anyhow::Result<u8> {
    run_in(Path::new(DEMO_DIR)).await
}

/// Runs the demo with its files under `dir` (the tests use a temporary directory).
pub async fn run_in(dir: &Path) -> anyhow::Result<u8> {
    let emulator = Emulator::start_demo()
        .await
        .context("cannot start the built-in Graph emulator")?;
    println!(
        "Graph emulator listening on {} (tenant {})",
        emulator.base_url(),
        emulator.tenant_id()
    );
    let config_path = write_demo_files(dir, &emulator)?;
    let config = config::load(&config_path)?;
    let state_dir = config.state_dir.clone();
    if state_dir.exists() {
        std::fs::remove_dir_all(&state_dir).with_context(|| {
            format!(
                "cannot clear the demo's previous state in {}",
                state_dir.display()
            )
        })?;
    }
    let users_file = dir.join("users.json");
    if users_file.exists() {
        std::fs::remove_file(&users_file)
            .with_context(|| format!("cannot clear {}", users_file.display()))?;
    }
    let snapshot = Snapshot::open(&state_dir)?.snapshot;
    let (graph, target) = engine::connect(&config)?;
    let cycle = || {
        engine::cycle(
            &graph,
            &snapshot,
            &config,
            target.as_ref(),
            Options::default(),
        )
    };

    println!(
        "\n1. First cycle: a full round into a fresh snapshot ({})",
        state_dir.display()
    );
    let first = cycle().await?;
    print_report(&first, false)?;

    println!("\n2. Meanwhile in Entra ID:");
    for change in emulator.mutate(change_the_tenant) {
        println!("   - {change}");
    }

    println!("\n3. Second cycle: an incremental round, only what changed");
    let second = cycle().await?;
    print_report(&second, false)?;

    println!(
        "\nThe config and the snapshot are in {}. To read your own tenant, point [source] of that \
         config at it (tenant_id, client_id, client_secret_file; remove authority_url and \
         graph_url) and run `entrasync --config {} once`.",
        dir.display(),
        config_path.display()
    );
    emulator.shutdown().await;
    Ok(0)
}

/// Writes `entrasync.toml` and `client-secret` for `emulator` into `dir`; returns the config path.
fn write_demo_files(dir: &Path, emulator: &Emulator) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the demo directory {}", dir.display()))?;
    let secret_path = dir.join("client-secret");
    std::fs::write(&secret_path, emulator.client_secret())
        .with_context(|| format!("cannot write {}", secret_path.display()))?;
    let groups = DEMO_GROUPS
        .iter()
        .map(|g| format!("{g:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        "# Written by `entrasync demo` for its built-in Graph emulator.\n\
         state_dir = \"state\"\n\
         schedule = \"40m\"\n\n\
         [source]\n\
         tenant_id = {tenant:?}\n\
         client_id = {client:?}\n\
         client_secret_file = \"client-secret\"\n\
         authority_url = {url:?}\n\
         graph_url = {url:?}\n\
         groups = [{groups}]\n\
         members = \"direct\"\n\n{DEMO_RULES}",
        tenant = emulator.tenant_id(),
        client = emulator.client_id(),
        url = emulator.base_url(),
    );
    let config_path = dir.join("entrasync.toml");
    std::fs::write(&config_path, text)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    Ok(config_path)
}

/// The demo's rules and target: Stratsys-like permission groups and departments, into a file.
const DEMO_RULES: &str = r#"[[permission_groups]]
name = "Full User"
aliases = ["Stratsys Full Users", "Strategy Team"]
priority = 1
fallback_department = "Head Office"

[[permission_groups]]
name = "Reporter"
aliases = ["Stratsys Reporters"]
priority = 2

[[permission_groups]]
name = "Reader"
aliases = ["Stratsys Readers"]
priority = 3
fallback_department = "Unassigned"

[[departments]]
name = "Sales"
aliases = ["Sales EMEA", "Sales NA"]

[[departments]]
name = "Finance"

[[departments]]
name = "Head Office"
aliases = ["Strategy", "Strategy & Planning"]

[[departments]]
name = "Engineering"

[[departments]]
name = "Unassigned"

[target]
kind = "file"
path = "users.json"
"#;

/// What happens in a tenant between two cycles: a move, a leaver, a joiner, a renamed group, a
/// disabled account. Returns one line per change, for the demo's output.
pub fn change_the_tenant(tenant: &mut Tenant) -> Vec<String> {
    let mut changes = Vec::new();
    let group = |tenant: &Tenant, name: &str| tenant.group_id_by_name(name);
    let name_of = |tenant: &Tenant, id: &str| {
        tenant
            .user(id)
            .and_then(|u| u["userPrincipalName"].as_str().map(str::to_owned))
            .unwrap_or_else(|| id.to_owned())
    };
    if let Some(readers) = group(tenant, "Stratsys Readers") {
        let users: Vec<String> = tenant
            .members(&readers)
            .into_iter()
            .filter(|m| tenant.user(m).is_some())
            .collect();
        if let Some(mover) = users.first() {
            tenant.update_user(mover, json!({"department": "Finance"}));
            changes.push(format!(
                "{} moved to the department \"Finance\"",
                name_of(tenant, mover)
            ));
        }
        if let Some(leaver) = users.get(1) {
            tenant.remove_member(&readers, leaver);
            changes.push(format!(
                "{} left \"Stratsys Readers\"",
                name_of(tenant, leaver)
            ));
        }
        if let Some(disabled) = users.get(2) {
            tenant.update_user(disabled, json!({"accountEnabled": false}));
            changes.push(format!(
                "{}'s account was disabled",
                name_of(tenant, disabled)
            ));
        }
    }
    if let Some(team) = group(tenant, "Strategy Team") {
        let joiner = tenant.add_user(json!({
            "userPrincipalName": "nora.lind@contoso.com",
            "mail": "nora.lind@contoso.com",
            "givenName": "Nora",
            "surname": "Lind",
            "displayName": "Nora Lind",
            "department": "Strategy",
            "officeLocation": "Oslo",
            "userType": "Member",
            "accountEnabled": true,
            "jobTitle": "Strategy Analyst",
        }));
        tenant.add_member(&team, &joiner);
        changes.push("nora.lind@contoso.com joined and was added to \"Strategy Team\"".into());
    }
    if let Some(reporters) = group(tenant, "Stratsys Reporters") {
        tenant.rename_group(&reporters, "Stratsys Report Builders");
        changes.push(
            "\"Stratsys Reporters\" was renamed \"Stratsys Report Builders\" (still in scope: \
             bound by object id)"
                .into(),
        );
    }
    changes
}
