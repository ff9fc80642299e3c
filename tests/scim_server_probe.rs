//! Probes the real SCIM server the integration tests use (scim2-server 0.8.3, through
//! `tests/common/scim_server.rs`): Entra's provisioning lifecycle end to end, and, one test per
//! topic, what this strict RFC 7643/7644 server does with the shapes of Entra's dialect
//! (`/work/shared/design/entra-scim-dialect.md`). Each assertion is a finding the SCIM adapter's
//! design rests on; a new server version that behaves otherwise fails here first.
//!
//! Findings (scim2-server 0.8.3, default schemas, `--bearer-token`):
//! * Served under `/v2` (the prefix is optional: `/Users` works too). Every request but
//!   `GET /ServiceProviderConfig` needs `Authorization: Bearer <token>`, else 401.
//! * POST answers 201 with `location`, `etag` (`W/"n"`, n from one counter for the whole store)
//!   and `content-type: application/scim+json`. `meta.location` and `location` are built from
//!   the request's `Host`.
//! * PATCH answers **204 with no body** unless the query has `attributes` or
//!   `excludedAttributes`, then 200 with the (projected) resource. A PATCH that changes nothing
//!   keeps the version (`etag`) and `meta.lastModified`.
//! * `op` is case-insensitive (`Replace`, `REPLACE`, `replace`). Booleans are parsed leniently:
//!   `"False"`, `"True"`, `"false"` are stored as JSON booleans; `"garbage"` is 400 `invalidValue`.
//! * Bodies must be `application/scim+json` or `application/json`; another or no content type is
//!   415.
//! * `roles` with `primary` round-trips (`type`, `display` too); two primaries is 400
//!   `invalidValue`; adding a primary role sets the others' `primary` to false; `roles: []` is
//!   accepted and not returned.
//! * A duplicate `userName` is 409 `scimType: uniqueness`, compared case-insensitively.
//!   `externalId` is not unique. Group `displayName` is not unique either.
//! * Filters: `externalId eq "…"` works and is case-sensitive; `userName eq` is
//!   case-insensitive; the unquoted legacy `externalId eq jyoung` is 400 `invalidFilter`; an
//!   unknown attribute is 400 `invalidFilter`; `emails[type eq "work"].value eq "…"` and `and`
//!   work; no hit is 200 with an empty ListResponse.
//! * Groups: the `ADSCIM/2.0/Group` schema Entra adds is 400 `invalidSyntax`. An empty group
//!   has no `members` key. `excludedAttributes=members` drops them, on GET by id and on lists.
//!   Member values are not checked (an unknown id is accepted), adding a present member
//!   changes nothing, deleting a user leaves it in its groups' `members`, and `User.groups` is
//!   never filled. The legacy remove (`path: "members"` with a `value`) is 400 `invalidValue`;
//!   `members[value eq "…"]` removes one; `path: "members"` alone removes all.
//! * Legacy / quirky user shapes: a top-level `department` or `manager` (even null) is 400
//!   `invalidSyntax` "Extra inputs are not permitted"; the typo schema `…:enterprise:2.0User` is
//!   400 `invalidSyntax` "Unknown extension schemas"; null values of known attributes are
//!   ignored; `meta.resourceType` is ignored; extension data whose URN is missing from `schemas`
//!   is accepted and the URN added; `manager` as a plain string (POST or PATCH) is 400
//!   `invalidValue`, `{"value": …}` is fine (not checked to exist). A path-less `replace` whose
//!   value has dotted (`name.givenName`) and URN-qualified keys works. `replace` (or `add`) on
//!   `emails[type eq "work"].value` when there is no work email is 400 `noTarget`: a first work
//!   email needs `add` on `emails` with the whole value.
//! * Pagination: no `pagination` block in /ServiceProviderConfig, `filter.maxResults` is 1000, so
//!   without `count` one page holds every result up to 1000 (`count` above is cut to 1000).
//!   `startIndex` below 1 counts as 1; past the end gives an empty page echoing it; `count=0`
//!   gives `totalResults` only. Resources are ordered by `id` (random hex), not by creation.
//! * Missing resource: 404 with an Error body, `status` a string (`"404"`); DELETE twice is 404.

#[path = "common/scim_server.rs"]
mod scim_server;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use scim_server::ScimServer;

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

const USER_NAME: &str = "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee";
const EXTERNAL_ID: &str = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef";

