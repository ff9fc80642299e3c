//! How a cycle report looks on a terminal: what was read, the rules' findings, the plan table
//! (each change per user, from what to what), the totals and what the target said.
//!
//! Part of the command line (`once`, `plan`, `demo` print through it); `--json` prints the
//! report itself instead.

use anyhow::Context;

use crate::engine::{CycleReport, ReadReport};

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
        "rules: {} users in scope, {} rule errors ({} users evaluated)",
        report.in_scope,
        report.rule_errors.len(),
        report.evaluated
    );
    for error in &report.rule_errors {
        let who = error
            .user_principal_name
            .as_deref()
            .unwrap_or(&error.user_id);
        println!("  {who}: {}", error.message);
    }
    for message in report.unmapped.messages() {
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
