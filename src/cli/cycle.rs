//! `once`, `plan`, `check` and `reset`: the commands that run the engine or test what it talks to.
//!
//! Part of the command line: they build the Graph client, the snapshot and the target from the
//! validated config and hand them to `engine`; they decide nothing about how a cycle runs.

use std::path::Path;

use super::load_config;
use super::progress::Spinner;
use super::report::print_report;
use crate::engine::{self, CycleError};
use crate::snapshot::Snapshot;
use crate::source::Graph;
use crate::target::AnyTarget;

pub(super) async fn once(
    path: &Path,
    options: engine::Options,
    json: bool,
    users: &[String],
    groups: &[String],
    text_logs: bool,
) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let snapshot = Snapshot::open_logged(&config.state_dir)?;
    let (graph, target) = engine::connect(&config)?;
    let report = if users.is_empty() && groups.is_empty() {
        let spinner = Spinner::start(graph.progress(), text_logs);
        let report = engine::cycle(&graph, &snapshot, &config, target.as_ref(), options).await;
        spinner.stop().await;
        report?
    } else {
        engine::on_demand(
            &graph,
            &snapshot,
            &config,
            target.as_ref(),
            options,
            users,
            groups,
        )
        .await?
    };
    print_report(&report, json)?;
    Ok(report.exit_status)
}

/// `check`: each step on its own line; the first failure decides the exit status.
pub(super) async fn check(path: &Path) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    println!("config {}: ok", config.path.display());
    let graph = Graph::new(&config.source).map_err(CycleError::from)?;
    graph.check_token().await.map_err(CycleError::from)?;
    println!("token for tenant {}: ok", config.source.tenant_id);
    let groups = graph.check_groups().await.map_err(CycleError::from)?;
    println!("Graph: {groups} scoped groups found");
    if let Some(app) = graph.configured_app().await.map_err(CycleError::from)? {
        let users = app.assignments.iter();
        let (users, groups): (Vec<_>, Vec<_>) = users
            .filter(|a| a.principal_kind != crate::source::MemberKind::Other)
            .partition(|a| a.principal_kind == crate::source::MemberKind::User);
        println!(
            "app {}: {} roles, {} assignments to users and {} to groups",
            app.service_principal_id,
            app.roles.len(),
            users.len(),
            groups.len()
        );
    }
    match config.target.as_ref() {
        None => println!("target: none configured (cycles plan and write nothing)"),
        Some(target_config) => {
            let target = AnyTarget::from_config(target_config)?;
            crate::target::Target::check(&target)
                .await
                .map_err(CycleError::from)?;
            println!("target {}: ok", crate::target::Target::describe(&target));
        }
    }
    Ok(0)
}

pub(super) fn reset(path: &Path) -> anyhow::Result<u8> {
    let config = super::load_state_config(path)?;
    let snapshot = Snapshot::open_logged(&config.state_dir)?;
    snapshot.forget_delta_links()?;
    println!(
        "forgot the delta links in {}: the next cycle reads everything again and evaluates every user",
        config.state_dir.display()
    );
    Ok(0)
}
