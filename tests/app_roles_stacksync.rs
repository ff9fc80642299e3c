//! stacksync's recipe with app roles, end to end over HTTP: the Graph emulator with an
//! enterprise app defining "viewer" and "editor", entrasync's cycles in-process, and a real SCIM
//! server (scim2-server behind the counting proxy). The scope is left to its default, which with
//! `[source] app` and no group is the users assigned to the app; each gets the role of their
//! assignment as `roles[primary eq "True"].value`, default access gets `default_permission`
//! ("Default value if null: viewer"), and userName and the work e-mail are lower-cased for SSO.
//! Assignments added, changed and removed, and assignments to a group (its direct members only,
//! not a nested group's), each reach the target in the next cycle as the one write they need; a
//! quiet cycle afterwards evaluates nobody and writes nothing.

#[path = "common/app_roles.rs"]
mod app_roles;
mod common;
#[path = "common/scim_server.rs"]
mod scim_server;

use app_roles::{
    AppSetup, Recipe, add_app, add_person, assign, example_recipe, primary_role, roles, user_id,
};
use entrasync::config::ScopeBy;
use entrasync::emulator::Tenant;
use serde_json::json;

/// The application (client) id of the stacksync enterprise app.
const STACKSYNC_APP: &str = "5b0c6f1e-2d3a-4e5f-9a8b-7c6d5e4f3a2b";

/// `config/examples/stacksync.toml`, pointed at the test's app.
fn recipe() -> Recipe {
    example_recipe("stacksync", STACKSYNC_APP)
}

/// The app's object id and the assignments the tests take back.
struct Tenancy {
    sp: String,
    /// Victor's "viewer".
    victor_viewer: String,
    /// Eve's "editor".
    eve_editor: String,
}

/// Eve is assigned editor, Victor viewer, Dana default access; Una is not assigned. The group
/// "stacksync Editors" is assigned editor and holds Gus and the group "Contractors", whose
/// members Nina (also assigned default access herself) and Olaf get nothing from it.
fn stacksync_tenant() -> (Tenant, Tenancy) {
    let mut t = app_roles::tenant();
    let sp = add_app(&mut t, "stacksync", STACKSYNC_APP, &["viewer", "editor"]);
    let eve = add_person(&mut t, "eve.editor");
    let victor = add_person(&mut t, "victor.viewer");
    let dana = add_person(&mut t, "dana.default");
    add_person(&mut t, "una.unassigned");
    let gus = add_person(&mut t, "gus.group");
    let nina = add_person(&mut t, "nina.nested");
    let olaf = add_person(&mut t, "olaf.nested");
    let editors = t.add_group("stacksync Editors");
    let contractors = t.add_group("Contractors");
    t.add_member(&editors, &gus);
    t.add_member(&editors, &contractors);
    t.add_member(&contractors, &nina);
    t.add_member(&contractors, &olaf);
    let eve_editor = assign(&mut t, &sp, &eve, Some("editor"));
    let victor_viewer = assign(&mut t, &sp, &victor, Some("viewer"));
    assign(&mut t, &sp, &dana, None);
    assign(&mut t, &sp, &nina, None);
    assign(&mut t, &sp, &editors, Some("editor"));
    let ids = Tenancy {
        sp,
        victor_viewer,
        eve_editor,
    };
    (t, ids)
}

async fn setup() -> (AppSetup, Tenancy) {
    let (tenant, ids) = stacksync_tenant();
    (AppSetup::start(tenant, recipe()).await, ids)
}

#[tokio::test]
async fn each_assigned_user_gets_the_role_of_their_assignment_and_no_one_else_is_created() {
    let (s, _) = setup().await;
    assert_eq!(
        s.config.rules.scope,
        ScopeBy::Assigned,
        "an app and no group: the assigned users"
    );
    let first = s.cycle().await;
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert!(first.rule_errors.is_empty(), "{:?}", first.rule_errors);
    assert_eq!(first.exit_status, 0);
    assert_eq!(
        s.user_names().await,
        [
            "dana.default@contoso.com",
            "eve.editor@contoso.com",
            "gus.group@contoso.com",
            "nina.nested@contoso.com",
            "victor.viewer@contoso.com",
        ],
        "Una (not assigned) and Olaf (only in a nested group) are not provisioned"
    );
    assert_eq!(first.in_scope, 5);
    for (name, role) in [
        ("eve.editor", "editor"),
        ("victor.viewer", "viewer"),
        ("dana.default", "viewer"),
        ("gus.group", "editor"),
        ("nina.nested", "viewer"),
    ] {
        let user = s.user(&format!("{name}@contoso.com")).await;
        assert_eq!(
            roles(&user),
            [(role.to_owned(), true)],
            "{name}: one role, primary"
        );
        assert_eq!(user["active"], true, "{name}");
        // Entra has `Eve.Editor@Contoso.com`: stacksync's SSO needs it lower-cased.
        let emails = user["emails"].as_array().expect("a work e-mail");
        assert_eq!(emails.len(), 1, "{name}: {emails:?}");
        assert_eq!(emails[0]["value"], format!("{name}@contoso.com"));
        let id = s.admin(|t| user_id(t, name));
        assert_eq!(user["externalId"], id.as_str(), "{name}");
    }
    s.assert_quiet().await;
}