/// One answer, through the counting proxy.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Option<Value>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> &Value {
        self.body.as_ref().expect("a JSON body")
    }

    /// The `detail` of an Error body.
    fn detail(&self) -> &str {
        self.json()["detail"].as_str().unwrap_or("")
    }

    /// The `scimType` of an Error body.
    fn scim_type(&self) -> &str {
        self.json()["scimType"].as_str().unwrap_or("")
    }
}

/// Sends `method base_url/path?query` with `body` as `application/scim+json`, as Entra does.
async fn call(
    server: &ScimServer,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> Answer {
    call_as(
        server,
        method,
        path,
        query,
        body,
        Some("application/scim+json"),
    )
    .await
}

async fn call_as(
    server: &ScimServer,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
    content_type: Option<&str>,
) -> Answer {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let url = format!("{}/{path}", server.base_url);
    let mut request = client
        .request(method.clone(), &url)
        .bearer_auth(&server.token)
        .query(query);
    if let Some(body) = body {
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request = request.body(body.to_string());
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|err| panic!("{method} {url}: {err}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = (!text.is_empty()).then(|| {
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{method} {url}: {err} in {text}"))
    });
    Answer {
        status,
        headers,
        body,
    }
}

fn patch(operations: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

/// Entra's POST /Users ([T] 1.1), with the enterprise `department` it maps from Entra's
/// `department`.
fn entra_user() -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE_USER],
        "externalId": EXTERNAL_ID,
        "userName": USER_NAME,
        "active": true,
        "emails": [{
            "primary": true,
            "type": "work",
            "value": "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
        }],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName"
        },
        "roles": [],
        ENTERPRISE_USER: {"department": "Sales"}
    })
}

fn user(user_name: &str) -> Value {
    json!({"schemas": [CORE_USER], "userName": user_name})
}

