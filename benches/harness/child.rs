//! The harness's child process: this binary re-executed with `ENTRASYNC_BENCH_CHILD` set serves
//! a synthetic tenant from the emulator beside the fast SCIM target, and makes the tenant's
//! changes when the parent asks on stdin; the parent's side of that conversation.
//!
//! With `BENCH_APP` the tenant also has an enterprise app ([`APP_ID`]) with four roles, half the
//! users assigned one of them directly and 50 groups assigned one, and each round of changes
//! also assigns and unassigns 20 users.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use entrasync::emulator::{AppRole, Emulator, EmulatorOptions, Tenant};

use super::{GROUPS, fast_scim};

pub const CHILD_ENV: &str = "ENTRASYNC_BENCH_CHILD";
/// The client id of the app the `BENCH_APP` tenant has.
pub const APP_ID: &str = "0b3e5c7a-9d1f-4e2a-8b6c-5d4e3f2a1b0c";
/// Its role values.
pub const ROLE_VALUES: [&str; 4] = ["admin", "editor", "reader", "viewer"];

/// Serves the tenant and the target until stdin ends or says anything but a command.
pub async fn serve_child(users: usize, app: bool) {
    let mut tenant = Tenant::synthetic(users, GROUPS, users * 2, 42);
    let sp = app.then(|| with_app(&mut tenant));
    let emulator = Emulator::start(tenant, EmulatorOptions::default())
        .await
        .expect("the emulator starts");
    let store = Arc::new(fast_scim::Store::default());
    let scim = fast_scim::start(store.clone()).await;
    println!(
        "{} {} {} {} {scim}",
        emulator.base_url(),
        emulator.tenant_id(),
        emulator.client_id(),
        emulator.client_secret()
    );
    let mut round = 0u64;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        match line.trim() {
            "change100" => {
                round += 1;
                emulator.mutate(|t| hundred_changes(t, round));
                if let Some(sp) = &sp {
                    emulator.mutate(|t| twenty_assignments(t, sp, round));
                }
                println!("ok");
            }
            "stats" => println!(
                "{} {} {}",
                store.requests.load(Ordering::Relaxed),
                store.writes.load(Ordering::Relaxed),
                store.user_count()
            ),
            "clear" => {
                store.clear();
                println!("ok");
            }
            _ => break,
        }
        std::io::stdout().flush().ok();
    }
    emulator.shutdown().await;
}

/// 100 changes as a working day brings them: 60 users edited, 20 joins and 20 leaves of groups.
pub fn hundred_changes(tenant: &mut Tenant, round: u64) {
    let ids = tenant.user_ids();
    let step = ids.len() / 61;
    for i in 0..60 {
        let id = &ids[(i * step + round as usize) % ids.len()];
        let patch = serde_json::json!({"jobTitle": format!("Title {round}-{i}"), "department": format!("Dept {round}-{i}")});
        tenant.update_user(id, patch);
    }
    let groups = tenant.group_ids();
    for i in 0..20 {
        let group = groups[i % groups.len()].clone();
        let user = ids[(i * 997 + round as usize * 31) % ids.len()].clone();
        let members = tenant.members(&group);
        if members.contains(&user) {
            tenant.remove_member(&group, &user);
        } else {
            tenant.add_member(&group, &user);
        }
        if let Some(leaver) = members.iter().find(|m| **m != user) {
            tenant.remove_member(&group, leaver);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parent: measures.

pub struct ChildProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub base_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub secret: String,
    pub scim_url: String,
}

impl ChildProcess {
    pub fn spawn(users: usize, app: bool) -> ChildProcess {
        let exe = std::env::current_exe().expect("the benchmark knows its own path");
        let mut command = Command::new(exe);
        if app {
            command.env("BENCH_APP", "1");
        }
        let mut child = command
            .env(CHILD_ENV, "1")
            .env("BENCH_USERS", users.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the child starts");
        let stdin = child.stdin.take().expect("stdin was piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout was piped"));
        let parts: Vec<String> = line(&mut stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        assert_eq!(parts.len(), 5, "the child's first line: {parts:?}");
        ChildProcess {
            child,
            stdin,
            stdout,
            base_url: parts[0].clone(),
            tenant_id: parts[1].clone(),
            client_id: parts[2].clone(),
            secret: parts[3].clone(),
            scim_url: parts[4].clone(),
        }
    }

    /// A config for this child's tenant and target, written to `dir/file`: `top` goes before
    /// `[source]` (the rule sections), `source` into it (groups, an app).
    pub fn config(
        &self,
        dir: &std::path::Path,
        file: &str,
        state: &str,
        top: &str,
        source: &str,
    ) -> entrasync::config::Config {
        let text = format!(
            "state_dir = {state:?}\n{top}[source]\ntenant_id = {:?}\nclient_id = {:?}\n\
             client_secret_file = \"client-secret\"\nauthority_url = {url:?}\ngraph_url = {url:?}\n\
             {source}\n\n[deprovision]\nmax_deprovisions = 1000\n\n\
             [target]\nkind = \"scim\"\nurl = {scim:?}\ntoken_file = \"scim-token\"\n",
            self.tenant_id,
            self.client_id,
            url = self.base_url,
            scim = self.scim_url,
        );
        let path = dir.join(file);
        std::fs::write(&path, &text).expect("write the bench config");
        entrasync::config::parse(&text, &path).expect("the bench config is valid")
    }

    pub fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").expect("the child reads commands");
        line(&mut self.stdout)
    }

    /// The fast target's (requests, writes) so far.
    pub fn target_counts(&mut self) -> (u64, u64) {
        let answer = self.ask("stats");
        let n: Vec<u64> = answer
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        (n[0], n[1])
    }
}

fn line(stdout: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the child answers");
    line.trim().to_owned()
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.wait();
    }
}

/// Registers the app with its roles and assigns half the users one role each and 50 groups one;
/// returns its service principal id.
fn with_app(tenant: &mut Tenant) -> String {
    let roles = ROLE_VALUES.iter().map(|v| AppRole::new(v, v)).collect();
    let sp = tenant
        .add_service_principal("Bench App", APP_ID, roles)
        .expect("the app registers");
    let roles: Vec<String> = tenant.app_roles(&sp).into_iter().map(|r| r.id).collect();
    for (i, user) in tenant.user_ids().iter().enumerate().step_by(2) {
        let role = &roles[(i / 2) % roles.len()];
        tenant.assign_app_role(&sp, user, role).expect("assigns");
    }
    for (i, group) in tenant.group_ids().iter().take(50).enumerate() {
        let role = &roles[i % roles.len()];
        tenant.assign_app_role(&sp, group, role).expect("assigns");
    }
    sp
}

/// 20 users assigned a role, or unassigned if they had it.
fn twenty_assignments(tenant: &mut Tenant, sp: &str, round: u64) {
    let ids = tenant.user_ids();
    let roles: Vec<String> = tenant.app_roles(sp).into_iter().map(|r| r.id).collect();
    let held = tenant.app_role_assignments(sp);
    for i in 0..20 {
        let user = &ids[(i * 499 + round as usize * 17) % ids.len()];
        let role = &roles[(i + round as usize) % roles.len()];
        match held
            .iter()
            .find(|a| &a.principal_id == user && &a.app_role_id == role)
        {
            Some(assignment) => {
                tenant.unassign(sp, &assignment.id);
            }
            None => {
                tenant.assign_app_role(sp, user, role).expect("assigns");
            }
        }
    }
}
