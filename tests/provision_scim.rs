//! Whole cycles against a real SCIM server (scim2-server from PyPI, behind a counting proxy):
//! the first cycle creates everyone with their attributes and roles; a cycle without change
//! sends no write (Invariant 4); one changed attribute is one PATCH of that attribute; leaving
//! scope deactivates and coming back re-activates; an existing user is adopted or reported; a
//! create whose result was never recorded (a crash) creates no duplicate (Invariant 5).

mod common;
#[path = "common/scim_server.rs"]
mod scim_server;

use common::{DEMO_GROUPS, Harness};
use entrasync::config::{self, Config};
use entrasync::emulator::{EmulatorOptions, Tenant, synthetic_group_id};
use entrasync::engine::{self, CycleReport, Options};
use entrasync::target::AnyTarget;
use serde_json::{Value, json};

const RULES: &str = r#"
[[permission_groups]]
name = "Full User"
aliases = ["Stratsys Full Users", "Strategy Team"]
priority = 1

[[permission_groups]]
name = "Reader"
aliases = ["Stratsys Readers", "Stratsys Reporters"]
priority = 2
"#;

struct Setup {
    h: Harness,
    server: scim_server::ScimServer,
    config: Config,
    target: AnyTarget,
}

async fn setup(extra: &str) -> Setup {
    setup_on(Harness::demo().await, RULES, extra).await
}

async fn setup_on(h: Harness, rules: &str, extra: &str) -> Setup {
    let server = scim_server::start().await;
    std::fs::write(h.dir.path().join("scim-token"), &server.token).expect("write the token");
    let mut text = std::fs::read_to_string(&h.config_path).expect("reads");
    text.push_str(rules);
    text.push_str(&format!(
        "\n[target]\nkind = \"scim\"\nurl = \"{}\"\ntoken_file = \"scim-token\"\n{extra}\n",
        server.base_url
    ));
    std::fs::write(&h.config_path, text).expect("writes");
    let config = config::load(&h.config_path).expect("the test config is valid");
    let target = AnyTarget::from_config(config.target.as_ref().expect("a target"))
        .expect("the SCIM target builds");
    Setup {
        h,
        server,
        config,
        target,
    }
}

impl Setup {
    async fn cycle(&self) -> CycleReport {
        self.h.provision(&self.config, &self.target).await
    }

    async fn user(&self, user_name: &str) -> Value {
        let users = self.server.users().await;
        let mut found = users.into_iter().filter(|u| u["userName"] == user_name);
        let user = found
            .next()
            .unwrap_or_else(|| panic!("{user_name} is in the target"));
        assert!(found.next().is_none(), "{user_name} exists once");
        user
    }
}

#[tokio::test]
async fn a_first_cycle_creates_everyone_and_a_quiet_one_writes_nothing() {
    let s = setup("").await;
    let first = s.cycle().await;
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert_eq!(first.exit_status, 0);
    let users = s.server.users().await;
    assert_eq!(users.len(), first.in_scope);
    assert_eq!(first.applied, first.in_scope);

    // Anna is in Full Users and Readers: Full User is primary.
    let anna = s.user("anna.berg@contoso.com").await;
    assert_eq!(anna["active"], true);
    assert_eq!(anna["name"]["givenName"], "Anna");
    assert_eq!(anna["emails"][0]["value"], "anna.berg@contoso.com");
    let id =
        s.h.emulator
            .mutate(|t| t.user_id_by_upn("anna.berg@contoso.com"))
            .expect("Anna is in the tenant");
    assert_eq!(anna["externalId"], id.as_str());
    let roles = anna["roles"].as_array().expect("roles");
    let primary: Vec<&Value> = roles.iter().filter(|r| r["primary"] == true).collect();
    assert_eq!(primary.len(), 1);
    assert_eq!(primary[0]["value"], "Full User");

    s.server.reset_requests();
    let quiet = s.cycle().await;
    assert_eq!(
        quiet.plan.creates + quiet.plan.updates + quiet.plan.deactivations,
        0
    );
    assert_eq!(s.server.writes(), 0, "no write: {:?}", s.server.requests());
    assert!(s.server.requests().is_empty(), "not even a read");
}

