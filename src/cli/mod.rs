//! The command line of ARCHITECTURE §3: parsing, and running the chosen command.
//!
//! `main.rs` parses with [`Cli`] and calls [`run`]; the commands live beside this file:
//! `cycle` (once, plan, check, reset), `inspect` (status, log), `report` (how a cycle looks),
//! and `daemon` runs the service (`run`).
//!
//! Decides *when* the engine runs (once, on demand, for the demo), never *how*. Configuration is
//! validated here before anything else happens; every failure comes back as an error whose
//! [`exit_status`] is the contract's 1 or 2.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigError};
use crate::engine::{self, CycleError};

mod cycle;
mod inspect;
mod progress;
mod report;

pub use report::{print_read, print_report};

/// Keeps an application's users in step with Microsoft Entra ID, by pulling Graph delta rounds.
#[derive(Debug, Parser)]
#[command(name = "entrasync", version, about, long_about = None)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "ENTRASYNC_CONFIG", default_value = config::DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,
    /// How log lines look on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More log detail (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log detail (-q: warnings and errors only, -qq: errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// Run even as root. entrasync needs no privilege (the systemd unit runs it as a dynamic
    /// user); as root it could leave files in the state directory that the service cannot open.
    #[arg(long, global = true, env = "ENTRASYNC_ALLOW_ROOT", value_parser = clap::builder::FalseyValueParser::new())]
    pub allow_root: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line, for journald and log shippers.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as a service: a cycle now, then one on every `schedule`
    ///
    /// A cycle starts at once, then on the config's `schedule` (default every 40 minutes, or a
    /// cron expression in UTC); cycles never overlap. SIGTERM or SIGINT stop the service (a
    /// running cycle may finish within a minute; a second signal stops at once), SIGHUP reads
    /// the config again (a bad one is refused and the old one kept). After 3 failed cycles in a
    /// row it backs off, 1 hour doubling to a day, until a cycle succeeds or the config is
    /// reloaded. Speaks systemd's notify protocol; with `[http] listen` it serves /healthz and
    /// /metrics. See systemd/entrasync.service.
    Run,
    /// Run one cycle now, then exit
    ///
    /// Reads what changed in Entra since the last cycle, applies the rules, and writes the
    /// difference to the target. With --user or --group, only those users are read (straight
    /// from Graph), planned and applied: provisioning on demand.
    Once(OnceArgs),
    /// Show what a cycle would change, user by user, without changing it
    ///
    /// The same as `once --dry-run`: Graph is read (and the snapshot's source state brought up
    /// to date), nothing is written to the target or to what entrasync recorded of it.
    Plan(PlanArgs),
    /// Show the service, the last cycles, failures, held deprovisions and unmapped names
    Status(StatusArgs),
    /// Show the provisioning log: every change sent to the target, with its outcome
    Log(LogArgs),
    /// Test the config, a token, Graph and the target, one line each
    ///
    /// Validates the config, gets a token, binds the scoped groups in Graph, and tests the
    /// target the way Entra's "Test connection" does (a user that cannot exist must answer 200
    /// with an empty list). The first failure decides the exit status: 1, or 2 for the config.
    Check,
    /// Forget the delta links: the next cycle reads everything again
    ///
    /// The next cycle is a full round. It removes nobody by itself: users are deprovisioned only
    /// on positive evidence (absent from that complete round, out of scope, deleted).
    Reset,
    /// Run against the built-in Graph emulator and a sample tenant, in ./entrasync-demo/
    Demo,
}

#[derive(Debug, Args)]
pub struct OnceArgs {
    /// Provision only this user now (userPrincipalName or object id), read straight from
    /// Graph; repeatable. The delta links are not touched.
    #[arg(long = "user", value_name = "UPN|ID")]
    pub users: Vec<String>,
    /// Provision only the direct members of this group now (display name or object id);
    /// repeatable.
    #[arg(long = "group", value_name = "NAME|ID")]
    pub groups: Vec<String>,
    /// Plan, and write nothing to the target or the pushed state.
    #[arg(long)]
    pub dry_run: bool,
    /// Apply deactivations and deletions even when there are more than
    /// [deprovision] max_deprovisions.
    #[arg(long)]
    pub allow_deprovisions: bool,
    /// Print the cycle report as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// How many past cycles to show.
    #[arg(long, default_value_t = 5)]
    pub cycles: usize,
    /// Print the status as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only this user (userPrincipalName/userName, any case, or Entra object id).
    #[arg(long)]
    pub user: Option<String>,
    /// Only entries this recent, such as 1h, 7d.
    #[arg(long, value_parser = parse_since)]
    pub since: Option<std::time::Duration>,
    /// One JSON object per entry on standard output.
    #[arg(long)]
    pub json: bool,
}

