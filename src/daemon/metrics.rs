//! `/metrics`: what the service has done, in Prometheus' text format.
//!
//! Part of `daemon/`. The production cycle (`service.rs`) adds each cycle's report; what the
//! loop knows (failures in a row, the back-off, the last success) is read from the service
//! state when Prometheus scrapes, so it is never stale.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::state::{CycleResult, ServiceState};
use crate::engine::CycleReport;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    /// The HTTP status, or 0 for a request that got no answer.
    status: u16,
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    cycles: Family<ResultLabel, Counter>,
    cycle_seconds: Histogram,
    in_scope: Gauge,
    applied: Family<KindLabel, Counter>,
    failures: Counter,
    held: Gauge,
    rule_errors: Gauge,
    graph_requests: Family<StatusLabel, Counter>,
    target_requests: Family<StatusLabel, Counter>,
    consecutive_failures: Gauge,
    quarantined: Gauge,
    since_success: Gauge<f64, AtomicU64>,
    /// Request counts already added, per client, so each scrape adds only the difference.
    seen: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut metrics = Metrics {
            registry: Registry::with_prefix("entrasync"),
            cycles: Family::default(),
            cycle_seconds: Histogram::new(exponential_buckets(0.05, 2.0, 16)),
            in_scope: Gauge::default(),
            applied: Family::default(),
            failures: Counter::default(),
            held: Gauge::default(),
            rule_errors: Gauge::default(),
            graph_requests: Family::default(),
            target_requests: Family::default(),
            consecutive_failures: Gauge::default(),
            quarantined: Gauge::default(),
            since_success: Gauge::default(),
            seen: Mutex::default(),
        };
        let registry = &mut metrics.registry;
        registry.register(
            "cycles",
            "Cycles finished, by result: ok, partial (some users failed or deprovisions held), failed (could not run)",
            metrics.cycles.clone(),
        );
        registry.register(
            "cycle_duration_seconds",
            "How long whole cycles took",
            metrics.cycle_seconds.clone(),
        );
        registry.register(
            "users_in_scope",
            "Users the rules put in the target, at the last cycle",
            metrics.in_scope.clone(),
        );
        registry.register(
            "changes_applied",
            "Changes the target confirmed, by kind: created, adopted, updated, deactivated, deleted",
            metrics.applied.clone(),
        );
        registry.register(
            "user_failures",
            "Changes the target refused or could not take (they are retried next cycle)",
            metrics.failures.clone(),
        );
        registry.register(
            "held_deprovisions",
            "Deactivations and deletions held back by [deprovision] max_deprovisions at the last cycle",
            metrics.held.clone(),
        );
        registry.register(
            "rule_errors",
            "Users a rule error kept out at the last cycle",
            metrics.rule_errors.clone(),
        );
        registry.register(
            "graph_requests",
            "Requests to Microsoft Graph, by HTTP status (0: no answer)",
            metrics.graph_requests.clone(),
        );
        registry.register(
            "target_requests",
            "Requests to the SCIM target, by HTTP status (0: no answer)",
            metrics.target_requests.clone(),
        );
        registry.register(
            "consecutive_failed_cycles",
            "Cycles in a row that could not run",
            metrics.consecutive_failures.clone(),
        );
        registry.register(
            "quarantined",
            "1 while the service backs off after failed cycles in a row",
            metrics.quarantined.clone(),
        );
        registry.register(
            "seconds_since_last_success",
            "Seconds since the last cycle that ran (since the start while none has)",
            metrics.since_success.clone(),
        );
        metrics
    }

    /// Adds a cycle that ran.
    pub fn cycle_ran(&self, report: &CycleReport) {
        let result = if report.exit_status == 0 {
            CycleResult::Ok
        } else {
            CycleResult::Partial
        };
        self.cycle_ended(result, report.cycle_duration.as_secs_f64());
        self.in_scope.set(report.in_scope as i64);
        for (kind, count) in &report.applied_by {
            self.applied
                .get_or_create(&KindLabel { kind })
                .inc_by(*count as u64);
        }
        self.failures.inc_by(report.failures.len() as u64);
        self.held.set(report.plan.held as i64);
        self.rule_errors.set(report.rule_errors.len() as i64);
    }

    /// Adds a cycle that ended with `result` after `seconds`.
    pub fn cycle_ended(&self, result: CycleResult, seconds: f64) {
        let result = match result {
            CycleResult::Ok => "ok",
            CycleResult::Partial => "partial",
            CycleResult::Failed => "failed",
        };
        self.cycles.get_or_create(&ResultLabel { result }).inc();
        self.cycle_seconds.observe(seconds);
    }

    /// Brings the request counters up to a client's own counts (`client` is "graph" or
    /// "target"). A new client (after a reload) starts again from zero: only growth is added.
    pub fn requests(&self, client: &'static str, counts: &BTreeMap<u16, u64>) {
        let family = if client == "graph" {
            &self.graph_requests
        } else {
            &self.target_requests
        };
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (status, count) in counts {
            let before = seen.entry((client, *status)).or_default();
            if *count > *before {
                family
                    .get_or_create(&StatusLabel { status: *status })
                    .inc_by(*count - *before);
            }
            *before = *count;
        }
    }

    /// A new client starts counting from zero.
    pub fn forget_requests(&self, client: &'static str) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(c, _), _| *c != client);
    }

    /// The text Prometheus scrapes, with the state's own values as of `now`.
    pub fn encode(&self, state: &ServiceState, now: DateTime<Utc>) -> String {
        self.consecutive_failures
            .set(i64::from(state.consecutive_failures));
        self.quarantined.set(i64::from(state.quarantine.is_some()));
        let since = state.last_success_at.unwrap_or(state.started_at);
        self.since_success
            .set((now - since).num_milliseconds().max(0) as f64 / 1000.0);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
