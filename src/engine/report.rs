//! What a cycle did: the reports `once --json` prints and the tests read, and the exit status
//! they mean (ARCHITECTURE §3).
//!
//! Part of the engine (`engine/mod.rs` runs the stages; this file only describes their results).

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::plan::{Change, Deprovision, Operation, Plan, PushedUser};
use crate::rules::{RuleError, Unmapped};
use crate::snapshot::{Snapshot, SnapshotError};
use crate::source::{Fetch, RoundKind, RoundStats};
use crate::target::Applied;

/// What reading Graph and committing did, for the summary line, `--json` and the tests.
#[derive(Debug, Clone, Serialize)]
pub struct ReadReport {
    #[serde(with = "unix_seconds")]
    pub started_at: SystemTime,
    #[serde(with = "millis")]
    pub duration: Duration,
    /// How long reading Graph took (all rounds), and committing and flushing the snapshot.
    #[serde(with = "millis")]
    pub fetch_duration: Duration,
    #[serde(with = "millis")]
    pub commit_duration: Duration,
    pub users_round: RoundReport,
    pub group_rounds: Vec<RoundReport>,
    pub transitive_requests: u64,
    /// Every request sent to Graph in this cycle, retries included, tokens not.
    pub graph_requests: u64,
    /// What the snapshot holds after the commit.
    pub snapshot: crate::snapshot::Counts,
}

/// One delta round, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RoundReport {
    pub kind: RoundKind,
    pub changed: usize,
    pub removed: usize,
    pub stats: RoundStats,
}

pub(super) fn read_report(
    fetch: &Fetch,
    snapshot: &Snapshot,
    started_at: SystemTime,
    duration: Duration,
    graph_requests: u64,
) -> Result<ReadReport, SnapshotError> {
    Ok(ReadReport {
        started_at,
        duration,
        fetch_duration: Duration::ZERO,
        commit_duration: Duration::ZERO,
        users_round: RoundReport {
            kind: fetch.users.kind,
            changed: fetch.users.users.len(),
            removed: fetch.users.removed.len(),
            stats: fetch.users.stats,
        },
        group_rounds: fetch
            .groups
            .iter()
            .map(|round| RoundReport {
                kind: round.kind,
                changed: round.groups.len(),
                removed: round.removed.len(),
                stats: round.stats,
            })
            .collect(),
        transitive_requests: fetch
            .transitive
            .iter()
            .flatten()
            .map(|listing| listing.stats.requests)
            .sum(),
        graph_requests,
        snapshot: snapshot.counts()?,
    })
}

/// What one whole cycle did: the read, the rules, the plan, and what the target accepted.
#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    #[serde(flatten)]
    pub read: ReadReport,
    /// Users the rules want in the target (in the whole tenant, not only those evaluated).
    pub in_scope: usize,
    /// Users the rules evaluated this cycle: those whose object, memberships or last change
    /// called for it, or everyone after a change of configuration.
    pub evaluated: usize,
    pub rule_errors: Vec<RuleError>,
    pub unmapped: Unmapped,
    pub plan: PlanCounts,
    /// The planned changes, for `plan` and `--dry-run` (empty after a real apply).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// The same, as the plan table shows them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub table: Vec<PlanLine>,
    /// Deprovisions held back by the threshold, as the plan table shows them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<PlanLine>,
    pub dry_run: bool,
    /// Provisioning on demand (`once --user/--group`): only the named users were read and
    /// planned.
    pub on_demand: bool,
    /// Where the changes went; `None` when nothing was applied.
    pub target: Option<String>,
    /// Changes the target confirmed.
    pub applied: usize,
    /// The same, by what the target did: created, adopted, updated, deactivated, deleted.
    pub applied_by: std::collections::BTreeMap<&'static str, usize>,
    /// The whole cycle, from the first Graph request to the last record.
    #[serde(with = "millis")]
    pub cycle_duration: Duration,
    /// Changes the target refused or could not take, with what it said.
    pub failures: Vec<Failure>,
    /// The exit status this cycle means: 0, or 3 when some users failed or deprovisions were
    /// held back.
    pub exit_status: u8,
}

impl CycleReport {
    /// Stamps the cycle's duration and logs its one summary line (INFO).
    pub(super) fn finish(&mut self) {
        self.cycle_duration = self.read.started_at.elapsed().unwrap_or_default();
        let applied = |word: &str| self.applied_by.get(word).copied().unwrap_or(0);
        let fetched = self.read.users_round.changed
            + self.read.users_round.removed
            + self
                .read
                .group_rounds
                .iter()
                .map(|r| r.changed + r.removed)
                .sum::<usize>();
        tracing::info!(
            duration_ms = self.cycle_duration.as_millis() as u64,
            fetched,
            in_scope = self.in_scope,
            evaluated = self.evaluated,
            created = applied("created") + applied("adopted"),
            updated = applied("updated"),
            deactivated = applied("deactivated"),
            deleted = applied("deleted"),
            failed = self.failures.len(),
            held = self.plan.held,
            rule_errors = self.rule_errors.len(),
            dry_run = self.dry_run,
            "cycle done"
        );
    }

    /// One line for people: what the cycle did (systemd's STATUS=, the daemon's log).
    pub fn headline(&self) -> String {
        let applied = |word: &str| self.applied_by.get(word).copied().unwrap_or(0);
        format!(
            "{} in scope; {} created, {} updated, {} deactivated, {} deleted, {} failed, {} held back",
            self.in_scope,
            applied("created") + applied("adopted"),
            applied("updated"),
            applied("deactivated"),
            applied("deleted"),
            self.failures.len(),
            self.plan.held
        )
    }

