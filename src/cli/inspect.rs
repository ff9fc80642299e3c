//! `status` and `log`: what the snapshot remembers of past cycles and of every change sent.
//!
//! Part of the command line; reads the state directory, never Graph or the target.

use std::path::Path;

use anyhow::Context;

use super::{LogArgs, StatusArgs, load_state_config};
use crate::daemon::ServiceState;
use crate::snapshot::Snapshot;

pub(super) fn status(path: &Path, args: &StatusArgs) -> anyhow::Result<u8> {
    let config = load_state_config(path)?;
    let service = ServiceState::read(&config.state_dir).unwrap_or_else(|why| {
        tracing::warn!("{why}");
        None
    });
    let snapshot = Snapshot::open_logged(&config.state_dir)?;
    let counts = snapshot.counts()?;
    let links = snapshot.delta_links()?;
    let pushed = snapshot.pushed()?;
    let cycles = snapshot.cycles(args.cycles)?;
    let active = pushed.values().filter(|p| p.active).count();
    if args.json {
        let status = serde_json::json!({
            "service": service.as_ref().map(|s| serde_json::json!({
                "running": s.is_running(),
                "state": s,
            })),
            "snapshot": counts,
            "provisioned": pushed.len(),
            "active": active,
            "incremental": links.users.is_some(),
            "cycles": cycles,
        });
        let text =
            serde_json::to_string_pretty(&status).context("cannot write the status as JSON")?;
        println!("{text}");
        return Ok(0);
    }
    match &service {
        Some(service) => println!("{}", service_line(service)),
        None => println!("service: `entrasync run` has not run with this state directory"),
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
    println!("provisioned: {} users ({active} active)", pushed.len());
    if cycles.is_empty() {
        println!("no cycle has run yet");
    } else {
        println!("last cycles, newest first:");
    }
    for cycle in &cycles {
        println!("  {}", cycle_line(cycle));
        let held = cycle["plan"]["held"].as_u64().unwrap_or(0);
        if held > 0 {
            println!(
                "    {held} deactivations/deletions held back: more than [deprovision] max_deprovisions ({}); run `entrasync once --allow-deprovisions` once you have checked",
                config.deprovision.max_deprovisions
            );
        }
        for failure in cycle["failures"].as_array().into_iter().flatten() {
            println!(
                "    {}: {}",
                failure["user_name"].as_str().unwrap_or("?"),
                failure["message"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(last) = cycles.iter().find(|c| c["failed"] != true) {
        for name in last["unmapped"]["groups"].as_array().into_iter().flatten() {
            println!("unmapped group: {}", name.as_str().unwrap_or("?"));
        }
        for value in last["unmapped"]["roles"].as_array().into_iter().flatten() {
            println!("unmapped app role: {}", value.as_str().unwrap_or("?"));
        }
        let departments: Vec<&str> = last["unmapped"]["departments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str())
            .collect();
        if !departments.is_empty() {
            println!("departments no alias maps: {}", departments.join(", "));
        }
    }
    Ok(0)
}

/// The service's line: running or not, its schedule, the back-off, the next cycle.
fn service_line(service: &ServiceState) -> String {
    let time = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    if !service.is_running() {
        return format!(
            "service: not running (pid {} started {}, {})",
            service.pid,
            time(&service.started_at),
            service.schedule
        );
    }
    let mut line = format!(
        "service: running (pid {}) since {}, {}",
        service.pid,
        time(&service.started_at),
        service.schedule
    );
    if let Some(since) = &service.running_since {
        line.push_str(&format!("; a cycle is running since {}", time(since)));
    }
    if let Some(quarantine) = &service.quarantine {
        line.push_str(&format!(
            "; backing off after {} failed cycles in a row (waits {}; `systemctl reload entrasync` after a fix tries at once)",
            quarantine.failures,
            crate::config::format_duration(std::time::Duration::from_secs(quarantine.wait_s))
        ));
    }
    if let Some(next) = &service.next_at {
        line.push_str(&format!("; next cycle {}", time(next)));
    }
    line
}

/// One kept cycle summary as a line: when, result, how long, what it did.
fn cycle_line(cycle: &serde_json::Value) -> String {
    let at = cycle["started_at"]
        .as_i64()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || "?".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        );
    let millis = cycle["cycle_duration"]
        .as_u64()
        .or_else(|| cycle["duration"].as_u64())
        .unwrap_or(0);
    let took = format!("{:.1} s", millis as f64 / 1000.0);
    if cycle["failed"] == true {
        return format!(
            "{at}  failed   {took:>8}  {}",
            cycle["error"].as_str().unwrap_or("")
        );
    }
    let result = if cycle["exit_status"] == 0 {
        "ok"
    } else {
        "partial"
    };
    let scope = if cycle["on_demand"] == true {
        "on demand"
    } else {
        "in scope"
    };
    let applied = |word: &str| cycle["applied_by"][word].as_u64().unwrap_or(0);
    format!(
        "{at}  {result:<8} {took:>8}  {} {scope}; {} created, {} updated, {} deactivated, {} deleted; {} failed, {} held back, {} rule errors",
        cycle["in_scope"],
        applied("created") + applied("adopted"),
        applied("updated"),
        applied("deactivated"),
        applied("deleted"),
        cycle["failure_count"],
        cycle["plan"]["held"],
        cycle["rule_error_count"]
    )
}

pub(super) fn log(path: &Path, args: &LogArgs) -> anyhow::Result<u8> {
    let config = load_state_config(path)?;
    let snapshot = Snapshot::open_logged(&config.state_dir)?;
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
