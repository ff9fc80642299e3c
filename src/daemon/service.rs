//! The cycle `entrasync run` runs: the engine on the loaded configuration, counted in the
//! metrics; and reloading that configuration on SIGHUP.
//!
//! Part of `daemon/`: the production [`Cycles`] for the scheduler loop. The Graph client (and
//! its cached token) and the target live as long as the configuration; the snapshot is opened
//! for each cycle and closed after it, so `entrasync status`, `log` or `once --user` can use the
//! state directory between cycles.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::metrics::Metrics;
use super::scheduler::Cycles;
use super::state::{CycleResult, Outcome};
use crate::config::{self, Config, Schedule};
use crate::engine::{self, CycleError, Options};
use crate::snapshot::{Snapshot, SnapshotError};
use crate::source::Graph;
use crate::target::AnyTarget;

/// The configuration and what was built from it.
pub struct Service {
    config: Config,
    graph: Graph,
    target: Option<AnyTarget>,
    metrics: Arc<Metrics>,
}

impl Service {
    /// Builds the clients for `config`; an error here is a configuration that cannot be used.
    pub fn new(config: Config, metrics: Arc<Metrics>) -> Result<Service, CycleError> {
        let (graph, target) = engine::connect(&config)?;
        Ok(Service {
            config,
            graph,
            target,
            metrics,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }
}

impl Cycles for Service {
    async fn cycle(&mut self) -> Outcome {
        let clock = Instant::now();
        let result = async {
            let snapshot = open_waiting(&self.config.state_dir).await?;
            engine::cycle(
                &self.graph,
                &snapshot,
                &self.config,
                self.target.as_ref(),
                Options::default(),
            )
            .await
        }
        .await;
        self.metrics
            .requests("graph", &self.graph.requests_by_status());
        if let Some(target) = &self.target {
            self.metrics
                .requests("target", &target.requests_by_status());
        }
        match result {
            Ok(report) => {
                self.metrics.cycle_ran(&report);
                Outcome::Ran {
                    exit_status: report.exit_status,
                    headline: report.headline(),
                }
            }
            Err(err) => {
                tracing::error!(
                    duration_ms = clock.elapsed().as_millis() as u64,
                    "the cycle could not run: {err}"
                );
                self.metrics
                    .cycle_ended(CycleResult::Failed, clock.elapsed().as_secs_f64());
                Outcome::Failed {
                    error: err.to_string(),
                }
            }
        }
    }

    fn reload(&mut self) -> Result<Schedule, String> {
        let path = self.config.path.clone();
        let config = config::load(&path).map_err(|err| err.to_string())?;
        if config.state_dir != self.config.state_dir {
            return Err(format!(
                "{}: state_dir changed from {} to {}; the snapshot cannot move while the service runs: restart it",
                path.display(),
                self.config.state_dir.display(),
                config.state_dir.display()
            ));
        }
        if config.http != self.config.http {
            tracing::warn!(
                "{}: [http] changed; the listener moves at the next start of the service",
                path.display()
            );
        }
        for warning in &config.warnings {
            tracing::warn!("{warning}");
        }
        let fresh = Service::new(config, self.metrics.clone())
            .map_err(|err| format!("{}: {err}", path.display()))?;
        self.metrics.forget_requests("graph");
        self.metrics.forget_requests("target");
        let schedule = fresh.config.schedule.clone();
        *self = fresh;
        Ok(schedule)
    }
}

/// How long a cycle waits for another entrasync (an operator's `once`, say) to release the
/// snapshot before it counts as failed.
const LOCKED_WAIT: Duration = Duration::from_secs(300);

/// Opens the snapshot, waiting up to [`LOCKED_WAIT`] while another process holds it.
async fn open_waiting(state_dir: &Path) -> Result<Snapshot, SnapshotError> {
    let deadline = Instant::now() + LOCKED_WAIT;
    let mut said = false;
    loop {
        match Snapshot::open_logged(state_dir) {
            Err(SnapshotError::Locked { .. }) if Instant::now() < deadline => {
                if !said {
                    tracing::info!(
                        state_dir = %state_dir.display(),
                        "another entrasync has the snapshot open (an `entrasync once`?); the cycle waits for it"
                    );
                    said = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}
