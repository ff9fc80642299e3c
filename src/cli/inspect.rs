//! `status` and `log`: what the snapshot remembers of past cycles and of every change sent.
//!
//! Part of the command line; reads the state directory, never Graph or the target.

use std::path::Path;

use anyhow::Context;

use super::{LogArgs, StatusArgs, load_config};
use crate::snapshot::Snapshot;

pub(super) fn status(path: &Path, args: &StatusArgs) -> anyhow::Result<u8> {
    let config = load_config(path)?;
    let snapshot = Snapshot::open_logged(&config.state_dir)?;
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

pub(super) fn log(path: &Path, args: &LogArgs) -> anyhow::Result<u8> {
    let config = load_config(path)?;
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
