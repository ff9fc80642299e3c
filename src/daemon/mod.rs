//! `entrasync run`: the service — a cycle at start, then on the schedule, until stopped.
//!
//! Decides *when* the engine runs, never *how* (ARCHITECTURE §1). This file wires the parts:
//! the configuration and its clients (`service.rs`), the loop (`scheduler.rs`), the state it
//! publishes (`state.rs`) to systemd (`READY=1`, `STATUS=`, `WATCHDOG=1`), to
//! `{state_dir}/service.json` and to the optional HTTP listener (`http.rs`: `/healthz`,
//! `/metrics` from `metrics.rs`), and the signals: SIGTERM and SIGINT stop (a running cycle may
//! finish within [`STOP_WITHIN`]; a second signal stops at once), SIGHUP reads the
//! configuration again.

mod http;
mod metrics;
mod scheduler;
mod service;
mod state;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use metrics::Metrics;
pub use scheduler::{Clock, Cycles, QUARANTINE_AFTER, Stopped, Why, next_start};
pub use service::Service;
pub use state::{CycleResult, LastCycle, Outcome, Quarantine, SERVICE_FILE, ServiceState};

/// How long a running cycle may go on after SIGTERM or SIGINT (the unit's `TimeoutStopSec` is
/// longer).
pub const STOP_WITHIN: Duration = Duration::from_secs(60);

/// Runs the service with the configuration at `path` until it is stopped; `Ok(0)` then.
pub async fn run(path: &Path) -> anyhow::Result<u8> {
    let config = crate::cli::load_config(path)?;
    crate::files::create_private_dir(&config.state_dir).with_context(|| {
        format!(
            "cannot create the state directory {}; create it, or under systemd use StateDirectory=",
            config.state_dir.display()
        )
    })?;
    let listener = match &config.http {
        Some(http) => Some(
            tokio::net::TcpListener::bind(http.listen)
                .await
                .with_context(|| {
                    format!(
                        "{}: [http] listen = \"{}\": cannot listen there; is another process using the port?",
                        config.path.display(),
                        http.listen
                    )
                })?,
        ),
        None => None,
    };
    let metrics = Arc::new(Metrics::new());
    let schedule = config.schedule.clone();
    let state_dir = config.state_dir.clone();
    let mut service = Service::new(config, metrics.clone())?;

    let mut initial = ServiceState::new(Utc::now(), &schedule);
    initial.listen = listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|at| at.to_string());
    let (state, watched) = watch::channel(initial);
    let shutdown = CancellationToken::new();
    let (reload, reloads) = mpsc::channel(1);
    listen_for_signals(shutdown.clone(), reload)?;
    let publisher = tokio::spawn(publish(watched.clone(), state_dir.clone()));
    if let Some(every) = sd_notify::watchdog_enabled() {
        tokio::spawn(watchdog(every / 2, shutdown.clone()));
    }
    let server = listener.map(|listener| {
        if let Ok(at) = listener.local_addr() {
            tracing::info!("serving /healthz and /metrics on http://{at}");
        }
        tokio::spawn(http::serve(
            listener,
            watched,
            metrics.clone(),
            shutdown.clone(),
        ))
    });
    notify(&[NotifyState::Ready]);
    tracing::info!(
        config = %service.config().path.display(),
        state_dir = %state_dir.display(),
        "entrasync runs: a cycle now, then {schedule}"
    );

    let stopped = scheduler::run(
        &mut service,
        schedule,
        Clock::System,
        shutdown.clone(),
        reloads,
        &state,
        STOP_WITHIN,
    )
    .await;
    notify(&[NotifyState::Stopping]);
    shutdown.cancel();
    state.send_modify(|s| {
        s.running_since = None;
        s.next_at = None;
    });
    drop(state);
    let _ = publisher.await;
    if let Some(server) = server {
        let _ = server.await;
    }
    tracing::info!(?stopped, "entrasync stopped");
    Ok(0)
}

/// SIGTERM and SIGINT cancel `shutdown` (a second one ends the process at once); SIGHUP asks
/// for a reload.
fn listen_for_signals(shutdown: CancellationToken, reload: mpsc::Sender<()>) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
                _ = hup.recv() => {
                    tracing::info!("SIGHUP: reading the configuration again");
                    // A reload already waiting covers this one too.
                    let _ = reload.try_send(());
                    continue;
                }
            }
            if shutdown.is_cancelled() {
                tracing::warn!("second stop request: stopping now, midway through the cycle");
                std::process::exit(1);
            }
            tracing::info!("stop requested");
            shutdown.cancel();
        }
    });
    Ok(())
}

/// Writes every new state to `{state_dir}/service.json` and to systemd's `STATUS=`.
async fn publish(mut state: watch::Receiver<ServiceState>, state_dir: PathBuf) {
    let mut warned = false;
    loop {
        let current = state.borrow_and_update().clone();
        notify(&[NotifyState::Status(&current.status_line())]);
        if let Err(err) = current.write(&state_dir) {
            if !warned {
                tracing::warn!(
                    "cannot write {}: {err}; `entrasync status` will not show the service",
                    state_dir.join(SERVICE_FILE).display()
                );
                warned = true;
            }
        }
        if state.changed().await.is_err() {
            return;
        }
    }
}

/// Tells systemd's watchdog every `every` that the runtime is alive.
async fn watchdog(every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => notify(&[NotifyState::Watchdog]),
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Sends `states` to systemd when it listens (`NOTIFY_SOCKET`); elsewhere does nothing.
fn notify(states: &[NotifyState]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::debug!("cannot notify systemd: {err}");
    }
}