    /// What `status` keeps of this cycle: the report with its lists cut to their first
    /// [`SUMMARY_LIST`] entries (the counts stay whole).
    pub fn summary(&self) -> serde_json::Value {
        // The lists are cut before serializing: a first cycle's table has a line per user.
        let first = |n: usize| n.min(SUMMARY_LIST);
        let short = CycleReport {
            read: self.read.clone(),
            rule_errors: self.rule_errors[..first(self.rule_errors.len())].to_vec(),
            unmapped: self.unmapped.clone(),
            plan: self.plan.clone(),
            changes: Vec::new(),
            table: self.table[..first(self.table.len())].to_vec(),
            held: self.held[..first(self.held.len())].to_vec(),
            target: self.target.clone(),
            applied_by: self.applied_by.clone(),
            failures: self.failures[..first(self.failures.len())].to_vec(),
            ..*self
        };
        let mut value = serde_json::to_value(&short).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert("rule_error_count".into(), self.rule_errors.len().into());
            object.insert("failure_count".into(), self.failures.len().into());
        }
        value
    }
}

/// What `status` keeps of a cycle that could not run.
pub(super) fn failed_summary(
    started_at: SystemTime,
    duration: Duration,
    err: &dyn std::fmt::Display,
) -> serde_json::Value {
    let started = started_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    serde_json::json!({
        "started_at": started,
        "cycle_duration": duration.as_millis() as u64,
        "failed": true,
        "error": err.to_string(),
        "exit_status": 1,
    })
}

/// One line of the plan table: a user, what happens, and what changes from what to what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanLine {
    pub user_name: String,
    pub operation: &'static str,
    pub details: Vec<String>,
}

impl PlanLine {
    /// Describes `change` against what the target last accepted (`before`).
    pub fn of(change: &Change, before: Option<&PushedUser>) -> PlanLine {
        let quoted =
            |v: Option<&String>| v.map_or_else(|| "(none)".to_owned(), |v| format!("\"{v}\""));
        let details = match &change.operation {
            Operation::Create {
                permissions,
                department,
                ..
            } => {
                let mut details = Vec::new();
                if !permissions.is_empty() {
                    details.push(format!("permissions {}", permissions.join(", ")));
                }
                if let Some(department) = department {
                    details.push(format!("department {department}"));
                }
                details
            }
            Operation::Update { delta } => {
                let mut details: Vec<String> = delta
                    .attributes
                    .iter()
                    .map(|(path, after)| {
                        let was = before.and_then(|b| b.attributes.get(path));
                        format!("{path}: {} → {}", quoted(was), quoted(after.as_ref()))
                    })
                    .collect();
                if let Some((was, now)) = &delta.permissions {
                    details.push(format!(
                        "permissions: {} → {}",
                        was.join(", "),
                        now.join(", ")
                    ));
                }
                if let Some(now) = &delta.department {
                    let was = before.and_then(|b| b.department.as_ref());
                    details.push(format!(
                        "department: {} → {}",
                        quoted(was),
                        quoted(now.as_ref())
                    ));
                }
                if delta.active == Some(true) {
                    details.push("active: false → true".to_owned());
                }
                details
            }
            Operation::Deactivate { why } | Operation::Delete { why } => vec![
                match why {
                    Deprovision::LeftScope => "left scope in Entra",
                    Deprovision::SoftDeleted => "deleted in Entra (in deleted items)",
                    Deprovision::Absent => "no longer listed by Entra (full round)",
                    Deprovision::Deleted => "deleted in Entra for good",
                }
                .to_owned(),
            ],
        };
        PlanLine {
            user_name: change.user_name.clone(),
            operation: change.operation.name(),
            details,
        }
    }
}

/// How many rule errors and failures a kept cycle summary lists.
pub const SUMMARY_LIST: usize = 50;

/// How many changes of each kind the plan holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    pub creates: usize,
    pub updates: usize,
    pub deactivations: usize,
    pub deletions: usize,
    /// Deprovisions held back by the threshold.
    pub held: usize,
    /// Users a rule error keeps from being created.
    pub not_created: usize,
}

impl PlanCounts {
    pub fn of(plan: &Plan) -> PlanCounts {
        let mut counts = PlanCounts {
            held: plan.held.len(),
            not_created: plan.not_created.len(),
            ..PlanCounts::default()
        };
        for change in &plan.changes {
            match change.operation {
                Operation::Create { .. } => counts.creates += 1,
                Operation::Update { .. } => counts.updates += 1,
                Operation::Deactivate { .. } => counts.deactivations += 1,
                Operation::Delete { .. } => counts.deletions += 1,
            }
        }
        counts
    }
}

/// A change the target did not take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub user_name: String,
    pub result: String,
    pub message: String,
}

impl Failure {
    pub fn of(change: &Change, applied: &Applied) -> Option<Failure> {
        if applied.succeeded() {
            return None;
        }
        Some(Failure {
            user_name: change.user_name.clone(),
            result: applied.word().to_owned(),
            message: applied.message().unwrap_or_default().to_owned(),
        })
    }
}

mod unix_seconds {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let secs = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        s.serialize_u64(secs)
    }
}

mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}