#[tokio::test]
async fn one_changed_attribute_is_one_patch_of_that_attribute() {
    let s = setup("").await;
    s.cycle().await;
    s.h.emulator.mutate(|t| {
        let id = t.user_id_by_upn("anna.berg@contoso.com").expect("Anna");
        t.update_user(&id, json!({"displayName": "Anna Berg-Lund"}));
    });
    s.server.reset_requests();
    let report = s.cycle().await;
    assert_eq!(report.plan.updates, 1);
    let writes: Vec<_> = s
        .server
        .requests()
        .into_iter()
        .filter(|r| r.is_write())
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(
        writes[0].body.as_ref().expect("a body")["Operations"],
        json!([{"op": "replace", "path": "displayName", "value": "Anna Berg-Lund"}])
    );
    assert_eq!(
        s.user("anna.berg@contoso.com").await["displayName"],
        "Anna Berg-Lund"
    );
}

#[tokio::test]
async fn leaving_scope_deactivates_and_coming_back_reactivates() {
    let s = setup("").await;
    s.cycle().await;
    let name = one_leaves(&s);
    let report = s.cycle().await;
    assert_eq!(report.plan.deactivations, 1, "{:?}", report.plan);
    assert_eq!(s.user(&name).await["active"], false, "kept, inactive");

    s.h.emulator.mutate(|t| {
        let team = t.group_id_by_name("Strategy Team").expect("the team");
        let user = t.user_id_by_upn(&name).expect("still in the tenant");
        t.add_member(&team, &user);
    });
    let report = s.cycle().await;
    assert_eq!(report.plan.updates, 1);
    assert_eq!(s.user(&name).await["active"], true, "active again");
}

#[tokio::test]
async fn an_existing_user_is_reported_unless_adoption_is_on() {
    for adopt in [false, true] {
        let s = setup(&format!("adopt_existing = {adopt}")).await;
        // Someone made Anna by hand before entrasync: same userName, no externalId.
        s.server
            .create(
                "Users",
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                       "userName": "anna.berg@contoso.com", "displayName": "Anna (manual)"}),
            )
            .await;
        let report = s.cycle().await;
        let anna = s.user("anna.berg@contoso.com").await;
        if adopt {
            assert!(report.failures.is_empty(), "{:?}", report.failures);
            assert_eq!(anna["displayName"], "Anna Berg", "taken over");
        } else {
            assert_eq!(report.exit_status, 3);
            let failure = report
                .failures
                .iter()
                .find(|f| f.user_name == "anna.berg@contoso.com")
                .expect("Anna is reported");
            assert!(
                failure
                    .message
                    .contains("is not flagged as synchronized and won't be updated"),
                "{}",
                failure.message
            );
            assert_eq!(anna["displayName"], "Anna (manual)", "left alone");
        }
    }
}

#[tokio::test]
async fn a_create_the_snapshot_never_recorded_is_not_duplicated() {
    let s = setup("").await;
    let first = s.cycle().await;
    let before = s.server.users().await.len();
    // As after a damaged snapshot was moved aside: a new, empty one that knows of no user.
    let moved_aside = tempfile::tempdir().expect("a temporary directory");
    let snapshot = entrasync::snapshot::Snapshot::open(moved_aside.path())
        .expect("a fresh snapshot opens")
        .snapshot;
    let again = engine::cycle(
        &s.h.graph,
        &snapshot,
        &s.config,
        Some(&s.target),
        Options::default(),
    )
    .await
    .expect("the cycle runs");
    assert_eq!(
        again.plan.creates, first.plan.creates,
        "the plan creates them again"
    );
    assert!(again.failures.is_empty(), "{:?}", again.failures);
    assert_eq!(s.server.users().await.len(), before, "no duplicate");
    assert_eq!(
        snapshot.pushed().expect("reads").len(),
        before,
        "and they are ours again"
    );
}

#[tokio::test]
async fn a_first_work_email_is_added_and_a_cleared_one_removed() {
    let s = setup("").await;
    let anna = s.h.emulator.mutate(|t| {
        let id = t.user_id_by_upn("anna.berg@contoso.com").expect("Anna");
        t.update_user(&id, json!({"mail": null}));
        id
    });
    s.cycle().await;
    assert!(
        s.user("anna.berg@contoso.com")
            .await
            .get("emails")
            .is_none()
    );
    s.h.emulator
        .mutate(|t| t.update_user(&anna, json!({"mail": "anna@contoso.com"})));
    let report = s.cycle().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(
        s.user("anna.berg@contoso.com").await["emails"][0]["value"],
        "anna@contoso.com"
    );
    s.h.emulator
        .mutate(|t| t.update_user(&anna, json!({"mail": "anna.b@contoso.com"})));
    let report = s.cycle().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let emails = s.user("anna.berg@contoso.com").await["emails"].clone();
    assert_eq!(
        emails.as_array().map(Vec::len),
        Some(1),
        "replaced, not added: {emails}"
    );
    assert_eq!(emails[0]["value"], "anna.b@contoso.com");
    s.h.emulator
        .mutate(|t| t.update_user(&anna, json!({"mail": null})));
    let report = s.cycle().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert!(
        s.user("anna.berg@contoso.com")
            .await
            .get("emails")
            .is_none(),
        "removed"
    );
}

