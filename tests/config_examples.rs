//! The shipped configuration files load, and a bad file gives exit status 2 with one message.

use std::path::Path;
use std::process::Command;

/// The example with its secret path pointed at a real file, since the example names the
/// systemd credentials directory.
fn example_with_secret(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string("config/entrasync.example.toml").expect("example exists");
    let secret = dir.join("client-secret");
    std::fs::write(&secret, "example-secret\n").expect("write secret");
    let text = text.replace(
        "/run/credentials/entrasync.service/client-secret",
        &secret.display().to_string(),
    );
    let path = dir.join("entrasync.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn the_commented_example_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config =
        entrasync::config::load(&example_with_secret(dir.path())).expect("example is valid");
    assert_eq!(config.source.tenant_id, "contoso.onmicrosoft.com");
    assert_eq!(
        config.source.groups,
        ["Stratsys Full Users", "Stratsys Readers"]
    );
    assert_eq!(config.source.client_secret.expose(), "example-secret");
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn a_typo_exits_2_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = example_with_secret(dir.path());
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("members = ", "membres = ");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_entrasync"))
        .args(["--config", path.to_str().unwrap(), "once"])
        .output()
        .expect("run entrasync");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("membres") && stderr.contains("members"),
        "{stderr}"
    );
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
