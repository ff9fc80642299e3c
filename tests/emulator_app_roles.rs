//! The emulator's enterprise apps over real HTTP, spoken to with a plain client: the service
//! principal and its app roles, found by application id, and `appRoleAssignedTo` paged as Graph
//! pages it, following the tenant as it changes.

#[path = "common/fabrikam.rs"]
mod fabrikam;

use entrasync::emulator::{
    AppError, AppRole, DEFAULT_ACCESS, Emulator, EmulatorOptions, Endpoint, FaultKind, Tenant,
};
use fabrikam::{ADMIN, APP_ID, APP_ONLY, EDITOR, FIXTURE, LEGACY};
use serde_json::Value;

const ASSIGNED: usize = 9;

struct Client {
    http: reqwest::Client,
    emulator: Emulator,
    token: String,
    /// The object id of 'Fabrikam Planner'.
    sp: String,
}

impl Client {
    async fn start(options: EmulatorOptions) -> Client {
        let tenant = Tenant::from_json(FIXTURE).expect("the fixture loads");
        let emulator = Emulator::start(tenant, options).await.expect("starts");
        let http = reqwest::Client::new();
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            emulator.base_url(),
            emulator.tenant_id()
        );
        let form = [
            ("client_id", emulator.client_id()),
            ("client_secret", emulator.client_secret()),
            ("grant_type", "client_credentials".to_owned()),
            ("scope", format!("{}/.default", emulator.base_url())),
        ];
        let body: Value = http
            .post(url)
            .form(&form)
            .send()
            .await
            .expect("answers")
            .json()
            .await
            .expect("JSON");
        let token = body["access_token"].as_str().expect("a token").to_owned();
        let sp = emulator
            .mutate(|t| t.service_principal_id(APP_ID))
            .expect("the fixture's app");
        Client {
            http,
            emulator,
            token,
            sp,
        }
    }

    async fn get(&self, url: &str) -> (u16, Value) {
        self.send(self.http.get(url).bearer_auth(&self.token)).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.expect("the emulator answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1.0/{path}", self.emulator.base_url())
    }

    /// Every page of a listing from `url`, following `@odata.nextLink`.
    async fn pages(&self, url: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut url = url.to_owned();
        loop {
            let (status, page) = self.get(&url).await;
            assert_eq!(status, 200, "{url}: {page}");
            let next = page["@odata.nextLink"].as_str().map(str::to_owned);
            pages.push(page);
            match next {
                Some(next) => url = next,
                None => return pages,
            }
        }
    }

    /// Every assignment to 'Fabrikam Planner'.
    async fn assignments(&self) -> Vec<Value> {
        let url = self.url(&format!("servicePrincipals/{}/appRoleAssignedTo", self.sp));
        items(&self.pages(&url).await)
    }

    fn user(&self, upn: &str) -> String {
        self.emulator
            .mutate(|t| t.user_id_by_upn(upn))
            .expect("a user of the fixture")
    }
}

fn items(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| p["value"].as_array().expect("a value array").clone())
        .collect()
}