/// Takes someone out of scope who is only in "Strategy Team"; returns their userName.
fn one_leaves(s: &Setup) -> String {
    s.h.emulator.mutate(|t| {
        let team = t.group_id_by_name("Strategy Team").expect("the team");
        let elsewhere: Vec<String> = DEMO_GROUPS
            .iter()
            .filter(|g| **g != "Strategy Team")
            .filter_map(|g| t.group_id_by_name(g))
            .flat_map(|g| t.members(&g))
            .collect();
        let leaver = t
            .members(&team)
            .into_iter()
            .find(|m| t.user(m).is_some() && !elsewhere.contains(m))
            .expect("someone only in Strategy Team");
        t.remove_member(&team, &leaver);
        t.user(&leaver).expect("lives")["userPrincipalName"]
            .as_str()
            .expect("a UPN")
            .to_owned()
    })
}

#[tokio::test]
async fn with_when_delete_a_leaver_is_deleted() {
    let s = setup("").await;
    let mut config = s.config.clone();
    config.deprovision.when = entrasync::plan::WhenLeaving::Delete;
    let options = Options::default();
    let (graph, snapshot, target) = (&s.h.graph, &s.h.snapshot, Some(&s.target));
    engine::cycle(graph, snapshot, &config, target, options)
        .await
        .expect("the first cycle");
    let leaver = one_leaves(&s);
    let report = engine::cycle(graph, snapshot, &config, target, options)
        .await
        .expect("the second cycle");
    assert_eq!(report.plan.deletions, 1);
    let users = s.server.users().await;
    assert!(
        users.iter().all(|u| u["userName"] != leaver.as_str()),
        "{leaver} is gone"
    );
    assert!(
        s.h.snapshot
            .pushed()
            .expect("reads")
            .values()
            .all(|p| p.user_name != leaver)
    );
}

#[tokio::test]
async fn an_excluded_user_is_never_touched() {
    let s = setup("exclude = [\"Anna.Berg@contoso.com\"]").await;
    let report = s.cycle().await;
    assert!(report.failures.is_empty());
    let users = s.server.users().await;
    assert!(
        users
            .iter()
            .all(|u| u["userName"] != "anna.berg@contoso.com"),
        "never created"
    );
    assert_eq!(users.len(), report.in_scope - 1);
}

#[tokio::test]
async fn permissions_as_groups_keep_target_groups_in_step() {
    let s = setup("permissions = \"groups\"").await;
    let report = s.cycle().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let groups = s.server.groups().await;
    let names: Vec<&str> = groups
        .iter()
        .filter_map(|g| g["displayName"].as_str())
        .collect();
    assert_eq!(
        names.len(),
        2,
        "one target group per permission group: {names:?}"
    );
    let anna = s.user("anna.berg@contoso.com").await;
    assert!(anna.get("roles").is_none(), "no roles in groups mode");
    let full = groups
        .iter()
        .find(|g| g["displayName"] == "Full User")
        .expect("Full User");
    let full = s
        .server
        .get_json(&format!("/Groups/{}", full["id"].as_str().expect("an id")))
        .await;
    let members: Vec<&str> = full["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["value"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        members.contains(&anna["id"].as_str().expect("an id")),
        "{members:?}"
    );

    // Anna leaves Full Users and Strategy Team: she leaves the Full User group, stays a Reader.
    s.h.emulator.mutate(|t| {
        let id = t.user_id_by_upn("anna.berg@contoso.com").expect("Anna");
        for name in ["Stratsys Full Users", "Strategy Team"] {
            let group = t.group_id_by_name(name).expect("the group");
            t.remove_member(&group, &id);
        }
        let readers = t.group_id_by_name("Stratsys Readers").expect("Readers");
        t.add_member(&readers, &id);
    });
    let report = s.cycle().await;
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    let full = s
        .server
        .get_json(&format!(
            "/Groups/{}",
            groups
                .iter()
                .find(|g| g["displayName"] == "Full User")
                .expect("Full User")["id"]
                .as_str()
                .expect("an id")
        ))
        .await;
    let still: Vec<&str> = full["members"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["value"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        !still.contains(&anna["id"].as_str().expect("an id")),
        "removed from Full User"
    );
}

#[tokio::test]
async fn a_user_the_target_refuses_is_tried_again_next_cycle_and_the_others_apply() {
    let s = setup("").await;
    let manual = s
        .server
        .create(
            "Users",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                   "userName": "anna.berg@contoso.com"}),
        )
        .await;
    let first = s.cycle().await;
    assert_eq!(first.failures.len(), 1, "{:?}", first.failures);
    assert_eq!(first.applied, first.in_scope - 1, "everyone else");
    assert_eq!(first.exit_status, 3);
    // The operator removes the hand-made user; the next cycle creates Anna.
    let id = manual["id"].as_str().expect("an id");
    let deleted = reqwest::Client::new()
        .delete(format!("{}/Users/{id}", s.server.upstream_url))
        .bearer_auth(&s.server.token)
        .send()
        .await
        .expect("the server answers");
    assert!(deleted.status().is_success());
    let second = s.cycle().await;
    assert_eq!(second.plan.creates, 1, "only Anna, again");
    assert!(second.failures.is_empty(), "{:?}", second.failures);
    assert_eq!(second.exit_status, 0);
    assert_eq!(
        s.user("anna.berg@contoso.com").await["displayName"],
        "Anna Berg"
    );
}