#[tokio::test]
async fn an_assignment_added_changed_or_removed_is_the_one_write_it_needs() {
    let (s, ids) = setup().await;
    let first = s.cycle().await;
    assert!(first.failures.is_empty(), "{:?}", first.failures);

    // ADDED: Una is assigned viewer; the next cycle creates her, and only her.
    s.admin(|t| {
        let una = user_id(t, "una.unassigned");
        assign(t, &ids.sp, &una, Some("viewer"));
    });
    let added = s.cycle().await;
    assert_eq!(added.plan.creates, 1, "{:?}", added.plan);
    assert_eq!(added.plan.updates + added.plan.deactivations, 0);
    let una = s.user("una.unassigned@contoso.com").await;
    assert_eq!(primary_role(&una), "viewer");
    let posts: Vec<_> = s.writes().into_iter().map(|w| w.method).collect();
    assert_eq!(posts, ["POST"], "one create");

    // CHANGED: Victor's viewer becomes editor (Entra: remove the assignment, add another).
    s.admin(|t| {
        assert!(t.unassign(&ids.sp, &ids.victor_viewer));
        let victor = user_id(t, "victor.viewer");
        assign(t, &ids.sp, &victor, Some("editor"));
    });
    let changed = s.cycle().await;
    assert_eq!(changed.plan.updates, 1, "{:?}", changed.plan);
    assert_eq!(changed.plan.creates + changed.plan.deactivations, 0);
    let writes = s.writes();
    assert_eq!(writes.len(), 1, "one write: {writes:?}");
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(
        writes[0].body.as_ref().expect("a body")["Operations"],
        json!([{"op": "replace", "path": "roles",
                "value": [{"value": "editor", "primary": true}]}]),
        "only the role"
    );
    let victor = s.user("victor.viewer@contoso.com").await;
    assert_eq!(roles(&victor), [("editor".to_owned(), true)]);

    // REMOVED: Eve's only assignment goes; [deprovision]'s default deactivates her.
    s.admin(|t| assert!(t.unassign(&ids.sp, &ids.eve_editor)));
    let removed = s.cycle().await;
    assert_eq!(removed.plan.deactivations, 1, "{:?}", removed.plan);
    assert_eq!(removed.plan.creates + removed.plan.updates, 0);
    let writes = s.writes();
    assert_eq!(writes.len(), 1, "one write: {writes:?}");
    assert_eq!(writes[0].method, "PATCH");
    let eve = s.user("eve.editor@contoso.com").await;
    assert_eq!(eve["active"], false, "kept, inactive");
    assert_eq!(s.server.users().await.len(), 6, "nobody deleted");

    s.assert_quiet().await;
}

#[tokio::test]
async fn a_group_assigned_a_role_gives_it_to_its_direct_members_only() {
    let (s, _) = setup().await;
    let first = s.cycle().await;
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    // Gus is a direct member of "stacksync Editors"; Nina and Olaf are in "Contractors",
    // nested in it: Nina has her own default access (viewer), Olaf nothing.
    assert_eq!(
        primary_role(&s.user("gus.group@contoso.com").await),
        "editor"
    );
    assert_eq!(
        primary_role(&s.user("nina.nested@contoso.com").await),
        "viewer",
        "a nested group's member does not get the group's role"
    );
    assert!(s.find("olaf.nested@contoso.com").await.is_none());

    // A new direct member of the assigned group is provisioned as editor next cycle.
    let (editors, mia) = s.admin(|t| {
        let mia = add_person(t, "mia.member");
        let editors = t.group_id_by_name("stacksync Editors").expect("the group");
        t.add_member(&editors, &mia);
        (editors, mia)
    });
    let joined = s.cycle().await;
    assert!(joined.failures.is_empty(), "{:?}", joined.failures);
    assert_eq!(joined.plan.creates, 1, "{:?}", joined.plan);
    assert_eq!(joined.plan.updates + joined.plan.deactivations, 0);
    let created = s.user("mia.member@contoso.com").await;
    assert_eq!(roles(&created), [("editor".to_owned(), true)]);
    assert_eq!(created["active"], true);

    // Leaving the group leaves the app: deactivated next cycle, nobody else touched.
    s.admin(|t| t.remove_member(&editors, &mia));
    let left = s.cycle().await;
    assert_eq!(left.plan.deactivations, 1, "{:?}", left.plan);
    assert_eq!(left.plan.creates + left.plan.updates, 0);
    assert_eq!(s.writes().len(), 1, "{:?}", s.writes());
    assert_eq!(s.user("mia.member@contoso.com").await["active"], false);
    assert_eq!(s.user("gus.group@contoso.com").await["active"], true);

    // A nested group's new member gets nothing from the assignment either.
    s.admin(|t| {
        let contractors = t.group_id_by_name("Contractors").expect("the group");
        let pia = add_person(t, "pia.nested");
        t.add_member(&contractors, &pia);
    });
    let nested = s.cycle().await;
    assert_eq!(nested.plan.creates, 0, "{:?}", nested.plan);
    assert_eq!(s.server.writes(), 0, "{:?}", s.writes());

    // The assigned group is deleted for good, and its assignment with it: Gus leaves; Nina
    // keeps her own default access.
    s.admin(|t| t.delete_group(&editors, false));
    let deleted = s.cycle().await;
    assert_eq!(deleted.plan.deactivations, 1, "{:?}", deleted.plan);
    assert_eq!(deleted.plan.creates + deleted.plan.updates, 0);
    assert_eq!(s.user("gus.group@contoso.com").await["active"], false);
    assert_eq!(s.user("nina.nested@contoso.com").await["active"], true);

    s.assert_quiet().await;
}

