//! One cycle, in order: fetch rounds from Graph → commit them to the snapshot → (rules → plan →
//! apply, in later stages). The only place that calls the stages in sequence.
//!
//! `cli.rs` decides when a cycle runs; this file decides how. A cycle either commits every round
//! it read, together with the new delta links, or nothing (Invariant 1).

use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::snapshot::{Snapshot, SnapshotError};
use crate::source::{Fetch, Graph, Resume, RoundKind, RoundStats, SourceError};

/// Why a cycle could not run.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

/// What one cycle did, for the summary line, `--json` and the tests.
#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
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

/// Runs steps 1 and 2 of a cycle: read every round from where the snapshot left off, then commit
/// them with their delta links in one step and flush to disk before anything acts on them.
pub async fn cycle(graph: &Graph, snapshot: &Snapshot) -> Result<CycleReport, CycleError> {
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
    let mut report = report(
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
        "cycle committed"
    );
    Ok(report)
}

fn report(
    fetch: &Fetch,
    snapshot: &Snapshot,
    started_at: SystemTime,
    duration: Duration,
    graph_requests: u64,
) -> Result<CycleReport, SnapshotError> {
    Ok(CycleReport {
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
