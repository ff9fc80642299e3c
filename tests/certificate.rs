//! Certificate credentials against the emulator: a client assertion signed with the key of the
//! certificate registered on the app gets a token and a whole cycle runs; a certificate the app
//! does not know is refused with Entra's AADSTS700027 and what to do, and neither the key nor the
//! assertion ever shows.

mod common;

use common::{DEMO_GROUPS, demo_tenant, entrasync, write_config};
use entrasync::emulator::{Emulator, EmulatorOptions};

const REGISTERED: &str = common::REGISTERED_CERTIFICATE;
const UNKNOWN: &str = common::UNKNOWN_CERTIFICATE;

/// The emulator with the fixture certificate registered, and a config that signs in with `pem`.
async fn setup(pem: &str) -> (Emulator, tempfile::TempDir, std::path::PathBuf) {
    let options = EmulatorOptions {
        certificate: Some(std::fs::read_to_string(REGISTERED).expect("the fixture")),
        ..EmulatorOptions::default()
    };
    let emulator = Emulator::start(demo_tenant(), options)
        .await
        .expect("the emulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(&dir, &emulator, &DEMO_GROUPS, "direct", "unused");
    let text = std::fs::read_to_string(&config).expect("reads").replace(
        "client_secret_file = \"client-secret\"",
        &format!("client_certificate_file = {pem:?}"),
    );
    std::fs::write(&config, text).expect("writes");
    (emulator, dir, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_certificate_signs_in_and_a_cycle_runs() {
    let (emulator, _dir, config) = setup(REGISTERED).await;
    let out = entrasync(&config, &["once", "--json"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["users_round"]["kind"], "full");
    let (users, _, _) = emulator.mutate(|t| t.counts());
    assert_eq!(report["snapshot"]["users"], users);

    let out = entrasync(&config, &["check"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("token for tenant"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_certificate_is_refused_with_what_to_do_and_nothing_secret() {
    let (_emulator, _dir, config) = setup(UNKNOWN).await;
    for command in ["once", "check"] {
        let out = entrasync(&config, &[command]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert!(stderr.contains("AADSTS700027"), "{command}: {stderr}");
        assert!(
            stderr.contains("Certificates & secrets"),
            "says what to do: {stderr}"
        );
        for output in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(output);
            assert!(!text.contains("PRIVATE KEY"), "{text}");
            assert!(
                !text.contains("eyJ"),
                "no JWT (assertion or token) shown: {text}"
            );
        }
    }
}
