//! A spinner on the terminal while a cycle reads Entra: pages and objects so far.
//!
//! Part of the command line (`once`, `plan`). Shown only when standard error is a terminal and
//! the logs are text, and only once a cycle has run for a second, so a quick incremental cycle
//! never flickers and nothing of it reaches a pipe, a file or the journal. Log lines written
//! while it spins go through [`LogWriter`], which lifts the spinner, writes, and puts it back.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::source::ReadProgress;

/// How long a cycle runs before the spinner shows.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// The spinner's task; stopping it clears the line.
pub struct Spinner {
    task: Option<tokio::task::JoinHandle<()>>,
    stop: tokio_util::sync::CancellationToken,
}

impl Spinner {
    /// Starts watching `progress`, if standard error is a terminal and `text_logs`.
    pub fn start(progress: Arc<ReadProgress>, text_logs: bool) -> Spinner {
        let stop = tokio_util::sync::CancellationToken::new();
        let task = (text_logs && std::io::stderr().is_terminal())
            .then(|| tokio::spawn(spin(progress, stop.clone())));
        Spinner { task, stop }
    }

    /// Stops and clears the spinner.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Some(task) = self.task {
            let _ = task.await;
        }
    }
}

async fn spin(progress: Arc<ReadProgress>, stop: tokio_util::sync::CancellationToken) {
    tokio::select! {
        _ = tokio::time::sleep(SHOW_AFTER) => {}
        _ = stop.cancelled() => return,
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    set_active(Some(bar.clone()));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut tick = tokio::time::interval(Duration::from_millis(120));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let (pages, objects) = progress.read();
                bar.set_message(format!(
                    "reading Entra ID: {objects} users and groups on {pages} pages, then the rules and the target"
                ));
                bar.tick();
            }
            _ = stop.cancelled() => break,
        }
    }
    set_active(None);
    bar.finish_and_clear();
}

/// The spinner on screen, if any: log lines must lift it.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn set_active(bar: Option<ProgressBar>) {
    *ACTIVE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = bar;
}

/// Where the text logs go: standard error, around the spinner when one is on screen.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// One log line, written whole when dropped.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let write = || {
            let _ = std::io::stderr().write_all(&self.0);
        };
        let active = ACTIVE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match active {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

impl tracing_subscriber::fmt::MakeWriter<'_> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&self) -> LogLine {
        LogLine(Vec::new())
    }
}
