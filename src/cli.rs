//! The command line of ARCHITECTURE §3: parsing, and running the chosen command.
//!
//! Decides *when* the engine runs (once, on demand, for the demo), never *how*. Configuration is
//! validated here before anything else happens; every failure comes back as an error whose
//! [`exit_status`] is the contract's 1 or 2.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigError};
use crate::engine::{self, CycleError, CycleReport, ReadReport};
use crate::snapshot::Snapshot;
use crate::source::Graph;
use crate::target::AnyTarget;

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
    #[arg(long, global = true, env = "ENTRASYNC_ALLOW_ROOT")]
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
    /// Run one cycle now, then exit: read what changed in Entra since the last cycle, apply the
    /// rules, and write the difference to the target.
    Once(OnceArgs),
    /// What a cycle would change, without changing it (the same as `once --dry-run`).
    Plan(PlanArgs),
    /// The last cycles: counts, what was held back, failures, unmapped departments and groups.
    Status(StatusArgs),
    /// The provisioning log: every change sent to the target, with its outcome.
    Log(LogArgs),
    /// Validate the config, get a token, bind the scoped groups in Graph, and test the target
    /// the way Entra's "Test connection" does. One line per check.
    Check,
    /// Forget the delta links: the next cycle reads everything again (a full round). Removes
    /// nothing by itself.
    Reset,
    /// Run against the built-in Graph emulator and a sample tenant, in ./entrasync-demo/.
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
        .with_writer(std::io::stderr)
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
            let options = engine::Options {
                dry_run: args.dry_run,
                allow_deprovisions: args.allow_deprovisions,
            };
            once(&cli.config, options, args.json, &args.users, &args.groups).await
        }
        Command::Plan(args) => {
            let options = engine::Options {
                dry_run: true,
                allow_deprovisions: false,
            };
            once(&cli.config, options, args.json, &[], &[]).await
        }
        Command::Status(args) => status(&cli.config, args),
        Command::Log(args) => log(&cli.config, args),
        Command::Check => check(&cli.config).await,
        Command::Reset => reset(&cli.config),
        Command::Demo => crate::demo::run().await,
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

fn load_config(path: &Path) -> Result<config::Config, ConfigError> {
    let config = config::load(path)?;
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    Ok(config)
}

fn open_snapshot(state_dir: &Path) -> anyhow::Result<Snapshot> {
    let opened = Snapshot::open(state_dir)?;
    if let Some(aside) = &opened.recovered_from {
        tracing::warn!(
            moved_to = %aside.display(),
            "the snapshot was damaged and has been moved aside; this cycle reads everything again"
        );
    }
    Ok(opened.snapshot)
}

async fn once(
    path: &Path,
    options: engine::Options,
    json: bool,
    users: &[String],
    groups: &[String],
) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let snapshot = open_snapshot(&config.state_dir)?;
    let graph = Graph::new(&config.source).map_err(CycleError::from)?;
    let target = config
        .target
        .as_ref()
        .map(AnyTarget::from_config)
        .transpose()?;
    let report = if users.is_empty() && groups.is_empty() {
        engine::cycle(&graph, &snapshot, &config, target.as_ref(), options).await?
    } else {
        engine::on_demand(
            &graph,
            &snapshot,
            &config,
            target.as_ref(),
            options,
            users,
            groups,
        )
        .await?
    };
    print_report(&report, json)?;
    Ok(report.exit_status)
}

fn status(path: &Path, args: &StatusArgs) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let snapshot = open_snapshot(&config.state_dir)?;
    let counts = snapshot.counts()?;
    let links = snapshot.delta_links()?;
    let pushed = snapshot.pushed()?;
    let cycles = snapshot.cycles(args.cycles)?;
    if args.json {
        let status = serde_json::json!({
            "snapshot": counts,
            "provisioned": pushed.len(),
            "active": pushed.values().filter(|p| p.active).count(),
            "incremental": links.users.is_some(),
            "cycles": cycles,
        });
        let text =
            serde_json::to_string_pretty(&status).context("cannot write the status as JSON")?;
        println!("{text}");
        return Ok(0);
    }
    println!(
        "snapshot {}: {} users, {} groups, {} memberships; next cycle: {}",
        config.state_dir.display(),
        counts.users,
        counts.groups,
        counts.memberships,
        if links.users.is_some() {
            "incremental"
        } else {
            "full rounds"
        }
    );
    println!(
        "provisioned: {} users ({} active)",
        pushed.len(),
        pushed.values().filter(|p| p.active).count()
    );
    if cycles.is_empty() {
        println!("no cycle has applied anything yet");
    }
    for cycle in &cycles {
        let n = |key: &str| cycle["plan"][key].as_u64().unwrap_or(0);
        println!(
            "cycle at {} (unix): {} in scope; {} creates, {} updates, {} deactivations, {} deletions; {} held back; {} applied, {} failed; {} rule errors; exit {}",
            cycle["started_at"],
            cycle["in_scope"],
            n("creates"),
            n("updates"),
            n("deactivations"),
            n("deletions"),
            n("held"),
            cycle["applied"],
            cycle["failure_count"],
            cycle["rule_error_count"],
            cycle["exit_status"]
        );
        if n("held") > 0 {
            println!(
                "  {} deactivations/deletions held back: more than [deprovision] max_deprovisions ({}); run `entrasync once --allow-deprovisions` once you have checked",
                n("held"),
                config.deprovision.max_deprovisions
            );
        }
        for failure in cycle["failures"].as_array().into_iter().flatten() {
            println!(
                "  {}: {}",
                failure["user_name"].as_str().unwrap_or("?"),
                failure["message"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(last) = cycles.first() {
        for name in last["unmapped"]["groups"].as_array().into_iter().flatten() {
            println!("  unmapped group: {}", name.as_str().unwrap_or("?"));
        }
        let departments: Vec<&str> = last["unmapped"]["departments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str())
            .collect();
        if !departments.is_empty() {
            println!("  departments no alias maps: {}", departments.join(", "));
        }
    }
    Ok(0)
}

fn log(path: &Path, args: &LogArgs) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let snapshot = open_snapshot(&config.state_dir)?;
    let since = args.since.map_or(0, |ago| {
        std::time::SystemTime::now()
            .checked_sub(ago)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs())
    });
    for entry in snapshot.log(since, args.user.as_deref())? {
        if args.json {
            println!(
                "{}",
                serde_json::to_string(&entry).context("cannot write JSON")?
            );
        } else {
            let at = httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(entry.at_unix),
            );
            let detail = entry
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            println!(
                "{at}  {:<10} {:<12} {}{detail}",
                entry.operation, entry.outcome, entry.user_name
            );
        }
    }
    Ok(0)
}

/// `check`: each step on its own line; the first failure decides the exit status.
async fn check(path: &Path) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    println!("config {}: ok", config.path.display());
    let graph = Graph::new(&config.source).map_err(CycleError::from)?;
    graph.check_token().await.map_err(CycleError::from)?;
    println!("token for tenant {}: ok", config.source.tenant_id);
    let groups = graph.check_groups().await.map_err(CycleError::from)?;
    println!("Graph: {groups} scoped groups found");
    match config.target.as_ref() {
        None => println!("target: none configured (cycles plan and write nothing)"),
        Some(target_config) => {
            let target = AnyTarget::from_config(target_config)?;
            crate::target::Target::check(&target)
                .await
                .map_err(CycleError::from)?;
            println!("target {}: ok", crate::target::Target::describe(&target));
        }
    }
    Ok(0)
}