fn id_of(answer: &Answer) -> String {
    answer.json()["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn entra_lifecycle_with_request_counts() {
    let server = scim_server::start().await;
    assert!(server.base_url.starts_with("http://127.0.0.1:") && server.base_url.ends_with("/v2"));
    assert_ne!(
        server.base_url, server.upstream_url,
        "base_url is the proxy's"
    );
    assert!(server.requests().is_empty());

    // POST /Users, Entra's shape: 201, the resource with its id; the proxy passes location,
    // etag and content-type through, and location names the proxy (Host is forwarded).
    let created = call(&server, "POST", "Users", &[], Some(entra_user())).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = id_of(&created);
    let location = format!("{}/Users/{id}", server.base_url);
    assert_eq!(created.header("location"), location);
    assert_eq!(created.header("content-type"), "application/scim+json");
    let created_etag = created.header("etag").to_owned();
    assert!(created_etag.starts_with("W/\""), "etag {created_etag:?}");
    let body = created.json();
    assert_eq!(body["schemas"], json!([CORE_USER, ENTERPRISE_USER]));
    assert_eq!(body["meta"]["location"], location.as_str());
    assert_eq!(body["meta"]["resourceType"], "User");
    assert_eq!(body["meta"]["version"], created_etag.as_str());
    assert_eq!(body["externalId"], EXTERNAL_ID);
    assert_eq!(body["active"], true);
    assert_eq!(body["name"]["givenName"], "givenName");
    assert_eq!(
        body["emails"][0]["value"],
        "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com"
    );
    assert_eq!(body[ENTERPRISE_USER]["department"], "Sales");
    assert!(
        body.get("roles").is_none(),
        "an empty roles list is dropped: {body}"
    );

    // GET /Users?filter=userName eq "…": a ListResponse with the one user.
    let filter = format!("userName eq \"{USER_NAME}\"");
    let found = call(&server, "GET", "Users", &[("filter", &filter)], None).await;
    assert_eq!(found.status, 200);
    let list = found.json();
    assert_eq!(list["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["startIndex"], 1);
    assert_eq!(list["itemsPerPage"], 1);
    assert_eq!(list["Resources"][0]["id"], id.as_str());
    assert_eq!(list["Resources"][0][ENTERPRISE_USER]["department"], "Sales");

    // PATCH active=false (the RFC shape, aadOptscim062020): 204, no body, a new etag.
    let disable = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    let disabled = call(
        &server,
        "PATCH",
        &format!("Users/{id}"),
        &[],
        Some(disable.clone()),
    )
    .await;
    assert_eq!(disabled.status, 204);
    assert!(disabled.body.is_none());
    assert!(disabled.header("etag").starts_with("W/\""));
    assert_ne!(disabled.header("etag"), created_etag);

    // POST /Groups (without Entra's ADSCIM schema, see `groups`), then Entra's member add.
    let group = json!({
        "schemas": [CORE_GROUP],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "Sales",
        "meta": {"resourceType": "Group"}
    });
    let group = call(&server, "POST", "Groups", &[], Some(group)).await;
    assert_eq!(group.status, 201, "{:?}", group.body);
    let group_id = id_of(&group);
    assert!(
        group.json().get("members").is_none(),
        "an empty group has no members key"
    );
    let add =
        patch(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": id}]}]));
    let added = call(
        &server,
        "PATCH",
        &format!("Groups/{group_id}"),
        &[],
        Some(add),
    )
    .await;
    assert_eq!(added.status, 204);

    // The helpers see the result and are not recorded.
    let users = server.users().await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["active"], false);
    let groups = server.groups().await;
    assert_eq!(groups.len(), 1);
    assert_eq!(
        groups[0]["members"],
        json!([{"value": id}]),
        "$ref: null is dropped"
    );

    // DELETE: 204; afterwards the user is 404 with an Error body.
    let deleted = call(&server, "DELETE", &format!("Users/{id}"), &[], None).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_none());
    let gone = call(&server, "GET", &format!("Users/{id}"), &[], None).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["schemas"], json!([ERROR]));
    assert_eq!(gone.json()["status"], "404");

    // What the proxy recorded: every request through base_url, none of the helpers'.
    let recorded = server.requests();
    let summary: Vec<(&str, String, u16)> = recorded
        .iter()
        .map(|r| (r.method.as_str(), r.path.clone(), r.status))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("POST", "/v2/Users".to_owned(), 201),
            ("GET", "/v2/Users".to_owned(), 200),
            ("PATCH", format!("/v2/Users/{id}"), 204),
            ("POST", "/v2/Groups".to_owned(), 201),
            ("PATCH", format!("/v2/Groups/{group_id}"), 204),
            ("DELETE", format!("/v2/Users/{id}"), 204),
            ("GET", format!("/v2/Users/{id}"), 404),
        ]
    );
    assert_eq!(server.writes(), 5);
    assert_eq!(recorded[0].body, Some(entra_user()));
    assert_eq!(
        recorded[0].content_type.as_deref(),
        Some("application/scim+json")
    );
    assert!(
        recorded[1]
            .query
            .as_deref()
            .unwrap()
            .starts_with("filter=userName")
    );
    assert_eq!(recorded[1].body, None);
    assert_eq!(recorded[2].body, Some(disable));
    // The deleted user stays in the group: no referential integrity.
    assert_eq!(server.groups().await[0]["members"], json!([{"value": id}]));
    assert_eq!(server.requests().len(), 7, "helpers are not recorded");

    server.reset_requests();
    assert!(server.requests().is_empty());
    assert_eq!(server.writes(), 0);
    // A read-only pass counts reads but no write.
    call(
        &server,
        "GET",
        "Groups",
        &[("excludedAttributes", "members")],
        None,
    )
    .await;
    assert_eq!((server.requests().len(), server.writes()), (1, 0));
}