fn keys(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn ids_of(assignments: &[Value], principal: &str) -> Vec<String> {
    assignments
        .iter()
        .filter(|a| a["principalId"] == principal)
        .map(|a| a["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn the_service_principal_lists_its_roles_with_select() {
    let c = Client::start(EmulatorOptions::default()).await;
    let (status, sp) = c
        .get(&c.url(&format!(
            "servicePrincipals/{}?$select=appId,appRoles",
            c.sp
        )))
        .await;
    assert_eq!(status, 200, "{sp}");
    assert_eq!(keys(&sp), ["@odata.context", "appId", "appRoles", "id"]);
    assert!(
        sp["@odata.context"]
            .as_str()
            .expect("a context")
            .ends_with("/v1.0/$metadata#servicePrincipals(appId,appRoles)/$entity"),
        "{sp}"
    );
    assert_eq!(sp["appId"], APP_ID);
    let roles = sp["appRoles"].as_array().expect("roles");
    assert_eq!(roles.len(), 5);
    let admin = roles.iter().find(|r| r["value"] == "Admin").expect("Admin");
    assert_eq!(admin["id"], ADMIN);
    assert_eq!(admin["displayName"], "Administrator");
    assert_eq!(admin["description"], "Manages the planner");
    assert_eq!(admin["isEnabled"], true);
    assert_eq!(admin["allowedMemberTypes"], serde_json::json!(["User"]));
    let reader = roles
        .iter()
        .find(|r| r["value"] == "Reader")
        .expect("Reader");
    let made_up = reader["id"].as_str().expect("an id");
    assert!(
        entrasync::source::looks_like_object_id(made_up) && made_up != DEFAULT_ACCESS,
        "{made_up}"
    );
    assert_eq!(reader["isEnabled"], true, "enabled unless said otherwise");
    assert_eq!(reader["description"], "", "{reader}");
    let legacy = roles.iter().find(|r| r["id"] == LEGACY).expect("Legacy");
    assert_eq!(legacy["isEnabled"], false);

    // Without $select: every property.
    let (status, sp) = c.get(&c.url(&format!("servicePrincipals/{}", c.sp))).await;
    assert_eq!(status, 200);
    assert_eq!(sp["displayName"], "Fabrikam Planner");
    assert_eq!(sp["appRoleAssignmentRequired"], true, "from the fixture");
    assert_eq!(sp["servicePrincipalType"], "Application");
    assert_eq!(sp["accountEnabled"], true);
    assert_eq!(sp["appRoles"].as_array().map(Vec::len), Some(5));
    assert!(
        sp["@odata.context"]
            .as_str()
            .expect("a context")
            .ends_with("#servicePrincipals/$entity")
    );
    assert_eq!(c.emulator.requests().count(Endpoint::ServicePrincipal), 2);
}

#[tokio::test]
async fn a_client_resolves_its_application_id_to_the_service_principal() {
    let c = Client::start(EmulatorOptions::default()).await;
    let (status, page) = c
        .get(&c.url(&format!(
            "servicePrincipals?$filter=appId eq '{APP_ID}'&$select=id,appId,displayName"
        )))
        .await;
    assert_eq!(status, 200, "{page}");
    let found = page["value"].as_array().expect("a collection");
    assert_eq!(found.len(), 1, "{page}");
    assert_eq!(found[0]["id"], c.sp.as_str());
    assert_eq!(keys(&found[0]), ["appId", "displayName", "id"]);
    assert!(page.get("@odata.nextLink").is_none());

    // A GUID matches in any case; an unknown one matches nothing.
    let upper = APP_ID.to_uppercase();
    let (_, page) = c
        .get(&c.url(&format!("servicePrincipals?$filter=appId eq '{upper}'")))
        .await;
    assert_eq!(page["value"][0]["id"], c.sp.as_str());
    let (status, page) = c
        .get(&c.url("servicePrincipals?$filter=appId eq '00000000-1111-2222-3333-444444444444'"))
        .await;
    assert_eq!(
        (status, page["value"].as_array().map(Vec::len)),
        (200, Some(0))
    );

    // Graph's alternate key addresses it too.
    let (status, sp) = c
        .get(&c.url(&format!("servicePrincipals(appId='{APP_ID}')?$select=id")))
        .await;
    assert_eq!((status, sp["id"].as_str()), (200, Some(c.sp.as_str())));
    let (status, page) = c
        .get(&c.url(&format!(
            "servicePrincipals(appId='{APP_ID}')/appRoleAssignedTo"
        )))
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["value"].as_array().map(Vec::len), Some(ASSIGNED));

    // Every service principal, and a filter the emulator does not know.
    let (_, page) = c.get(&c.url("servicePrincipals")).await;
    assert_eq!(page["value"].as_array().map(Vec::len), Some(2));
    let (status, body) = c
        .get(&c.url("servicePrincipals?$filter=startswith(displayName,'F')"))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("Request_UnsupportedQuery"))
    );
    assert_eq!(c.emulator.requests().count(Endpoint::ServicePrincipals), 5);
}

