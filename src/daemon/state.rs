//! What the running service knows about itself: the last cycle, failures in a row, the
//! back-off, the next start. The loop writes it; `/healthz`, `/metrics`, systemd's `STATUS=`
//! and `entrasync status` read it.
//!
//! Part of `daemon/`. The loop keeps it in a `tokio::sync::watch` channel; a copy is written to
//! `{state_dir}/service.json` (replaced atomically) whenever it changes, so `entrasync status`,
//! another process, can show it without touching the service.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::config::Schedule;

/// The file in the state directory that holds the last published [`ServiceState`].
pub const SERVICE_FILE: &str = "service.json";

/// How a cycle ended, as the loop sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It ran; `exit_status` 0, or 3 when some users failed or deprovisions were held back.
    Ran { exit_status: u8, headline: String },
    /// It could not run (Graph, the target or the snapshot unavailable, a refused token).
    Failed { error: String },
}

/// The result of a finished cycle, in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CycleResult {
    /// Everything done.
    Ok,
    /// Ran, but some users failed or deprovisions were held back (exit status 3).
    Partial,
    /// Could not run.
    Failed,
}

/// The last finished cycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastCycle {
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub result: CycleResult,
    /// What it did, or why it failed.
    pub summary: String,
}

/// The back-off after failed cycles in a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    pub failures: u32,
    pub wait_s: u64,
}

/// The service's view of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    /// The schedule in words ("every 40m").
    pub schedule: String,
    /// About how long one period of the schedule is, in seconds (for `/healthz`).
    pub period_s: u64,
    /// When the configuration was last read.
    pub config_loaded_at: DateTime<Utc>,
    /// When the running cycle started; `None` between cycles.
    pub running_since: Option<DateTime<Utc>>,
    pub last: Option<LastCycle>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    pub quarantine: Option<Quarantine>,
    pub next_at: Option<DateTime<Utc>>,
    /// Where `/healthz` and `/metrics` are served (`[http] listen`), once listening.
    pub listen: Option<String>,
}

impl ServiceState {
    pub fn new(now: DateTime<Utc>, schedule: &Schedule) -> ServiceState {
        ServiceState {
            pid: std::process::id(),
            started_at: now,
            schedule: schedule.to_string(),
            period_s: schedule.period(now).as_secs(),
            config_loaded_at: now,
            running_since: None,
            last: None,
            last_success_at: None,
            consecutive_failures: 0,
            quarantine: None,
            next_at: None,
            listen: None,
        }
    }

    pub fn cycle_started(&mut self, at: DateTime<Utc>) {
        self.running_since = Some(at);
    }

    pub fn cycle_ended(&mut self, started: DateTime<Utc>, ended: DateTime<Utc>, outcome: &Outcome) {
        self.running_since = None;
        let (result, summary) = match outcome {
            Outcome::Ran {
                exit_status: 0,
                headline,
            } => (CycleResult::Ok, headline.clone()),
            Outcome::Ran { headline, .. } => (CycleResult::Partial, headline.clone()),
            Outcome::Failed { error } => (CycleResult::Failed, error.clone()),
        };
        if result == CycleResult::Failed {
            self.consecutive_failures += 1;
        } else {
            self.consecutive_failures = 0;
            self.quarantine = None;
            self.last_success_at = Some(ended);
        }
        self.last = Some(LastCycle {
            started_at: started,
            duration_ms: (ended - started).num_milliseconds().max(0) as u64,
            result,
            summary,
        });
    }

    /// A new configuration was read: failures so far no longer count against it.
    pub fn reloaded(&mut self, at: DateTime<Utc>, schedule: &Schedule) {
        self.schedule = schedule.to_string();
        self.period_s = schedule.period(at).as_secs();
        self.config_loaded_at = at;
        self.consecutive_failures = 0;
        self.quarantine = None;
    }

    /// Whether `/healthz` answers 200, and why not. Healthy while starting, while the last
    /// cycle ran, or while the last success is within two periods of the schedule; not when a
    /// cycle has run for more than three periods (and at least an hour).
    pub fn health(&self, now: DateTime<Utc>) -> Result<(), String> {
        let period = chrono::TimeDelta::seconds(self.period_s.min(u32::MAX as u64) as i64);
        if let Some(since) = self.running_since {
            let limit = (period * 3).max(chrono::TimeDelta::hours(1));
            if now - since > limit {
                return Err(format!(
                    "a cycle has been running since {}",
                    since.format("%Y-%m-%d %H:%M:%S UTC")
                ));
            }
        }
        let Some(last) = &self.last else {
            return Ok(());
        };
        if last.result != CycleResult::Failed {
            return Ok(());
        }
        match self.last_success_at {
            Some(at) if now - at <= period * 2 => Ok(()),
            Some(at) => Err(format!(
                "{} cycles in a row failed, the last successful one at {}: {}",
                self.consecutive_failures,
                at.format("%Y-%m-%d %H:%M:%S UTC"),
                last.summary
            )),
            None => Err(format!(
                "no cycle has succeeded yet ({} failed): {}",
                self.consecutive_failures, last.summary
            )),
        }
    }

    /// One line for systemd's `STATUS=`.
    pub fn status_line(&self) -> String {
        let mut line = match (&self.running_since, &self.last) {
            (Some(since), _) => format!("cycle running since {}", since.format("%H:%M:%S UTC")),
            (None, None) => "starting".to_owned(),
            (None, Some(last)) => format!(
                "last cycle {} ({}, {:.1} s): {}",
                last.started_at.format("%Y-%m-%d %H:%M UTC"),
                match last.result {
                    CycleResult::Ok => "ok",
                    CycleResult::Partial => "partly done",
                    CycleResult::Failed => "failed",
                },
                last.duration_ms as f64 / 1000.0,
                last.summary
            ),
        };
        if let Some(q) = &self.quarantine {
            line.push_str(&format!(
                "; backing off after {} failures in a row",
                q.failures
            ));
        }
        if let (None, Some(next)) = (&self.running_since, &self.next_at) {
            line.push_str(&format!("; next {}", next.format("%H:%M:%S UTC")));
        }
        line
    }

    /// Writes the state to `{state_dir}/service.json` (mode 0600), replacing it whole.
    pub fn write(&self, state_dir: &Path) -> std::io::Result<()> {
        let path = state_dir.join(SERVICE_FILE);
        let partial = state_dir.join(format!("{SERVICE_FILE}.partial"));
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut file = crate::files::create_with_mode(&partial, crate::files::PRIVATE_FILE)?;
        std::io::Write::write_all(&mut file, &text)?;
        drop(file);
        std::fs::rename(&partial, &path)
    }

    /// Reads what a service last wrote into `state_dir`; `None` when none ever ran there.
    pub fn read(state_dir: &Path) -> Result<Option<ServiceState>, String> {
        let path: PathBuf = state_dir.join(SERVICE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|err| {
                format!(
                    "{}: not a service state ({err}); it is rewritten by the next `entrasync run`",
                    path.display()
                )
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(format!("{}: cannot be read ({err})", path.display())),
        }
    }

    /// Whether the process that wrote this state still runs.
    pub fn is_running(&self) -> bool {
        Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}
