//! The systemd units in `systemd/`: each must pass `systemd-analyze verify` without a warning
//! about it, and `systemd-analyze security` must rate it OK or better. The template is checked
//! as it is and as the instance `entrasync@contoso.service`.
//!
//! `verify` checks that the binary exists, so the copy it reads has `/usr/local/bin/entrasync`
//! replaced by the binary cargo built. Both commands work on files, offline: they need neither
//! systemd as PID 1 nor root.
//!
//! Without `systemd-analyze` (package `systemd`) the checks that need it are skipped with a
//! message, except on CI (`CI=true`), where that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where the units expect the binary.
const INSTALLED_BINARY: &str = "/usr/local/bin/entrasync";

/// The worst exposure allowed, in the tenths `--threshold=` takes: 4.9 is the top of "OK"
/// (systemd's levels: PERFECT 0, SAFE below 1.0, OK below 5.0, then MEDIUM, EXPOSED, UNSAFE,
/// DANGEROUS).
const OK_THRESHOLD_TENTHS: u32 = 49;
const GOOD_LEVELS: [&str; 3] = ["PERFECT", "SAFE", "OK"];

#[test]
fn the_service_verifies_and_is_hardened() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unit = install_for_test("entrasync.service", dir.path());
    verify(&analyze, &unit);
    security(&analyze, &unit);
}

#[test]
fn the_template_and_an_instance_verify_and_are_hardened() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let template = install_for_test("entrasync@.service", dir.path());
    // systemd-analyze loads an instance from the template next to it.
    let instance = dir.path().join("entrasync@contoso.service");
    for unit in [&template, &instance] {
        verify(&analyze, unit);
        security(&analyze, unit);
    }
}

/// What the program relies on, which neither `verify` nor `security` would notice missing.
#[test]
fn the_units_keep_the_programs_contract() {
    for (name, config, state) in [
        (
            "entrasync.service",
            "/etc/entrasync/entrasync.toml",
            "entrasync",
        ),
        (
            "entrasync@.service",
            "/etc/entrasync/%i.toml",
            "entrasync/%i",
        ),
    ] {
        let text = unit_text(name);
        let settings = settings(&text);
        let one = |key: &str| -> &str {
            let values: Vec<&str> = settings
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| *v)
                .collect();
            assert_eq!(
                values.len(),
                1,
                "{name}: {key}= should be set once: {values:?}"
            );
            values[0]
        };
        assert_eq!(one("Type"), "notify", "{name}: `run` speaks sd_notify");
        assert_eq!(one("NotifyAccess"), "main", "{name}");
        assert_eq!(
            one("ExecStart"),
            format!("{INSTALLED_BINARY} --config {config} run"),
            "{name}"
        );
        assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID", "{name}");
        assert_eq!(one("DynamicUser"), "yes", "{name}: `run` refuses root");
        assert_eq!(one("StateDirectory"), state, "{name}");
        assert_eq!(one("Restart"), "on-failure", "{name}");
        let watchdog = seconds(one("WatchdogSec"));
        assert!(
            (60..=600).contains(&watchdog),
            "{name}: WatchdogSec= {watchdog} s"
        );
        let stop = seconds(one("TimeoutStopSec"));
        assert!(
            stop > 60,
            "{name}: TimeoutStopSec= {stop} s must exceed the 60 s a cycle may take to finish"
        );
        let credentials: Vec<&str> = settings
            .iter()
            .filter(|(k, _)| *k == "LoadCredential")
            .map(|(_, v)| *v)
            .collect();
        let secrets = if name.contains('@') {
            "/etc/entrasync/%i"
        } else {
            "/etc/entrasync"
        };
        assert_eq!(
            credentials,
            [
                format!("client-secret:{secrets}/client-secret"),
                format!("scim-token:{secrets}/scim-token"),
            ],
            "{name}"
        );
    }
    assert!(
        !repo_path("systemd/entrasync.timer").exists(),
        "`entrasync run` schedules the cycles; the timer would start a second scheduler"
    );
}