#[tokio::test]
async fn assignments_to_users_and_groups_are_paged_with_top() {
    let c = Client::start(EmulatorOptions::default()).await;
    let url = c.url(&format!(
        "servicePrincipals/{}/appRoleAssignedTo?$top=2",
        c.sp
    ));
    let pages = c.pages(&url).await;
    assert_eq!(pages.len(), ASSIGNED.div_ceil(2));
    for (n, page) in pages.iter().enumerate() {
        let len = page["value"].as_array().map_or(0, Vec::len);
        assert!(len == 2 || (n == pages.len() - 1 && len == 1), "{page}");
        assert_eq!(
            page.get("@odata.nextLink").is_some(),
            n + 1 < pages.len(),
            "a next link on all but the last page"
        );
        assert!(
            page["@odata.context"]
                .as_str()
                .expect("a context")
                .ends_with(&format!("#servicePrincipals('{}')/appRoleAssignedTo", c.sp))
        );
    }
    assert_eq!(
        c.emulator.requests().count(Endpoint::AppRoleAssignedTo),
        pages.len() as u64
    );
    let all = items(&pages);
    assert_eq!(all.len(), ASSIGNED);
    let mut ids: Vec<&str> = all.iter().filter_map(|a| a["id"].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), ASSIGNED, "each assignment once");
    for a in &all {
        assert_eq!(
            keys(a),
            [
                "appRoleId",
                "createdDateTime",
                "deletedDateTime",
                "id",
                "principalDisplayName",
                "principalId",
                "principalType",
                "resourceDisplayName",
                "resourceId"
            ]
        );
        assert_eq!(
            a["id"].as_str().map(str::len),
            Some(43),
            "Graph's shape: {a}"
        );
        assert_eq!(a["resourceId"], c.sp.as_str());
        assert_eq!(a["resourceDisplayName"], "Fabrikam Planner");
        assert!(
            a["createdDateTime"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
    }
    let of_type = |kind: &str| all.iter().filter(|a| a["principalType"] == kind).count();
    assert_eq!((of_type("User"), of_type("Group")), (6, 3));
    let default_access = all.iter().filter(|a| a["appRoleId"] == DEFAULT_ACCESS);
    assert_eq!(default_access.count(), 2);
    let finance = all
        .iter()
        .find(|a| a["principalDisplayName"] == "Finance")
        .expect("the Finance group's assignment");
    assert_eq!(finance["principalType"], "Group");
    assert_eq!(finance["appRoleId"], EDITOR);
    assert_eq!(finance["createdDateTime"], "2024-03-01T09:30:00Z");

    // $select, a filter by principal, and $top out of range.
    let ada = c.user("ada.lind@fabrikam.example");
    let (status, page) = c
        .get(&c.url(&format!(
            "servicePrincipals/{}/appRoleAssignedTo?$filter=principalId eq '{ada}'&$select=appRoleId,principalId",
            c.sp
        )))
        .await;
    assert_eq!(status, 200, "{page}");
    let own = page["value"].as_array().expect("a list");
    assert_eq!(own.len(), 1, "not her group's assignment: {page}");
    assert_eq!(keys(&own[0]), ["appRoleId", "id", "principalId"]);
    assert_eq!(own[0]["appRoleId"], ADMIN);
    let (status, _) = c
        .get(&c.url(&format!(
            "servicePrincipals/{}/appRoleAssignedTo?$top=1000",
            c.sp
        )))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_page_size_without_top_comes_from_the_options() {
    let c = Client::start(EmulatorOptions {
        list_page_size: 4,
        ..EmulatorOptions::default()
    })
    .await;
    let url = c.url(&format!("servicePrincipals/{}/appRoleAssignedTo", c.sp));
    let pages = c.pages(&url).await;
    assert_eq!(pages.len(), ASSIGNED.div_ceil(4));
    assert_eq!(items(&pages).len(), ASSIGNED);
}

#[tokio::test]
async fn the_tenant_api_assigns_and_unassigns_between_listings() {
    let c = Client::start(EmulatorOptions::default()).await;
    let eva = c.user("eva.rud@fabrikam.example");
    let sp = c.sp.clone();
    let (role, assignment) = c.emulator.mutate(|t| {
        let role = t
            .add_app_role(&sp, AppRole::new("Auditor", "Auditor"))
            .expect("a new role");
        (
            role.clone(),
            t.assign_app_role(&sp, &eva, &role).expect("assigned"),
        )
    });
    let listed = c.assignments().await;
    assert_eq!(listed.len(), ASSIGNED + 1);
    let added = listed
        .iter()
        .find(|a| a["id"] == assignment.as_str())
        .expect("the new assignment is listed");
    assert_eq!(added["appRoleId"], role.as_str());
    assert_eq!(added["principalId"], eva.as_str());
    assert_eq!(added["principalType"], "User");
    assert_eq!(added["principalDisplayName"], "Eva Rud");
    let (_, sp_json) = c.get(&c.url(&format!("servicePrincipals/{sp}"))).await;
    assert!(
        sp_json["appRoles"]
            .as_array()
            .expect("roles")
            .iter()
            .any(|r| r["id"] == role.as_str() && r["value"] == "Auditor")
    );

    assert!(c.emulator.mutate(|t| t.unassign(&sp, &assignment)));
    let listed = c.assignments().await;
    assert_eq!(listed.len(), ASSIGNED);
    assert!(listed.iter().all(|a| a["id"] != assignment.as_str()));
    assert!(!c.emulator.mutate(|t| t.unassign(&sp, &assignment)), "once");

    // What Graph refuses, the tenant refuses.
    let fixture: Value = serde_json::from_str(FIXTURE).expect("JSON");
    let hans = fixture["users"]
        .as_array()
        .and_then(|users| users.iter().find(|u| u["deleted"] == "soft"))
        .and_then(|u| u["id"].as_str())
        .expect("the user in deleted items")
        .to_owned();
    c.emulator.mutate(|t| {
        assert_eq!(
            t.assign_app_role(&sp, &eva, LEGACY),
            Err(AppError::RoleDisabled(LEGACY.into()))
        );
        assert_eq!(
            t.assign_app_role(&sp, &eva, APP_ONLY),
            Err(AppError::NotForUsers(APP_ONLY.into()))
        );
        let unknown = "aaaaaaaa-0000-4000-8000-000000000000";
        assert_eq!(
            t.assign_app_role(&sp, &eva, unknown),
            Err(AppError::NoRole(unknown.into()))
        );
        assert_eq!(
            t.assign_app_role(&sp, &hans, DEFAULT_ACCESS),
            Err(AppError::NoPrincipal(hans.clone()))
        );
        assert_eq!(
            t.assign_app_role(&sp, &eva, &role).map(|_| ()),
            Ok(()),
            "assignable again"
        );
        assert_eq!(
            t.assign_app_role(&sp, &eva, &role),
            Err(AppError::AlreadyAssigned)
        );
    });
    assert_eq!(c.assignments().await.len(), ASSIGNED + 1);
}

#[tokio::test]
async fn deleting_a_user_or_group_removes_its_assignments() {
    let c = Client::start(EmulatorOptions::default()).await;
    let gro = c.user("gro.berg@fabrikam.example");
    let before = c.assignments().await;
    assert_eq!(ids_of(&before, &gro).len(), 2, "a role and default access");

    c.emulator.mutate(|t| t.soft_delete_user(&gro));
    let listed = c.assignments().await;
    assert!(ids_of(&listed, &gro).is_empty(), "not listed while deleted");
    assert_eq!(listed.len(), ASSIGNED - 2);
    c.emulator.mutate(|t| t.restore_user(&gro));
    assert_eq!(
        ids_of(&c.assignments().await, &gro),
        ids_of(&before, &gro),
        "restored with the user"
    );

    c.emulator.mutate(|t| t.hard_delete_user(&gro));
    assert_eq!(c.assignments().await.len(), ASSIGNED - 2);
    let sp = c.sp.clone();
    for id in ids_of(&before, &gro) {
        assert!(
            !c.emulator.mutate(|t| t.unassign(&sp, &id)),
            "deleted for good, not just hidden: {id}"
        );
    }

    let (sales, ada) = c.emulator.mutate(|t| {
        (
            t.group_id_by_name("Sales").expect("Sales"),
            t.user_id_by_upn("ada.lind@fabrikam.example").expect("Ada"),
        )
    });
    c.emulator.mutate(|t| t.delete_group(&sales, false));
    let listed = c.assignments().await;
    assert_eq!(listed.len(), ASSIGNED - 3);
    assert!(ids_of(&listed, &sales).is_empty());
    let sales_assignment = ids_of(&before, &sales);
    assert_eq!(sales_assignment.len(), 1);
    assert!(!c.emulator.mutate(|t| t.unassign(&sp, &sales_assignment[0])));
    assert_eq!(ids_of(&listed, &ada).len(), 1, "others keep theirs");
}

#[tokio::test]
async fn an_unknown_service_principal_is_404_with_graph_s_error() {
    let c = Client::start(EmulatorOptions::default()).await;
    let unknown = "0badc0de-0000-4000-8000-000000000000";
    let a_user = c.user("ada.lind@fabrikam.example");
    for path in [
        format!("servicePrincipals/{unknown}"),
        format!("servicePrincipals/{unknown}/appRoleAssignedTo"),
        format!("servicePrincipals/{a_user}"),
        format!("servicePrincipals(appId='{unknown}')"),
    ] {
        let (status, body) = c.get(&c.url(&path)).await;
        assert_eq!(status, 404, "{path}: {body}");
        let error = &body["error"];
        assert_eq!(error["code"], "Request_ResourceNotFound", "{path}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("does not exist")),
            "{body}"
        );
        assert!(error["innerError"]["request-id"].is_string(), "{body}");
        assert!(error["innerError"]["date"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn unauthenticated_requests_are_refused() {
    let c = Client::start(EmulatorOptions::default()).await;
    let url = c.url(&format!("servicePrincipals/{}/appRoleAssignedTo", c.sp));
    let (status, body) = c.send(c.http.get(&url)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    let (status, _) = c.send(c.http.get(&url).bearer_auth("not-a-token")).await;
    assert_eq!(status, 401);
    let (status, _) = c
        .send(c.http.get(c.url(&format!("servicePrincipals/{}", c.sp))))
        .await;
    assert_eq!(status, 401);
    let (status, _) = c
        .send(c.http.get(c.url("servicePrincipals?$filter=appId eq 'x'")))
        .await;
    assert_eq!(status, 401);
    c.emulator.revoke_tokens();
    let (status, _) = c.get(&url).await;
    assert_eq!(status, 401, "a revoked token");
    let requests = c.emulator.requests();
    assert_eq!(
        (
            requests.count(Endpoint::AppRoleAssignedTo),
            requests.count(Endpoint::ServicePrincipal),
            requests.count(Endpoint::ServicePrincipals),
        ),
        (3, 1, 1),
        "refused requests are counted"
    );
}

#[tokio::test]
async fn faults_fire_on_the_app_endpoints() {
    let c = Client::start(EmulatorOptions::default()).await;
    let url = c.url(&format!("servicePrincipals/{}/appRoleAssignedTo", c.sp));
    c.emulator.faults().inject(
        Endpoint::AppRoleAssignedTo,
        FaultKind::TooManyRequests {
            retry_after: Some("3".into()),
        },
    );
    let response = c
        .http
        .get(&url)
        .bearer_auth(&c.token)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
    let (status, _) = c.get(&url).await;
    assert_eq!(status, 200, "the fault fired once");

    c.emulator
        .faults()
        .inject(Endpoint::ServicePrincipals, FaultKind::GatewayTimeout);
    let lookup = c.url(&format!("servicePrincipals?$filter=appId eq '{APP_ID}'"));
    let (status, _) = c.get(&lookup).await;
    assert_eq!(status, 504);
    c.emulator.faults().inject(
        Endpoint::ServicePrincipal,
        FaultKind::body("<html>proxy</html>"),
    );
    let one = c.url(&format!("servicePrincipals/{}", c.sp));
    let (status, body) = c.get(&one).await;
    assert_eq!((status, body), (200, Value::Null), "not JSON");
    assert_eq!(c.get(&lookup).await.0, 200);
    assert_eq!(c.get(&one).await.0, 200);
}
