//! One cycle, in order: fetch rounds from Graph → commit them to the snapshot → rules → plan →
//! apply → record what the target confirmed. The only place that calls the stages in sequence.
//!
//! `cli.rs` decides when a cycle runs; this file decides how. A cycle either commits every round
//! it read, together with the new delta links, or nothing (Invariant 1); it plans only from what
//! it committed; `--dry-run` stops after the plan, before anything is written to the target or
//! to the pushed state (Invariant 7), and that is checked here, at one place.

mod report;
mod unconfirmed;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use report::{CycleReport, Failure, PlanCounts, PlanLine, ReadReport, RoundReport};

use crate::config::{Config, ENTERPRISE_DEPARTMENT, Members};
use crate::plan::{self, Policy};
use crate::rules::{self, Membership};
use crate::snapshot::{LogEntry, Snapshot, SnapshotError};
use crate::source::{Graph, Resume, SourceError};
use crate::target::{AnyTarget, Target};

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
        let state = snapshot.source_state()?;
        provision(read, state, None, snapshot, config, target, options).await
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
    let mut state = snapshot.source_state()?;
    for (id, read) in &found.users {
        state.users.insert(id.clone(), read.user.clone());
        state.gone.remove(id);
        for (group, members) in state.members.iter_mut() {
            members.retain(|m| m.id != *id);
            if read.groups.contains(group) {
                members.push(crate::source::Member {
                    id: id.clone(),
                    kind: crate::source::MemberKind::User,
                });
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
    let only: BTreeSet<String> = found.users.keys().cloned().collect();
    provision(read, state, Some(&only), snapshot, config, target, options).await
}

/// Steps 3 to 6: rules, plan, apply, record — for every user, or `only` those.
async fn provision(
    read: ReadReport,
    state: crate::snapshot::SourceState,
    only: Option<&BTreeSet<String>>,
    snapshot: &Snapshot,
    config: &Config,
    target: Option<&AnyTarget>,
    options: Options,
) -> Result<CycleReport, CycleError> {
    let membership = match config.source.members {
        Members::Direct => Membership::Direct,
        Members::Transitive => Membership::Transitive,
    };
    let mut outcome = rules::evaluate(&state, &config.rules, membership);
    let mut pushed = snapshot.pushed()?;
    let unresolved = match target {
        Some(target) if !options.dry_run => {
            unconfirmed::settle(target, snapshot, &mut pushed).await?
        }
        _ => BTreeSet::new(),
    };
    if let Some(only) = only {
        outcome.desired.retain(|id, _| only.contains(id));
        outcome.held.retain(|id| only.contains(id));
        outcome.errors.retain(|e| only.contains(&e.user_id));
        pushed.retain(|id, _| only.contains(id));
    }
    let gone = state
        .gone
        .iter()
        .map(|(id, tombstone)| (id.clone(), tombstone.removal))
        .collect();
    // The whole source state is not needed past the rules: free it before the plan and apply.
    drop(state);
    let policy = Policy {
        when: config.deprovision.when,
        max_deprovisions: config.deprovision.max_deprovisions,
        allow_deprovisions: options.allow_deprovisions,
        exclude: config
            .target
            .as_ref()
            .map(|t| t.exclude.clone())
            .unwrap_or_default(),
        managed: config
            .rules
            .attributes
            .iter()
            .map(|a| a.target.clone())
            .filter(|t| t != ENTERPRISE_DEPARTMENT)
            .collect(),
    };
    let mut plan = plan::plan(&outcome, &pushed, &gone, &policy);
    // A user whose last write may still land gets nothing new this cycle.
    plan.changes.retain(|c| !unresolved.contains(&c.id));
    let counts = PlanCounts::of(&plan);
    tracing::info!(
        in_scope = outcome.desired.len(),
        rule_errors = outcome.errors.len(),
        creates = counts.creates,
        updates = counts.updates,
        deactivations = counts.deactivations,
        deletions = counts.deletions,
        held = counts.held,
        "planned"
    );
    for message in outcome.unmapped.group_messages() {
        tracing::warn!("{message}");
    }
    if counts.held > 0 {
        tracing::warn!(
            held = counts.held,
            max_deprovisions = policy.max_deprovisions,
            "more deactivations and deletions than [deprovision] max_deprovisions: none of them are applied; check the tenant, then run `entrasync once --allow-deprovisions` or raise the threshold"
        );
    }
    let mut report = CycleReport {
        read,
        in_scope: outcome.desired.len(),
        rule_errors: outcome.errors.clone(),
        unmapped: outcome.unmapped.clone(),
        plan: counts,
        changes: Vec::new(),
        table: plan
            .changes
            .iter()
            .map(|c| PlanLine::of(c, pushed.get(&c.id)))
            .collect(),
        held: plan
            .held
            .iter()
            .map(|c| PlanLine::of(c, pushed.get(&c.id)))
            .collect(),
        dry_run: options.dry_run,
        on_demand: only.is_some(),
        target: target.map(Target::describe),
        applied: 0,
        applied_by: BTreeMap::new(),
        cycle_duration: std::time::Duration::ZERO,
        failures: Vec::new(),
        exit_status: 0,
    };
    drop(outcome);
    // The one place that decides whether anything is written (Invariant 7).
    let target = match target {
        Some(target) if !options.dry_run => target,
        _ => {
            report.changes = plan.changes;
            report.exit_status = exit_status(&report);
            report.finish();
            if !options.dry_run {
                snapshot.record_cycle(&report.summary()).await?;
            }
            return Ok(report);
        }
    };
    if !plan.changes.is_empty() {
        // A target that cannot be used fails the cycle (exit 1) before anything is sent.
        target.check().await?;
    }
    // In batches: a crash loses at most one batch's answers (which the next cycle reads back),
    // and a large first cycle never holds every answer and log entry at once.
    for batch in plan.changes.chunks(APPLY_BATCH) {
        unconfirmed::note(snapshot, batch, &pushed).await?;
        let results = target.apply(batch).await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut updates = Vec::with_capacity(batch.len());
        let mut log = Vec::with_capacity(batch.len());
        for (change, applied) in batch.iter().zip(&results) {
            if let Some(after) = applied.pushed(change, pushed.get(&change.id)) {
                updates.push((change.id.clone(), after));
            }
            if let Some(failure) = Failure::of(change, applied) {
                tracing::warn!(user = %failure.user_name, result = %failure.result, "{}", failure.message);
                report.failures.push(failure);
            } else {
                report.applied += 1;
                *report.applied_by.entry(applied.word()).or_default() += 1;
            }
            log.push(LogEntry {
                at_unix: now,
                user_id: change.id.clone(),
                user_name: change.user_name.clone(),
                operation: change.operation.name().to_owned(),
                outcome: applied.word().to_owned(),
                detail: applied.message().map(str::to_owned),
            });
        }
        snapshot.record(updates, log).await?;
    }
    report.exit_status = exit_status(&report);
    report.finish();
    snapshot.record_cycle(&report.summary()).await?;
    Ok(report)
}

/// How many changes are sent, answered and recorded together.
const APPLY_BATCH: usize = 1_000;

/// 3 when some users failed or deprovisions were held back, else 0.
fn exit_status(report: &CycleReport) -> u8 {
    if report.failures.is_empty() && report.plan.held == 0 {
        0
    } else {
        3
    }
}
