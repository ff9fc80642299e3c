//! App roles through the binary, as an operator meets them: a configured `app_roles` value the
//! app does not define, or an app Entra does not have, stops `once` and `plan` with exit status
//! 2 and one line naming it, before anything is written to the target; and provisioning on
//! demand (`once --user`) reads the app's assignments as they are now, so a role given after the
//! last cycle counts at once, directly or through a group assigned since. The recipes' whole
//! cycles are in `app_roles_stacksync.rs` and `app_roles_signpath.rs`.

#[path = "common/app_roles.rs"]
mod app_roles;
mod common;
#[path = "common/scim_server.rs"]
mod scim_server;

use app_roles::{
    CliSetup, Recipe, add_app, add_person, assign, example_recipe, primary_role, user_id,
};
use common::{assert_exit, entrasync, stdout_json};
use entrasync::emulator::Tenant;
use serde_json::Value;

const STACKSYNC_APP: &str = "5b0c6f1e-2d3a-4e5f-9a8b-7c6d5e4f3a2b";
/// An application id no enterprise app of the tenant has.
const NO_SUCH_APP: &str = "0f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f";

/// `config/examples/stacksync.toml`, pointed at the test's app.
fn stacksync_recipe() -> Recipe {
    example_recipe("stacksync", STACKSYNC_APP)
}

