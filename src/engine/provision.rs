//! Steps 3 to 6 of a cycle, after the source is committed: rules → plan → apply → record.
//!
//! Part of the engine. The rules evaluate only the users the snapshot says need it (see
//! `snapshot/evaluation.rs`): a quiet cycle evaluates nobody, a cycle after 100 changes about
//! 100 users, a changed configuration everyone. The plan compares them with what the target
//! last accepted for them alone; users not evaluated are, by construction, already as the rules
//! want them. `--dry-run` stops after the plan, here and nowhere else (Invariant 7).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use super::report::{CycleReport, Failure, PlanCounts, PlanLine, ReadReport};
use super::{CycleError, Options, unconfirmed};
use crate::config::{Config, ENTERPRISE_DEPARTMENT, Members};
use crate::plan::{self, Plan, Policy, PushedUser};
use crate::rules::{self, Membership, Unmapped};
use crate::snapshot::{Evaluate, LogEntry, Snapshot, SourceState};
use crate::target::{AnyTarget, Target};

/// How many changes are sent, answered and recorded together.
const APPLY_BATCH: usize = 1_000;

/// Whom a provisioning pass is for.
pub(super) struct Scope {
    /// The users the rules evaluate.
    pub(super) users: Evaluate,
    /// A scheduled or `once` cycle: the configuration's fingerprint, stored once a pass over
    /// everyone has finished. `None` for `once --user/--group`: those users alone, laid over the
    /// snapshot for this pass only, the snapshot's marks and verdicts left as they are.
    pub(super) fingerprint: Option<Vec<u8>>,
}

/// Rules, plan, apply, record — for the users `scope` names, whose source `state` holds.
pub(super) async fn provision(
    read: ReadReport,
    state: SourceState,
    scope: Scope,
    snapshot: &Snapshot,
    config: &Config,
    target: Option<&AnyTarget>,
    options: Options,
) -> Result<CycleReport, CycleError> {
    let membership = match config.source.members {
        Members::Direct => Membership::Direct,
        Members::Transitive => Membership::Transitive,
    };
    let users = &scope.users;
    let gone = state
        .gone
        .iter()
        .map(|(id, tombstone)| (id.clone(), tombstone.removal))
        .collect();
    let evaluated = state.users.len();
    // The rules take the source state and free it as they go.
    let mut outcome = rules::evaluate(state, &config.rules, membership);
    let mut pushed = match &users {
        Evaluate::All => snapshot.pushed()?,
        Evaluate::Users(ids) => snapshot.pushed_of(ids)?,
    };
    // Writing to the target and to the snapshot's evaluation: a real cycle with a target.
    let writing = target.filter(|_| !options.dry_run);
    let unresolved = match writing {
        Some(target) => unconfirmed::settle(target, snapshot, &mut pushed).await?,
        None => BTreeSet::new(),
    };
    // What was read back for users outside this pass is recorded; they are not planned here.
    pushed.retain(|id, _| users.covers(id));
    // On demand, only the named users: their own totals.
    let against = match scope.fingerprint {
        Some(_) => users,
        None => &Evaluate::All,
    };
    let totals = snapshot.totals(against, &outcome)?;
    if scope.fingerprint.is_some() && writing.is_some() {
        snapshot.keep_verdicts(users, &outcome)?;
    }
    let unmapped = Unmapped {
        departments: totals.unmapped_departments,
        groups: std::mem::take(&mut outcome.unmapped.groups),
        roles: std::mem::take(&mut outcome.unmapped.roles),
    };
    // The plan takes the outcome: creates carry the desired attributes on, not a copy.
    let mut plan = plan::plan(outcome, &pushed, &gone, &policy(config, options));
    // A user whose last write may still land gets nothing new this cycle.
    plan.changes.retain(|c| !unresolved.contains(&c.id));
    let mut report = CycleReport {
        read,
        in_scope: totals.in_scope,
        evaluated,
        rule_errors: totals.errors,
        unmapped,
        plan: PlanCounts::of(&plan),
        changes: Vec::new(),
        table: lines(&plan.changes, &pushed),
        held: lines(&plan.held, &pushed),
        dry_run: options.dry_run,
        on_demand: scope.fingerprint.is_none(),
        target: target.map(Target::describe),
        applied: 0,
        applied_by: BTreeMap::new(),
        cycle_duration: std::time::Duration::ZERO,
        failures: Vec::new(),
        exit_status: 0,
    };
    log_plan(&report, config);
    // The one place that decides whether anything is written (Invariant 7).
    let Some(target) = writing else {
        report.changes = plan.changes;
        return finish(report, snapshot, options).await;
    };
    let mut pending = apply(&plan, &pushed, target, snapshot, &mut report).await?;
    if let Some(fingerprint) = &scope.fingerprint {
        pending.extend(unresolved);
        pending.extend(plan.held.iter().map(|c| c.id.clone()));
        snapshot.evaluated(users, &pending, fingerprint).await?;
    }
    finish(report, snapshot, options).await
}

/// The plan's knobs, from the configuration and the command line.
fn policy(config: &Config, options: Options) -> Policy {
    Policy {
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
    }
}

fn lines(changes: &[plan::Change], pushed: &BTreeMap<String, PushedUser>) -> Vec<PlanLine> {
    changes
        .iter()
        .map(|c| PlanLine::of(c, pushed.get(&c.id)))
        .collect()
}

fn log_plan(report: &CycleReport, config: &Config) {
    let counts = &report.plan;
    tracing::info!(
        in_scope = report.in_scope,
        evaluated = report.evaluated,
        rule_errors = report.rule_errors.len(),
        creates = counts.creates,
        updates = counts.updates,
        deactivations = counts.deactivations,
        deletions = counts.deletions,
        held = counts.held,
        "planned"
    );
    for message in report.unmapped.messages() {
        tracing::warn!("{message}");
    }
    if counts.held > 0 {
        tracing::warn!(
            held = counts.held,
            max_deprovisions = config.deprovision.max_deprovisions,
            "more deactivations and deletions than [deprovision] max_deprovisions: none of them are applied; check the tenant, then run `entrasync once --allow-deprovisions` or raise the threshold"
        );
    }
}

/// Sends the plan in batches, noting each batch before and recording it after; returns the
/// users whose change the target did not confirm.
async fn apply(
    plan: &Plan,
    pushed: &BTreeMap<String, PushedUser>,
    target: &AnyTarget,
    snapshot: &Snapshot,
    report: &mut CycleReport,
) -> Result<BTreeSet<String>, CycleError> {
    let mut pending = BTreeSet::new();
    if !plan.changes.is_empty() {
        // A target that cannot be used fails the cycle (exit 1) before anything is sent.
        target.check().await?;
    }
    // In batches: a crash loses at most one batch's answers (which the next cycle reads back),
    // and a large first cycle never holds every answer and log entry at once.
    for batch in plan.changes.chunks(APPLY_BATCH) {
        unconfirmed::note(snapshot, batch, pushed).await?;
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
            if !applied.succeeded() {
                pending.insert(change.id.clone());
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
    Ok(pending)
}

/// Sets the exit status, logs the summary line and — unless a dry run — keeps the summary.
async fn finish(
    mut report: CycleReport,
    snapshot: &Snapshot,
    options: Options,
) -> Result<CycleReport, CycleError> {
    report.exit_status = if report.failures.is_empty() && report.plan.held == 0 {
        0
    } else {
        3
    };
    report.finish();
    if !options.dry_run {
        snapshot.record_cycle(&report.summary()).await?;
    }
    Ok(report)
}