fn parse_since(text: &str) -> Result<std::time::Duration, String> {
    config::parse_duration(text).map_err(|why| format!("{text}: {why}"))
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Print the plan as JSON on standard output.
    #[arg(long)]
    pub json: bool,
}

/// Sets up logging on standard error, as the flags ask.
pub fn init_logging(cli: &Cli) {
    let level = match i16::from(cli.verbose) - i16::from(cli.quiet) {
        i16::MIN..=-2 => tracing::Level::ERROR,
        -1 => tracing::Level::WARN,
        0 => tracing::Level::INFO,
        1 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(progress::LogWriter)
        .with_target(false);
    let _ = match cli.log_format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}

/// Runs the command; `Ok` carries the exit status (0, or 3 when the cycle ran but not fully).
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    if cli.command.opens_state() && !cli.allow_root && running_as_root() {
        return Err(UsageError(
            "refusing to run as root: entrasync needs no privilege, and files it made as root in the state directory could not be opened by the service's own user; run it as that user (the systemd unit uses DynamicUser=yes), or pass --allow-root (ENTRASYNC_ALLOW_ROOT=true) if you mean it".into(),
        )
        .into());
    }
    match &cli.command {
        Command::Once(args) => {
            for (flag, values) in [("--user", &args.users), ("--group", &args.groups)] {
                if values.iter().any(|v| v.trim().is_empty()) {
                    return Err(UsageError(format!(
                        "{flag} is empty; give a {} or an object id",
                        if flag == "--user" {
                            "userPrincipalName"
                        } else {
                            "group's display name"
                        }
                    ))
                    .into());
                }
            }
            let options = engine::Options {
                dry_run: args.dry_run,
                allow_deprovisions: args.allow_deprovisions,
            };
            cycle::once(
                &cli.config,
                options,
                args.json,
                &args.users,
                &args.groups,
                cli.log_format == LogFormat::Text,
            )
            .await
        }
        Command::Plan(args) => {
            let options = engine::Options {
                dry_run: true,
                allow_deprovisions: false,
            };
            cycle::once(
                &cli.config,
                options,
                args.json,
                &[],
                &[],
                cli.log_format == LogFormat::Text,
            )
            .await
        }
        Command::Status(args) => inspect::status(&cli.config, args),
        Command::Log(args) => inspect::log(&cli.config, args),
        Command::Check => cycle::check(&cli.config).await,
        Command::Reset => cycle::reset(&cli.config),
        Command::Demo => crate::demo::run().await,
        Command::Run => crate::daemon::run(&cli.config).await,
    }
}

/// A command line that cannot be carried out as given (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl Command {
    /// Whether the command reads or writes the state directory (and so must not run as root).
    fn opens_state(&self) -> bool {
        !matches!(self, Command::Check | Command::Demo)
    }
}

/// Whether this process runs with root's user id: `/proc/self` belongs to the effective user.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Prints the error that ended the command: one line on standard error, a JSON object like
/// every other line with `--log-format json`.
pub fn print_error(err: &anyhow::Error, format: LogFormat) {
    match format {
        LogFormat::Text => eprintln!("entrasync: {err}"),
        LogFormat::Json => {
            let line = serde_json::json!({
                "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "level": "ERROR",
                "fields": {"message": format!("entrasync: {err}"), "exit_status": exit_status(err)},
            });
            eprintln!("{line}");
        }
    }
}

/// The contract's exit status for an error: 2 for usage and configuration, else 1.
pub fn exit_status(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<ConfigError>() || cause.is::<UsageError>() {
            return 2;
        }
        if let Some(CycleError::Source(source)) = cause.downcast_ref::<CycleError>() {
            if source.is_config_problem() {
                return 2;
            }
        }
    }
    1
}

pub(crate) fn load_config(path: &Path) -> Result<config::Config, ConfigError> {
    let config = config::load(path)?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

/// The config for commands that only read the state directory: no secret is read.
fn load_state_config(path: &Path) -> Result<config::Config, ConfigError> {
    config::load_without_secrets(path)
}