/// stacksync's app with "viewer" and "editor"; Eve is assigned editor, Victor viewer; Una and
/// Vera are not assigned. Returns the tenant and the app's object id.
fn stacksync_tenant() -> (Tenant, String) {
    let mut t = app_roles::tenant();
    let sp = add_app(&mut t, "stacksync", STACKSYNC_APP, &["viewer", "editor"]);
    let eve = add_person(&mut t, "eve.editor");
    let victor = add_person(&mut t, "victor.viewer");
    add_person(&mut t, "una.unassigned");
    add_person(&mut t, "vera.later");
    assign(&mut t, &sp, &eve, Some("editor"));
    assign(&mut t, &sp, &victor, Some("viewer"));
    (t, sp)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `once` and `plan` and asserts each exits 2 with one line on standard error holding every
/// one of `words`, and that the target received nothing at all.
async fn assert_refused(s: &CliSetup, words: &[&str]) {
    for args in [&["once"][..], &["plan"], &["once", "--json"]] {
        let out = entrasync(s.path(), args).await;
        assert_exit(&out, 2, &format!("{args:?}"));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
        for word in words {
            assert!(err.contains(word), "{args:?}: names {word}: {err}");
        }
    }
    assert_eq!(s.server.writes(), 0, "{:?}", s.server.requests());
    assert!(s.server.users().await.is_empty(), "nobody was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_value_the_app_does_not_define_exits_2_naming_it_and_writes_nothing() {
    let (tenant, _) = stacksync_tenant();
    let mut recipe = stacksync_recipe();
    recipe.rest.push_str(
        "\n[[permission_groups]]\nname = \"admin\"\napp_roles = [\"admin\"]\npriority = 3\n",
    );
    let s = CliSetup::start(tenant, recipe).await;
    // The message names the value that is missing and the values the app has.
    assert_refused(
        &s,
        &["\"admin\"", "(admin) app_roles", "\"viewer\"", "\"editor\""],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_entra_does_not_have_exits_2_naming_it_and_writes_nothing() {
    let (tenant, _) = stacksync_tenant();
    let recipe = example_recipe("stacksync", NO_SUCH_APP);
    let s = CliSetup::start(tenant, recipe).await;
    assert_refused(&s, &[NO_SUCH_APP, "[source] app"]).await;
}

/// The report `once --json` printed, after asserting exit status 0.
fn report(out: &std::process::Output, what: &str) -> Value {
    assert_exit(out, 0, what);
    stdout_json(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_user_sees_an_assignment_made_after_the_last_cycle() {
    let (tenant, sp) = stacksync_tenant();
    let s = CliSetup::start(tenant, stacksync_recipe()).await;
    let first = report(&entrasync(s.path(), &["once", "--json"]).await, "once");
    assert_eq!(first["plan"]["creates"], 2, "Eve and Victor: {first}");

    // After the cycle: Una is assigned editor herself; Gil joins "Late Editors", a new group
    // assigned editor; Vera is assigned viewer but not asked for.
    s.emulator.mutate(|t| {
        let una = user_id(t, "una.unassigned");
        assign(t, &sp, &una, Some("editor"));
        let gil = add_person(t, "gil.late");
        let late = t.add_group("Late Editors");
        t.add_member(&late, &gil);
        assign(t, &sp, &late, Some("editor"));
        let vera = user_id(t, "vera.later");
        assign(t, &sp, &vera, Some("viewer"));
    });
    s.server.reset_requests();
    let args = [
        "once",
        "--user",
        "una.unassigned@contoso.com",
        "--user",
        "gil.late@contoso.com",
        "--json",
    ];
    let on_demand = report(&entrasync(s.path(), &args).await, "once --user");
    assert_eq!(on_demand["on_demand"], true);
    assert_eq!(on_demand["plan"]["creates"], 2, "{on_demand}");
    assert_eq!(on_demand["plan"]["updates"], 0, "{on_demand}");
    assert_eq!(on_demand["plan"]["deactivations"], 0, "{on_demand}");
    let posts = s.server.requests();
    let posts = posts.iter().filter(|r| r.is_write());
    assert!(posts.clone().all(|r| r.method == "POST"), "creates only");
    assert_eq!(posts.count(), 2);
    let users = s.server.users().await;
    let find = |name: &str| users.iter().find(|u| u["userName"] == name).cloned();
    let una = find("una.unassigned@contoso.com").expect("Una is created on demand");
    assert_eq!(primary_role(&una), "editor");
    let gil = find("gil.late@contoso.com").expect("Gil is created on demand");
    assert_eq!(
        primary_role(&gil),
        "editor",
        "through the group assigned since"
    );
    assert!(
        find("vera.later@contoso.com").is_none(),
        "not asked for, not provisioned"
    );

    // The next cycle brings what on demand left: Vera, and nobody twice.
    s.server.reset_requests();
    let next = report(&entrasync(s.path(), &["once", "--json"]).await, "once");
    assert_eq!(next["plan"]["creates"], 1, "only Vera: {next}");
    assert_eq!(next["plan"]["updates"], 0, "{next}");
    let users = s.server.users().await;
    assert_eq!(users.len(), 5, "{users:?}");
    let vera = users
        .iter()
        .find(|u| u["userName"] == "vera.later@contoso.com")
        .expect("Vera");
    assert_eq!(primary_role(vera), "viewer");

    // An assignment taken back after the last cycle counts on demand too: Eve is deactivated,
    // Victor's new role is his at once.
    s.emulator.mutate(|t| {
        let eve = user_id(t, "eve.editor");
        let victor = user_id(t, "victor.viewer");
        for a in t.app_role_assignments(&sp) {
            if a.principal_id == eve {
                assert!(t.unassign(&sp, &a.id));
            }
        }
        assign(t, &sp, &victor, Some("editor"));
    });
    let args = [
        "once",
        "--user",
        "eve.editor@contoso.com",
        "--user",
        "victor.viewer@contoso.com",
        "--json",
    ];
    let on_demand = report(&entrasync(s.path(), &args).await, "once --user");
    assert_eq!(on_demand["plan"]["deactivations"], 1, "{on_demand}");
    assert_eq!(on_demand["plan"]["updates"], 1, "{on_demand}");
    let users = s.server.users().await;
    let find = |name: &str| users.iter().find(|u| u["userName"] == name).cloned();
    let eve = find("eve.editor@contoso.com").expect("Eve stays, inactive");
    assert_eq!(eve["active"], false);
    let victor = find("victor.viewer@contoso.com").expect("Victor");
    assert_eq!(
        app_roles::roles(&victor),
        [("editor".to_owned(), true), ("viewer".to_owned(), false)],
        "viewer and now editor, editor first"
    );
}
