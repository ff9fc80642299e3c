//! What the crash test found (`tests/crash_scim.rs`), pinned down one case each: a write the
//! target took but whose answer was never recorded must not be lost. Each test leaves the
//! trace a killed cycle leaves — the write noted as unconfirmed, the target changed, the pushed
//! state not — and checks that the next cycle reads the user back and plans from the truth.

mod common;

use common::{DEMO_GROUPS, Harness, remove_from_file_target};
use entrasync::config;
use entrasync::engine;
use entrasync::plan::PushedUser;
use entrasync::target::AnyTarget;
use serde_json::{Value, json};

const ANNA: &str = "anna.berg@contoso.com";
const DEPARTMENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

struct Setup {
    h: Harness,
    config: config::Config,
    target: AnyTarget,
}

async fn setup() -> Setup {
    let h = Harness::demo().await;
    let mut text = std::fs::read_to_string(&h.config_path).expect("reads");
    text.push_str("\n[target]\nkind = \"file\"\npath = \"users.json\"\n");
    std::fs::write(&h.config_path, text).expect("writes");
    let config = config::load(&h.config_path).expect("valid");
    let target = AnyTarget::from_config(config.target.as_ref().expect("a target")).expect("builds");
    Setup { h, config, target }
}

impl Setup {
    async fn cycle(&self) -> engine::CycleReport {
        self.h.provision(&self.config, &self.target).await
    }

    fn file_user(&self, user_name: &str) -> Option<Value> {
        let path = self.h.dir.path().join("users.json");
        let document: Value =
            serde_json::from_slice(&std::fs::read(path).expect("reads")).expect("JSON");
        document["Resources"]
            .as_array()
            .expect("a list")
            .iter()
            .find(|u| u["userName"] == user_name)
            .cloned()
    }

    /// Edits the user's entry in the file as a write the target took would have.
    fn land(&self, user_name: &str, edit: impl FnOnce(&mut Value)) {
        let path = self.h.dir.path().join("users.json");
        let mut document: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("reads")).expect("JSON");
        let users = document["Resources"].as_array_mut().expect("a list");
        let user = users
            .iter_mut()
            .find(|u| u["userName"] == user_name)
            .expect("the user");
        edit(user);
        std::fs::write(&path, document.to_string()).expect("writes");
    }

    fn anna(&self) -> String {
        self.h
            .emulator
            .mutate(|t| t.user_id_by_upn(ANNA))
            .expect("Anna")
    }

    /// Forgets `id`'s pushed entry and notes its create as unconfirmed: the trace of a cycle
    /// killed after the target took the create and before it was recorded.
    async fn as_if_the_create_was_never_recorded(&self, id: &str) {
        let created = self.pushed(id);
        self.h
            .snapshot
            .record(vec![(id.to_owned(), None)], Vec::new())
            .await
            .expect("forgets");
        let sent = PushedUser {
            target_id: String::new(),
            ..created
        };
        self.h
            .snapshot
            .record_unconfirmed(vec![(id.to_owned(), sent)])
            .await
            .expect("notes");
    }

    fn pushed(&self, id: &str) -> PushedUser {
        self.h.snapshot.pushed().expect("reads")[id].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_landed_unrecorded_is_not_lost_when_the_value_changes_back() {
    let s = setup().await;
    s.cycle().await;
    let id = s.anna();
    let before = s.pushed(&id);
    let was = before.department.clone().expect("Anna has a department");
    // A cycle sent "Finance" for Anna, the target took it, and the cycle died before recording.
    let mut sent = before.clone();
    sent.department = Some("Finance".into());
    s.h.snapshot
        .record_unconfirmed(vec![(id.clone(), sent)])
        .await
        .expect("notes");
    s.land(ANNA, |u| u[DEPARTMENT]["department"] = json!("Finance"));
    // Meanwhile Entra keeps Anna where she was: the desired value is the old one again.
    let report = s.cycle().await;
    assert_eq!(
        report.plan.updates, 1,
        "the department goes back: {:?}",
        report.table
    );
    assert_eq!(
        s.file_user(ANNA).expect("Anna")[DEPARTMENT]["department"],
        json!(was)
    );
    assert_eq!(s.pushed(&id).department, Some(was));
    assert!(
        s.h.snapshot.unconfirmed().expect("reads").is_empty(),
        "settled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_was_never_recorded_is_deprovisioned_when_the_user_leaves() {
    let s = setup().await;
    s.cycle().await;
    let id = s.anna();
    // Forget Anna as if her create had never been recorded; the target has her all the same.
    s.as_if_the_create_was_never_recorded(&id).await;
    // Anna leaves every scoped group before the next cycle.
    s.h.emulator.mutate(|t| {
        for group in DEMO_GROUPS {
            let group = t.group_id_by_name(group).expect("a group");
            if t.members(&group).contains(&id) {
                t.remove_member(&group, &id);
            }
        }
    });
    let report = s.cycle().await;
    assert_eq!(report.plan.deactivations, 1, "{:?}", report.table);
    assert_eq!(
        s.file_user(ANNA).expect("Anna stays, deactivated")["active"],
        json!(false)
    );
    assert!(!s.pushed(&id).active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_noted_create_the_target_never_got_is_forgotten_and_sent_again() {
    let s = setup().await;
    s.cycle().await;
    let id = s.anna();
    s.as_if_the_create_was_never_recorded(&id).await;
    remove_from_file_target(s.h.dir.path(), ANNA);
    let report = s.cycle().await;
    assert_eq!(report.plan.creates, 1, "{:?}", report.table);
    assert!(s.file_user(ANNA).is_some());
    assert!(s.h.snapshot.unconfirmed().expect("reads").is_empty());
}