fn reset(path: &Path) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let snapshot = open_snapshot(&config.state_dir)?;
    snapshot.forget_delta_links()?;
    println!(
        "forgot the delta links in {}: the next cycle reads everything again",
        config.state_dir.display()
    );
    Ok(0)
}

/// How many changes the text report lists; `--json` has them all.
const PLAN_LINES: usize = 40;

/// Prints a cycle report: a few lines for people, or one JSON document.
pub fn print_report(report: &CycleReport, json: bool) -> anyhow::Result<()> {
    if json {
        let text =
            serde_json::to_string_pretty(report).context("cannot write the report as JSON")?;
        println!("{text}");
        return Ok(());
    }
    print_read(&report.read);
    println!(
        "rules: {} users in scope, {} rule errors",
        report.in_scope,
        report.rule_errors.len()
    );
    for error in &report.rule_errors {
        let who = error
            .user_principal_name
            .as_deref()
            .unwrap_or(&error.user_id);
        println!("  {who}: {}", error.message);
    }
    for message in report.unmapped.group_messages() {
        println!("  {message}");
    }
    if !report.unmapped.departments.is_empty() {
        let names: Vec<&str> = report
            .unmapped
            .departments
            .iter()
            .map(String::as_str)
            .collect();
        println!("  departments no alias maps: {}", names.join(", "));
    }
    for (title, lines) in [("changes", &report.table), ("held back", &report.held)] {
        if !lines.is_empty() {
            println!("{title}:");
        }
        for line in lines.iter().take(PLAN_LINES) {
            println!("  {:<10} {}", line.operation, line.user_name);
            for detail in &line.details {
                println!("             {detail}");
            }
        }
        if lines.len() > PLAN_LINES {
            println!(
                "  … and {} more (`entrasync plan --json` lists them all)",
                lines.len() - PLAN_LINES
            );
        }
    }
    let p = &report.plan;
    println!(
        "plan: {} creates, {} updates, {} deactivations, {} deletions; {} held back, {} not created",
        p.creates, p.updates, p.deactivations, p.deletions, p.held, p.not_created
    );
    match (&report.target, report.dry_run) {
        (_, true) => println!("dry run: nothing was written"),
        (None, false) => println!("no [target] configured: nothing was written"),
        (Some(target), false) => println!(
            "{target}: {} changes applied, {} failed",
            report.applied,
            report.failures.len()
        ),
    }
    for failure in &report.failures {
        println!(
            "  {} ({}): {}",
            failure.user_name, failure.result, failure.message
        );
    }
    Ok(())
}

/// The read half of a report.
pub fn print_read(read: &ReadReport) {
    let u = &read.users_round;
    println!(
        "users round ({:?}): {} changed, {} removed, {} pages",
        u.kind, u.changed, u.removed, u.stats.pages
    );
    for (i, g) in read.group_rounds.iter().enumerate() {
        println!(
            "groups round {} ({:?}): {} changed, {} removed, {} pages",
            i + 1,
            g.kind,
            g.changed,
            g.removed,
            g.stats.pages
        );
    }
    let s = &read.snapshot;
    println!(
        "snapshot: {} users, {} groups, {} memberships; {} Graph requests in {} ms (read {} ms, commit {} ms)",
        s.users,
        s.groups,
        s.memberships,
        read.graph_requests,
        read.duration.as_millis(),
        read.fetch_duration.as_millis(),
        read.commit_duration.as_millis()
    );
}