#[tokio::test]
async fn a_group_assigned_after_the_first_cycle_brings_its_members_and_unassigning_it_removes_them()
{
    let (s, ids) = setup().await;
    let viewers = s.admin(|t| {
        let viewers = t.add_group("stacksync Viewers");
        let una = user_id(t, "una.unassigned");
        t.add_member(&viewers, &una);
        viewers
    });
    let first = s.cycle().await;
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert!(
        s.find("una.unassigned@contoso.com").await.is_none(),
        "her group is not assigned yet"
    );

    // The group is assigned viewer: its member is created as viewer. In the same change a
    // new group with a new member is made and assigned editor: he is created too.
    let assignment = s.admin(|t| {
        let lars = add_person(t, "lars.late");
        let late = t.add_group("Late Editors");
        t.add_member(&late, &lars);
        assign(t, &ids.sp, &late, Some("editor"));
        assign(t, &ids.sp, &viewers, Some("viewer"))
    });
    let assigned = s.cycle().await;
    assert!(assigned.failures.is_empty(), "{:?}", assigned.failures);
    assert_eq!(assigned.plan.creates, 2, "{:?}", assigned.plan);
    assert_eq!(assigned.plan.updates + assigned.plan.deactivations, 0);
    let created = s.user("una.unassigned@contoso.com").await;
    assert_eq!(roles(&created), [("viewer".to_owned(), true)]);
    let lars = s.user("lars.late@contoso.com").await;
    assert_eq!(roles(&lars), [("editor".to_owned(), true)]);

    // Eve joins the group too: editor (priority 1) stays primary, viewer is added.
    s.admin(|t| {
        let eve = user_id(t, "eve.editor");
        t.add_member(&viewers, &eve);
    });
    let joined = s.cycle().await;
    assert_eq!(joined.plan.updates, 1, "{:?}", joined.plan);
    let eve = s.user("eve.editor@contoso.com").await;
    assert_eq!(
        roles(&eve),
        [("editor".to_owned(), true), ("viewer".to_owned(), false)]
    );

    // The group's assignment is taken back: Una leaves, Eve keeps editor only.
    s.admin(|t| assert!(t.unassign(&ids.sp, &assignment)));
    let unassigned = s.cycle().await;
    assert_eq!(unassigned.plan.deactivations, 1, "{:?}", unassigned.plan);
    assert_eq!(unassigned.plan.updates, 1, "{:?}", unassigned.plan);
    assert_eq!(s.user("una.unassigned@contoso.com").await["active"], false);
    let eve = s.user("eve.editor@contoso.com").await;
    assert_eq!(roles(&eve), [("editor".to_owned(), true)]);

    s.assert_quiet().await;
}

#[tokio::test]
async fn a_role_value_in_another_case_still_grants_the_permission_under_its_own_name() {
    // The admin made the roles "Viewer" and "Editor" (the guide warns against capitals); the
    // recipe's values are lower case, compared without case, and stacksync gets the
    // permission group's name.
    let mut t = app_roles::tenant();
    let sp = add_app(&mut t, "stacksync", STACKSYNC_APP, &["Viewer", "Editor"]);
    let eve = add_person(&mut t, "eve.editor");
    assign(&mut t, &sp, &eve, Some("Editor"));
    let s = AppSetup::start(t, recipe()).await;
    let first = s.cycle().await;
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    let eve = s.user("eve.editor@contoso.com").await;
    assert_eq!(roles(&eve), [("editor".to_owned(), true)]);
}
