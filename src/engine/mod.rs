//! One cycle, in order: fetch rounds from Graph → commit them to the snapshot → rules → plan →
//! apply → record what the target confirmed. The only place that calls the stages in sequence.
//!
//! `cli.rs` decides when a cycle runs; this file decides how. A cycle either commits every round
//! it read, together with the new delta links, or nothing (Invariant 1); it plans only from what
//! it committed; `--dry-run` stops after the plan, before anything is written to the target or
//! to the pushed state (Invariant 7), and that is checked here, at one place.

mod provision;
mod report;
mod unconfirmed;

use std::collections::BTreeSet;
use std::time::{Instant, SystemTime};

pub use report::{CycleReport, Failure, PlanCounts, PlanLine, ReadReport, RoundReport};

use crate::config::Config;
use crate::snapshot::{AppState, Evaluate, Snapshot, SnapshotError};
use crate::source::{Graph, Resume, SourceError};
use crate::target::AnyTarget;
use provision::{Scope, provision};

/// Why a cycle could not run.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Target(#[from] crate::target::TargetError),
}

/// How a cycle runs, from the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Plan, and stop before anything is written to the target (Invariant 7).
    pub dry_run: bool,
    /// Apply deprovisions even when there are more than `max_deprovisions`.
    pub allow_deprovisions: bool,
}

/// The Graph client and the target (if any) a cycle talks to, built from `config`.
pub fn connect(config: &Config) -> Result<(Graph, Option<AnyTarget>), CycleError> {
    let graph = Graph::new(&config.source)?;
    let target = config
        .target
        .as_ref()
        .map(AnyTarget::from_config)
        .transpose()?;
    Ok((graph, target))
}

/// Steps 1 and 2 of a cycle: reads every round from where the snapshot left off, then commits
/// them with their delta links in one step and flushes to disk before anything acts on them.
pub async fn read(graph: &Graph, snapshot: &Snapshot) -> Result<ReadReport, CycleError> {
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let first_request = graph.requests();
    let links = snapshot.delta_links()?;
    let resume = Resume {
        users_link: links.users,
        group_links: links.groups,
        bindings: snapshot.scope_bindings()?,
    };
    let fetch = graph.fetch(&resume).await?;
    let fetched = clock.elapsed();
    snapshot.commit(&fetch)?;
    snapshot.flush().await?;
    let mut report = report::read_report(
        &fetch,
        snapshot,
        started_at,
        clock.elapsed(),
        graph.requests() - first_request,
    )?;
    report.fetch_duration = fetched;
    report.commit_duration = report.duration.saturating_sub(fetched);
    tracing::info!(
        duration_ms = report.duration.as_millis() as u64,
        users_round = ?report.users_round.kind,
        users_changed = report.users_round.changed,
        users_removed = report.users_round.removed,
        groups_changed = report.group_rounds.iter().map(|r| r.changed).sum::<usize>(),
        graph_requests = report.graph_requests,
        "source committed"
    );
    Ok(report)
}

/// One whole cycle: read and commit, apply the rules, plan, and — unless `options.dry_run` or
/// no target is configured — apply the plan and record what the target confirmed.
pub async fn cycle(
    graph: &Graph,
    snapshot: &Snapshot,
    config: &Config,
    target: Option<&AnyTarget>,
    options: Options,
) -> Result<CycleReport, CycleError> {
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let result = async {
        let read = read(graph, snapshot).await?;
        let fingerprint = fingerprint(config);
        let evaluate = snapshot.to_evaluate(&fingerprint)?;
        let state = match &evaluate {
            Evaluate::All => snapshot.source_state()?,
            Evaluate::Users(ids) => snapshot.source_state_of(ids)?,
        };
        let scope = Scope {
            users: evaluate,
            fingerprint: Some(fingerprint),
        };
        provision(read, state, scope, snapshot, config, target, options).await
    }
    .await;
    if let Err(err) = &result {
        if !options.dry_run {
            // Best effort: `status` shows the failure; a snapshot that cannot take it is
            // itself the error already reported.
            let failed = report::failed_summary(started_at, clock.elapsed(), err);
            if let Err(also) = snapshot.record_cycle(&failed).await {
                tracing::debug!("the failed cycle could not be recorded: {also}");
            }
        }
    }
    result
}

/// Provisioning on demand (`once --user`, `once --group`): only the named users, or the direct
/// members of the named groups, read straight from Graph, laid over the snapshot's state for
/// this cycle alone, planned and applied. The delta links and the source state stay as they
/// are; other users are neither read nor changed.
pub async fn on_demand(
    graph: &Graph,
    snapshot: &Snapshot,
    config: &Config,
    target: Option<&AnyTarget>,
    options: Options,
    users: &[String],
    groups: &[String],
) -> Result<CycleReport, CycleError> {
    let started_at = SystemTime::now();
    let clock = Instant::now();
    let first_request = graph.requests();
    let found = graph
        .fetch_on_demand(users, groups, &snapshot.scope_bindings()?)
        .await?;
    for missing in &found.missing {
        tracing::warn!(user = %missing, "no such user in Entra; nothing is done for it");
    }
    let only: BTreeSet<String> = found.users.keys().cloned().collect();
    let mut state = snapshot.source_state_of(&only)?;
    // The app's assignments as they are now, like the users: a role given a minute ago counts.
    if let Some(app) = graph.configured_app().await? {
        let app = AppState::of(&app);
        for group in app.groups.keys() {
            state.members.entry(group.clone()).or_default();
        }
        state.app = Some(app);
    }
    for (id, read) in &found.users {
        state.users.insert(id.clone(), read.user.clone());
        state.gone.remove(id);
        // A scoped group that had no members yet gets its first.
        for group in &read.groups {
            if state.groups.contains_key(group) && !state.members.contains_key(group) {
                state.members.insert(group.clone(), Vec::new());
            }
        }
        for (group, members) in state.members.iter_mut() {
            // Sorted by id, as the rules expect.
            let at = members.binary_search_by(|m| m.id.cmp(id));
            match at {
                Ok(at) if !read.groups.contains(group) => {
                    members.remove(at);
                }
                Err(at) if read.groups.contains(group) => {
                    let member = crate::source::Member {
                        id: id.clone(),
                        kind: crate::source::MemberKind::User,
                    };
                    members.insert(at, member);
                }
                _ => {}
            }
        }
    }
    let read = ReadReport {
        started_at,
        duration: clock.elapsed(),
        fetch_duration: clock.elapsed(),
        commit_duration: std::time::Duration::ZERO,
        users_round: RoundReport {
            kind: crate::source::RoundKind::Incremental,
            changed: found.users.len(),
            removed: 0,
            stats: found.stats,
        },
        group_rounds: Vec::new(),
        transitive_requests: 0,
        graph_requests: graph.requests() - first_request,
        snapshot: snapshot.counts()?,
    };
    provision(
        read,
        state,
        Scope {
            users: Evaluate::Users(only),
            fingerprint: None,
        },
        snapshot,
        config,
        target,
        options,
    )
    .await
}

/// The fingerprint of everything the rules and the plan depend on in `config` (and of this
/// build, whose rules may differ from the last one's): when it changes, the next cycle
/// evaluates every user, not only those that changed.
fn fingerprint(config: &Config) -> Vec<u8> {
    let described = format!(
        "{}\n{:?}\n{:?}\n{:?}\n{:?}",
        env!("CARGO_PKG_VERSION"),
        config.rules,
        config.source.members,
        config.deprovision,
        config.target.as_ref().map(|t| &t.exclude),
    );
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, described.as_bytes())
        .as_ref()
        .to_vec()
}