#[tokio::test]
async fn authentication() {
    let server = scim_server::start().await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let users = format!("{}/Users", server.base_url);
    let no_token = client.get(&users).send().await.unwrap();
    assert_eq!(no_token.status().as_u16(), 401);
    assert_eq!(
        no_token.headers()["www-authenticate"],
        "Bearer realm=\"SCIM\""
    );
    let wrong = client
        .get(&users)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    // RFC 7643 section 5: the service provider configuration needs no authentication.
    let config = format!("{}/ServiceProviderConfig", server.base_url);
    let config: Value = client
        .get(&config)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(
        config["filter"],
        json!({"supported": true, "maxResults": 1000})
    );
    assert!(
        config.get("pagination").is_none(),
        "no defaultPageSize: {config}"
    );
    assert_eq!(
        config["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );
    // The /v2 prefix is optional.
    let bare = server.base_url.trim_end_matches("/v2").to_owned() + "/Users";
    let bare = client
        .get(&bare)
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 200);
}

#[tokio::test]
async fn legacy_entra_patch_shapes() {
    let server = scim_server::start().await;
    let id = id_of(&call(&server, "POST", "Users", &[], Some(entra_user())).await);
    let path = format!("Users/{id}");
    let active = async || server.get_json(&path).await["active"].clone();

    // Default (flag-less) Entra: "Replace" in PascalCase and the boolean as the string "False".
    let legacy = patch(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    let answer = call(&server, "PATCH", &path, &[], Some(legacy)).await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
    assert_eq!(active().await, json!(false), "stored as a JSON boolean");
    let legacy = patch(json!([{"op": "REPLACE", "path": "active", "value": "True"}]));
    assert_eq!(
        call(&server, "PATCH", &path, &[], Some(legacy))
            .await
            .status,
        204
    );
    assert_eq!(active().await, json!(true));
    let garbage = patch(json!([{"op": "replace", "path": "active", "value": "garbage"}]));
    let answer = call(&server, "PATCH", &path, &[], Some(garbage)).await;
    assert_eq!((answer.status, answer.scim_type()), (400, "invalidValue"));

    // 204 unless attributes/excludedAttributes is asked for; then 200 with the projection.
    let disable = patch(json!([{"op": "replace", "path": "active", "value": false}]));
    let answer = call(
        &server,
        "PATCH",
        &path,
        &[("attributes", "active")],
        Some(disable.clone()),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json(),
        &json!({"schemas": [CORE_USER], "id": id, "active": false})
    );
    // The same change again is a no-op: same etag, same lastModified.
    let before = server.get_json(&path).await;
    let again = call(&server, "PATCH", &path, &[], Some(disable.clone())).await;
    assert_eq!(again.status, 204);
    assert_eq!(
        again.header("etag"),
        before["meta"]["version"].as_str().unwrap()
    );
    assert_eq!(server.get_json(&path).await["meta"], before["meta"]);

    // Content types: application/json is accepted too; anything else is 415.
    let json_ct = call_as(
        &server,
        "PATCH",
        &path,
        &[],
        Some(disable.clone()),
        Some("application/json"),
    )
    .await;
    assert_eq!(json_ct.status, 204);
    let text = call_as(
        &server,
        "PATCH",
        &path,
        &[],
        Some(disable.clone()),
        Some("text/plain"),
    )
    .await;
    assert_eq!(text.status, 415);
    let none = call_as(&server, "PATCH", &path, &[], Some(disable), None).await;
    assert_eq!(none.status, 415);

    // aadOptscim062020's path-less replace with dotted and URN-qualified keys works.
    let many = patch(json!([{"op": "replace", "value": {
        "displayName": "Bjfe",
        "name.givenName": "Kkom",
        "name.familyName": "Unua",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "Aklq"
    }}]));
    assert_eq!(
        call(&server, "PATCH", &path, &[], Some(many)).await.status,
        204
    );
    let now = server.get_json(&path).await;
    assert_eq!(now["displayName"], "Bjfe");
    assert_eq!(now["name"]["givenName"], "Kkom");
    assert_eq!(now["name"]["familyName"], "Unua");
    assert_eq!(now[ENTERPRISE_USER]["employeeNumber"], "Aklq");
    assert_eq!(
        now[ENTERPRISE_USER]["department"], "Sales",
        "the rest of the extension stays"
    );

    // Single-value add in PascalCase ([K] 3.2).
    let nick = patch(json!([{"op": "Add", "path": "nickName", "value": "Babs"}]));
    assert_eq!(
        call(&server, "PATCH", &path, &[], Some(nick)).await.status,
        204
    );
    assert_eq!(server.get_json(&path).await["nickName"], "Babs");

    // emails[type eq "work"].value: replaced when there is a work email ...
    let work = r#"emails[type eq "work"].value"#;
    let mail = patch(json!([{"op": "Replace", "path": work, "value": "updated@x.com"}]));
    assert_eq!(
        call(&server, "PATCH", &path, &[], Some(mail.clone()))
            .await
            .status,
        204
    );
    assert_eq!(
        server.get_json(&path).await["emails"][0]["value"],
        "updated@x.com"
    );
    // ... and 400 noTarget when there is none, with replace as with add: a new work email needs
    // `add` on `emails` with the whole value.
    let bare = id_of(&call(&server, "POST", "Users", &[], Some(user("no-mail"))).await);
    let answer = call(&server, "PATCH", &format!("Users/{bare}"), &[], Some(mail)).await;
    assert_eq!((answer.status, answer.scim_type()), (400, "noTarget"));
    let add_mail = patch(json!([{"op": "Add", "path": work, "value": "new@x.com"}]));
    let answer = call(
        &server,
        "PATCH",
        &format!("Users/{bare}"),
        &[],
        Some(add_mail),
    )
    .await;
    assert_eq!((answer.status, answer.scim_type()), (400, "noTarget"));
    let add_mail = patch(
        json!([{"op": "add", "path": "emails", "value": [{"type": "work", "value": "new@x.com", "primary": true}]}]),
    );
    assert_eq!(
        call(
            &server,
            "PATCH",
            &format!("Users/{bare}"),
            &[],
            Some(add_mail)
        )
        .await
        .status,
        204
    );

    // The enterprise manager as a plain string (live Entra tenants) is 400; {"value": id} is
    // accepted, and the id is not checked.
    let manager = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    let string = patch(json!([{"op": "Add", "path": manager, "value": "271"}]));
    let answer = call(&server, "PATCH", &path, &[], Some(string)).await;
    assert_eq!((answer.status, answer.scim_type()), (400, "invalidValue"));
    let complex = patch(json!([{"op": "add", "path": manager, "value": {"value": "271"}}]));
    assert_eq!(
        call(&server, "PATCH", &path, &[], Some(complex))
            .await
            .status,
        204
    );
    assert_eq!(
        server.get_json(&path).await[ENTERPRISE_USER]["manager"],
        json!({"value": "271"})
    );

    // A PATCH of a missing resource is 404.
    let answer = call(
        &server,
        "PATCH",
        "Users/nope",
        &[],
        Some(patch(
            json!([{"op": "replace", "path": "active", "value": false}]),
        )),
    )
    .await;
    assert_eq!(answer.status, 404);
}

#[tokio::test]
async fn roles_with_primary() {
    let server = scim_server::start().await;
    let admin = json!({"value": "Admin", "display": "Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": true});
    let one = json!({"schemas": [CORE_USER], "userName": "r1", "roles": [admin]});
    let created = call(&server, "POST", "Users", &[], Some(one)).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["roles"], json!([admin]), "round-trips");

    // primary as the strings "True"/"False" becomes booleans.
    let strings = json!({"schemas": [CORE_USER], "userName": "r2",
        "roles": [{"value": "Admin", "primary": "True"}, {"value": "User", "primary": "False"}]});
    let created = call(&server, "POST", "Users", &[], Some(strings)).await;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.json()["roles"],
        json!([{"value": "Admin", "primary": true}, {"value": "User", "primary": false}])
    );
    let id = id_of(&created);

    // Two primaries: 400 invalidValue.
    let two = json!({"schemas": [CORE_USER], "userName": "r3",
        "roles": [{"value": "Admin", "primary": true}, {"value": "User", "primary": true}]});
    let answer = call(&server, "POST", "Users", &[], Some(two)).await;
    assert_eq!((answer.status, answer.scim_type()), (400, "invalidValue"));

    // Adding a primary role demotes the previous primary (RFC 7644 3.5.2.1).
    let owner = patch(
        json!([{"op": "Add", "path": "roles", "value": [{"value": "Owner", "primary": true}]}]),
    );
    assert_eq!(
        call(&server, "PATCH", &format!("Users/{id}"), &[], Some(owner))
            .await
            .status,
        204
    );
    assert_eq!(
        server.get_json(&format!("Users/{id}")).await["roles"],
        json!([{"value": "Admin", "primary": false}, {"value": "User", "primary": false}, {"value": "Owner", "primary": true}])
    );
    // roles[primary eq "True"].value (Entra's app-role mapping target) matches the boolean.
    let by_filter = patch(
        json!([{"op": "Replace", "path": r#"roles[primary eq "True"].value"#, "value": "Boss"}]),
    );
    assert_eq!(
        call(
            &server,
            "PATCH",
            &format!("Users/{id}"),
            &[],
            Some(by_filter)
        )
        .await
        .status,
        204
    );
    assert_eq!(
        server.get_json(&format!("Users/{id}")).await["roles"][2],
        json!({"value": "Boss", "primary": true})
    );
}

#[tokio::test]
async fn uniqueness() {
    let server = scim_server::start().await;
    assert_eq!(
        call(&server, "POST", "Users", &[], Some(entra_user()))
            .await
            .status,
        201
    );

    // Duplicate userName: 409 with scimType uniqueness ...
    let again = call(&server, "POST", "Users", &[], Some(entra_user())).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["schemas"], json!([ERROR]));
    assert_eq!(again.json()["status"], "409");
    assert_eq!(again.scim_type(), "uniqueness");
    // ... compared case-insensitively (userName has caseExact false).
    let upper = call(
        &server,
        "POST",
        "Users",
        &[],
        Some(user(&USER_NAME.to_uppercase())),
    )
    .await;
    assert_eq!((upper.status, upper.scim_type()), (409, "uniqueness"));

    // externalId is not unique.
    let twin = json!({"schemas": [CORE_USER], "userName": "twin", "externalId": EXTERNAL_ID});
    assert_eq!(
        call(&server, "POST", "Users", &[], Some(twin)).await.status,
        201
    );

    // Group displayName is not unique, whatever the case.
    for name in ["Sales", "Sales", "SALES"] {
        let group = json!({"schemas": [CORE_GROUP], "displayName": name});
        assert_eq!(
            call(&server, "POST", "Groups", &[], Some(group))
                .await
                .status,
            201
        );
    }
    assert_eq!(server.groups().await.len(), 3);
}

#[tokio::test]
async fn filters() {
    let server = scim_server::start().await;
    let id = id_of(&call(&server, "POST", "Users", &[], Some(entra_user())).await);
    let hits = async |filter: &str| {
        let answer = call(&server, "GET", "Users", &[("filter", filter)], None).await;
        assert_eq!(answer.status, 200, "{filter}: {:?}", answer.body);
        let ids: Vec<Value> = answer.json()["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].clone())
            .collect();
        assert_eq!(answer.json()["totalResults"], ids.len());
        ids
    };
    let just = vec![json!(id)];

    assert_eq!(
        hits(&format!("externalId eq \"{EXTERNAL_ID}\"")).await,
        just
    );
    assert!(
        hits(&format!("externalId eq \"{}\"", EXTERNAL_ID.to_uppercase()))
            .await
            .is_empty(),
        "case-sensitive"
    );
    assert_eq!(
        hits(&format!("userName eq \"{}\"", USER_NAME.to_lowercase())).await,
        just,
        "case-insensitive"
    );
    assert_eq!(
        hits(&format!("userName Eq \"{USER_NAME}\"")).await,
        just,
        "operators too"
    );
    let work = "emails[type eq \"work\"].value eq \"Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com\"";
    assert_eq!(hits(work).await, just);
    assert_eq!(
        hits(&format!("userName eq \"{USER_NAME}\" and active eq true")).await,
        just
    );
    assert_eq!(hits(&format!("id eq \"{id}\"")).await, just);
    // Test Connection: a random GUID finds nothing: 200 with an empty ListResponse.
    let none = call(
        &server,
        "GET",
        "Users",
        &[(
            "filter",
            "userName eq \"7a0e8a3f-aa8e-4a39-9c9b-111111111111\"",
        )],
        None,
    )
    .await;
    assert_eq!(none.status, 200);
    assert_eq!(
        none.json(),
        &json!({"schemas": [LIST_RESPONSE], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
    );

    // The legacy unquoted value and an unknown attribute: 400 invalidFilter.
    let unquoted = call(
        &server,
        "GET",
        "Users",
        &[("filter", "externalId eq jyoung")],
        None,
    )
    .await;
    assert_eq!(
        (unquoted.status, unquoted.scim_type()),
        (400, "invalidFilter")
    );
    let unknown = call(&server, "GET", "Users", &[("filter", "foo eq \"x\"")], None).await;
    assert_eq!(
        (unknown.status, unknown.scim_type()),
        (400, "invalidFilter")
    );
}

#[tokio::test]
async fn groups() {
    let server = scim_server::start().await;
    // Entra's POST /Groups carries a schema no server declares: 400 invalidSyntax.
    let entra_group = json!({
        "schemas": [CORE_GROUP, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
        "displayName": "displayName",
        "meta": {"resourceType": "Group"}
    });
    let answer = call(&server, "POST", "Groups", &[], Some(entra_group)).await;
    assert_eq!((answer.status, answer.scim_type()), (400, "invalidSyntax"));

    let group = call(
        &server,
        "POST",
        "Groups",
        &[],
        Some(json!({"schemas": [CORE_GROUP], "displayName": "displayName"})),
    )
    .await;
    assert_eq!(group.status, 201);
    let group = format!("Groups/{}", id_of(&group));
    let user = id_of(&call(&server, "POST", "Users", &[], Some(user("member"))).await);
    let members = async || server.get_json(&group).await["members"].clone();

    // Add (PascalCase, $ref null): 204; adding it again changes nothing (same etag); an
    // unknown id is accepted.
    let add =
        patch(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": user}]}]));
    let first = call(&server, "PATCH", &group, &[], Some(add.clone())).await;
    assert_eq!(first.status, 204);
    let second = call(&server, "PATCH", &group, &[], Some(add)).await;
    assert_eq!(
        (second.status, second.header("etag")),
        (204, first.header("etag"))
    );
    let ghost =
        patch(json!([{"op": "add", "path": "members", "value": [{"value": "nonexistent"}]}]));
    assert_eq!(
        call(&server, "PATCH", &group, &[], Some(ghost))
            .await
            .status,
        204
    );
    assert_eq!(
        members().await,
        json!([{"value": user}, {"value": "nonexistent"}])
    );
    // User.groups is not maintained.
    assert!(
        server
            .get_json(&format!("Users/{user}"))
            .await
            .get("groups")
            .is_none()
    );

    // excludedAttributes=members, on GET by id and on the displayName query Entra sends.
    let by_id = call(
        &server,
        "GET",
        &group,
        &[("excludedAttributes", "members")],
        None,
    )
    .await;
    assert_eq!(by_id.status, 200);
    assert!(by_id.json().get("members").is_none());
    assert_eq!(by_id.json()["displayName"], "displayName");
    let query = [
        ("excludedAttributes", "members"),
        ("filter", "displayName eq \"displayName\""),
    ];
    let listed = call(&server, "GET", "Groups", &query, None).await;
    assert_eq!(listed.json()["totalResults"], 1);
    assert!(listed.json()["Resources"][0].get("members").is_none());
    // On /Users, excludedAttributes=members (no such attribute) is ignored.
    assert_eq!(
        call(
            &server,
            "GET",
            "Users",
            &[("excludedAttributes", "members")],
            None
        )
        .await
        .status,
        200
    );

    // The legacy remove (path "members" with a value) is 400 invalidValue ...
    let legacy =
        patch(json!([{"op": "Remove", "path": "members", "value": [{"value": "nonexistent"}]}]));
    let answer = call(&server, "PATCH", &group, &[], Some(legacy)).await;
    assert_eq!((answer.status, answer.scim_type()), (400, "invalidValue"));
    // ... the aadOptscim062020 remove takes one member; one that is not there is a no-op ...
    let remove = patch(json!([{"op": "remove", "path": "members[value eq \"nonexistent\"]"}]));
    assert_eq!(
        call(&server, "PATCH", &group, &[], Some(remove.clone()))
            .await
            .status,
        204
    );
    assert_eq!(members().await, json!([{"value": user}]));
    assert_eq!(
        call(&server, "PATCH", &group, &[], Some(remove))
            .await
            .status,
        204
    );
    // ... deleting the user leaves it in members ...
    assert_eq!(
        call(&server, "DELETE", &format!("Users/{user}"), &[], None)
            .await
            .status,
        204
    );
    assert_eq!(members().await, json!([{"value": user}]));
    // ... and path "members" alone removes every member (the key disappears).
    let all = patch(json!([{"op": "remove", "path": "members"}]));
    assert_eq!(
        call(&server, "PATCH", &group, &[], Some(all)).await.status,
        204
    );
    assert_eq!(members().await, Value::Null);

    // Display name change (PascalCase Replace): 204.
    let rename = patch(json!([{"op": "Replace", "path": "displayName", "value": "renamed"}]));
    assert_eq!(
        call(&server, "PATCH", &group, &[], Some(rename))
            .await
            .status,
        204
    );
    assert_eq!(call(&server, "DELETE", &group, &[], None).await.status, 204);
    assert_eq!(call(&server, "DELETE", &group, &[], None).await.status, 404);
}

#[tokio::test]
async fn legacy_user_post_shapes() {
    let server = scim_server::start().await;
    // [T] "Example 2", the legacy shape: a typo schema URN, nulls, top-level department.
    let mut legacy = json!({
        "schemas": [CORE_USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
        "externalId": "jyoung",
        "userName": "jyoung@testuser.com",
        "active": true,
        "addresses": null,
        "displayName": "Joy Young",
        "emails": [{"type": "work", "value": "jyoung@Contoso.com", "primary": true}],
        "meta": {"resourceType": "User"},
        "name": {"familyName": "Young", "givenName": "Joy"},
        "phoneNumbers": null,
        "preferredLanguage": null,
        "title": null,
        "department": null,
        "manager": null
    });
    // The top-level department and manager, even null, are refused first ...
    let answer = call(&server, "POST", "Users", &[], Some(legacy.clone())).await;
    assert_eq!((answer.status, answer.scim_type()), (400, "invalidSyntax"));
    assert_eq!(
        answer.detail(),
        "Extra inputs are not permitted: department"
    );
    let object = legacy.as_object_mut().unwrap();
    object.remove("department");
    object.remove("manager");
    // ... then the typo schema URN ...
    let answer = call(&server, "POST", "Users", &[], Some(legacy.clone())).await;
    assert_eq!((answer.status, answer.scim_type()), (400, "invalidSyntax"));
    assert_eq!(
        answer.detail(),
        "Unknown extension schemas: urn:ietf:params:scim:schemas:extension:enterprise:2.0User"
    );
    legacy["schemas"] = json!([CORE_USER]);
    // Without them it is accepted; the nulls of known attributes are ignored.
    let answer = call(&server, "POST", "Users", &[], Some(legacy)).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert!(answer.json().get("title").is_none() && answer.json().get("addresses").is_none());

    // meta.resourceType is ignored, even a wrong one.
    let wrong_meta =
        json!({"schemas": [CORE_USER], "userName": "m", "meta": {"resourceType": "Group"}});
    let answer = call(&server, "POST", "Users", &[], Some(wrong_meta)).await;
    assert_eq!(
        (answer.status, &answer.json()["meta"]["resourceType"]),
        (201, &json!("User"))
    );

    // Extension data whose URN is not in schemas: accepted, and the URN added.
    let unlisted =
        json!({"schemas": [CORE_USER], "userName": "e", ENTERPRISE_USER: {"department": "X"}});
    let answer = call(&server, "POST", "Users", &[], Some(unlisted)).await;
    assert_eq!(answer.status, 201);
    assert_eq!(
        answer.json()["schemas"],
        json!([CORE_USER, ENTERPRISE_USER])
    );

    // The manager as a plain string ([T]'s schema example) is 400 invalidValue.
    let string_manager = json!({"schemas": [CORE_USER, ENTERPRISE_USER], "userName": "s", ENTERPRISE_USER: {"manager": "123456"}});
    let answer = call(&server, "POST", "Users", &[], Some(string_manager)).await;
    assert_eq!((answer.status, answer.scim_type()), (400, "invalidValue"));

    // active as the string "True" is stored as true.
    let answer = call(
        &server,
        "POST",
        "Users",
        &[],
        Some(json!({"schemas": [CORE_USER], "userName": "t", "active": "True"})),
    )
    .await;
    assert_eq!(
        (answer.status, &answer.json()["active"]),
        (201, &json!(true))
    );
}

#[tokio::test]
async fn pagination_defaults() {
    let server = scim_server::start().await;
    let total = 2 * scim_server::LIST_PAGE_SIZE + 20;
    for i in 0..total {
        server.create("Users", user(&format!("p{i:03}"))).await;
    }
    let page = async |query: &[(&str, &str)]| {
        let answer = call(&server, "GET", "Users", query, None).await;
        assert_eq!(answer.status, 200, "{query:?}: {:?}", answer.body);
        let body = answer.json().clone();
        let ids: Vec<String> = body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        (
            body["totalResults"].clone(),
            body["startIndex"].clone(),
            body["itemsPerPage"].clone(),
            ids,
        )
    };

    // No count: everything (up to maxResults, 1000) in one page.
    let (total_results, start, per_page, all) = page(&[]).await;
    assert_eq!(
        (total_results, start, per_page),
        (json!(total), json!(1), json!(total))
    );
    // Ordered by id, not by creation.
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);

    let (_, start, per_page, first) = page(&[("count", "50")]).await;
    assert_eq!((start, per_page), (json!(1), json!(50)));
    assert_eq!(first, all[..50]);
    let (_, start, per_page, last) = page(&[("startIndex", "101"), ("count", "50")]).await;
    assert_eq!((start, per_page), (json!(101), json!(20)));
    assert_eq!(last, all[100..]);
    // startIndex below 1 counts as 1.
    let (_, start, _, zero) = page(&[("startIndex", "0"), ("count", "3")]).await;
    assert_eq!((start, zero.as_slice()), (json!(1), &all[..3]));
    // count=0: totalResults only.
    let (total_results, _, per_page, none) = page(&[("count", "0")]).await;
    assert_eq!(
        (total_results, per_page, none.len()),
        (json!(total), json!(0), 0)
    );
    // Past the end: an empty page echoing startIndex.
    let (_, start, per_page, none) = page(&[("startIndex", "1000")]).await;
    assert_eq!((start, per_page, none.len()), (json!(1000), json!(0), 0));
    // count above maxResults is cut, not refused.
    let (_, _, per_page, _) = page(&[("count", "5000")]).await;
    assert_eq!(per_page, json!(total));
    let bad = call(&server, "GET", "Users", &[("count", "abc")], None).await;
    assert_eq!((bad.status, bad.scim_type()), (400, "invalidValue"));

    // The helper follows the pages (three of LIST_PAGE_SIZE here) and is not recorded.
    let requests_before = server.requests().len();
    let listed: Vec<String> = server
        .users()
        .await
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, all);
    assert_eq!(server.requests().len(), requests_before);
}