/// The `systemd-analyze` to use, or `None` (after saying why) when this machine has none.
fn systemd_analyze() -> Option<PathBuf> {
    let program = PathBuf::from("systemd-analyze");
    match Command::new(&program).arg("--version").output() {
        Ok(out) if out.status.success() => Some(program),
        found => {
            let why = match found {
                Ok(out) => format!(
                    "`systemd-analyze --version` failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
                Err(err) => format!("systemd-analyze cannot be run: {err}"),
            };
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{why}; CI must install it (Debian and Ubuntu: apt-get install -y systemd)");
            }
            eprintln!("skipped: {why}. Install the systemd package to check the units.");
            None
        }
    }
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn unit_text(name: &str) -> String {
    let path = repo_path("systemd").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `key=value` lines, comments and section headers left out. The units use no continuations.
fn settings(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(['#', ';', '[']))
        .map(|l| {
            let (key, value) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {l}"));
            (key.trim(), value.trim())
        })
        .collect()
}

/// A time span as the units write them: `<n>s` or `<n>min`.
fn seconds(span: &str) -> u64 {
    let (number, factor) = if let Some(n) = span.strip_suffix("min") {
        (n, 60)
    } else if let Some(n) = span.strip_suffix('s') {
        (n, 1)
    } else {
        panic!("write the time span {span:?} as <n>s or <n>min")
    };
    number.parse::<u64>().expect(span) * factor
}

/// Copies a unit into `dir`, pointing it at the binary cargo built; returns the copy's path.
fn install_for_test(name: &str, dir: &Path) -> PathBuf {
    let text = unit_text(name);
    let binary = env!("CARGO_BIN_EXE_entrasync");
    // A quoted word in an Exec line, with systemd's specifier character doubled.
    let quoted = format!(
        "\"{}\"",
        binary
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('%', "%%")
    );
    let from = format!("ExecStart={INSTALLED_BINARY} ");
    assert_eq!(
        text.matches(&from).count(),
        1,
        "{name} should start {INSTALLED_BINARY} once"
    );
    let text = text.replace(&from, &format!("ExecStart={quoted} "));
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn analyze(analyze: &Path, args: &[&str], unit: &Path) -> Output {
    Command::new(analyze)
        .args(args)
        .arg("--no-pager")
        .arg(unit)
        // Plain text at the default level, whatever the caller's environment says.
        .env("SYSTEMD_LOG_LEVEL", "info")
        .env("SYSTEMD_LOG_COLOR", "0")
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_URLIFY", "0")
        .env("SYSTEMD_PAGER", "cat")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", analyze.display()))
}

/// Lines that concern our unit: anything about other units on this machine is not ours to fix.
fn about_us(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("entrasync")).collect()
}

fn verify(analyze_bin: &Path, unit: &Path) {
    let out = analyze(analyze_bin, &["verify", "--man=no"], unit);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut findings = about_us(&stdout);
    findings.extend(about_us(&stderr));
    assert!(
        out.status.success() && findings.is_empty(),
        "systemd-analyze verify {}: {}\nabout this unit:\n{}\n--- stdout:\n{stdout}--- stderr:\n{stderr}",
        unit.display(),
        out.status,
        findings.join("\n")
    );
}

fn security(analyze_bin: &Path, unit: &Path) {
    let threshold = format!("--threshold={OK_THRESHOLD_TENTHS}");
    let out = analyze(
        analyze_bin,
        &["security", "--offline=yes", &threshold],
        unit,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let show = || format!("--- stdout:\n{stdout}--- stderr:\n{stderr}");
    // Warnings while loading the unit (an unknown key, a bad value) come on stderr.
    let warnings = about_us(&stderr);
    assert!(
        warnings.is_empty(),
        "systemd-analyze security {} warned:\n{}\n{}",
        unit.display(),
        warnings.join("\n"),
        show()
    );
    // "→ Overall exposure level for entrasync.service: 1.2 OK 🙂"
    let overall = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level for"))
        .unwrap_or_else(|| {
            panic!(
                "no overall exposure level for {}\n{}",
                unit.display(),
                show()
            )
        });
    let mut words = overall
        .rsplit_once(": ")
        .unwrap_or_else(|| panic!("unexpected line {overall:?}"))
        .1
        .split_whitespace();
    let exposure: f64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number in {overall:?}"));
    let level = words.next().unwrap_or_default();
    println!("{overall}");
    assert!(
        exposure * 10.0 <= f64::from(OK_THRESHOLD_TENTHS) + 0.001 && GOOD_LEVELS.contains(&level),
        "{}: exposure {exposure} {level}, worse than OK\n{}",
        unit.display(),
        show()
    );
    assert!(
        out.status.success(),
        "systemd-analyze security {threshold} {}: {}\n{}",
        unit.display(),
        out.status,
        show()
    );
}