#[tokio::test]
async fn six_hundred_leavers_are_held_by_the_default_threshold() {
    let mut tenant = Tenant::synthetic(650, 1, 0, 3);
    let group = synthetic_group_id(0);
    let everyone = tenant.user_ids();
    for user in &everyone {
        tenant.add_member(&group, user);
    }
    // The leavers are users in scope: enabled accounts.
    let enabled: Vec<String> = everyone
        .iter()
        .filter(|u| tenant.user(u).is_some_and(|v| v["accountEnabled"] == true))
        .cloned()
        .collect();
    let h = Harness::start(
        tenant,
        EmulatorOptions::default(),
        &[group.as_str()],
        "direct",
    )
    .await;
    let s = setup_on(h, "", "max_concurrency = 16").await;
    let first = s.cycle().await;
    assert!(first.failures.is_empty(), "{:?}", first.failures.first());
    let in_scope = first.in_scope;
    assert!(in_scope > 600, "{in_scope}");
    s.h.emulator.mutate(|t| {
        for user in enabled.iter().take(600) {
            t.remove_member(&group, user);
        }
    });
    s.server.reset_requests();
    let held = s.cycle().await;
    assert_eq!(held.exit_status, 3);
    assert_eq!(held.plan.held, 600);
    assert_eq!(held.plan.deactivations, 0);
    assert_eq!(s.server.writes(), 0, "none of them is applied");
    let active = s
        .server
        .users()
        .await
        .iter()
        .filter(|u| u["active"] == true)
        .count();
    assert_eq!(active, in_scope);

    let options = Options {
        allow_deprovisions: true,
        ..Options::default()
    };
    let allowed = engine::cycle(
        &s.h.graph,
        &s.h.snapshot,
        &s.config,
        Some(&s.target),
        options,
    )
    .await
    .expect("the allowed cycle");
    assert_eq!(allowed.plan.deactivations, 600);
    assert_eq!(allowed.exit_status, 0, "{:?}", allowed.failures.first());
    let active = s
        .server
        .users()
        .await
        .iter()
        .filter(|u| u["active"] == true)
        .count();
    assert_eq!(active, in_scope - 600);
}

#[tokio::test]
async fn a_refused_token_fails_the_cycle_before_anything_is_sent() {
    let s = setup("").await;
    std::fs::write(s.h.dir.path().join("scim-token"), "not-the-token").expect("write");
    let config = config::load(&s.h.config_path).expect("valid");
    let target = AnyTarget::from_config(config.target.as_ref().expect("a target")).expect("builds");
    s.server.reset_requests();
    let err = engine::cycle(
        &s.h.graph,
        &s.h.snapshot,
        &config,
        Some(&target),
        Options::default(),
    )
    .await
    .expect_err("the token is refused");
    let text = err.to_string();
    assert!(text.contains("401") && text.contains("token"), "{text}");
    assert!(
        !text.contains("not-the-token"),
        "the token never shows: {text}"
    );
    assert_eq!(s.server.writes(), 0);
    assert!(s.h.snapshot.pushed().expect("reads").is_empty());
}
