//! The Graph emulator over real HTTP, spoken to with a plain client: it must answer as
//! graph-delta.md says Microsoft Graph does, or the source tests prove nothing.

use entrasync::emulator::{Emulator, EmulatorOptions, Endpoint, FaultKind, FaultRule, Tenant};
use serde_json::Value;

struct Client {
    http: reqwest::Client,
    emulator: Emulator,
    token: String,
}

impl Client {
    async fn start(options: EmulatorOptions) -> Client {
        let tenant = Tenant::from_json(entrasync::emulator::DEMO_TENANT_JSON).expect("demo tenant");
        let emulator = Emulator::start(tenant, options).await.expect("starts");
        let http = reqwest::Client::new();
        let token = token(&http, &emulator, &emulator.client_secret()).await;
        let token = token.1["access_token"]
            .as_str()
            .expect("a token")
            .to_owned();
        Client {
            http,
            emulator,
            token,
        }
    }

    async fn get(&self, url: &str) -> (u16, Value) {
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("the emulator answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1.0/{path}", self.emulator.base_url())
    }

    /// Follows a round from `url` to its delta link; returns the pages.
    async fn round(&self, url: &str) -> (Vec<Value>, String) {
        let mut pages = Vec::new();
        let mut url = url.to_owned();
        loop {
            let (status, page) = self.get(&url).await;
            assert_eq!(status, 200, "{page}");
            let next = page["@odata.nextLink"].as_str().map(str::to_owned);
            let delta = page["@odata.deltaLink"].as_str().map(str::to_owned);
            assert!(
                next.is_some() != delta.is_some(),
                "exactly one link: {page}"
            );
            pages.push(page);
            match (next, delta) {
                (Some(next), _) => url = next,
                (None, Some(delta)) => return (pages, delta),
                (None, None) => unreachable!("asserted above"),
            }
        }
    }
}

async fn token(http: &reqwest::Client, emulator: &Emulator, secret: &str) -> (u16, Value) {
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        emulator.base_url(),
        emulator.tenant_id()
    );
    let scope = format!("{}/.default", emulator.base_url());
    let form = [
        ("client_id", emulator.client_id()),
        ("client_secret", secret.to_owned()),
        ("grant_type", "client_credentials".to_owned()),
        ("scope", scope),
    ];
    let response = http.post(url).form(&form).send().await.expect("answers");
    (
        response.status().as_u16(),
        response.json().await.expect("JSON"),
    )
}

#[tokio::test]
async fn the_token_endpoint_answers_like_entra() {
    let c = Client::start(EmulatorOptions::default()).await;
    let (status, body) = token(&c.http, &c.emulator, "not-the-secret").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215")
    );
    assert_eq!(body["error_codes"][0], 7000215);

    let (status, body) = token(&c.http, &c.emulator, &c.emulator.client_secret()).await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);

    let (status, body) = c.get(&c.url("users/delta")).await;
    assert_eq!(status, 200, "{body}");
    c.emulator.revoke_tokens();
    let (status, body) = c.get(&c.url("users/delta")).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
}

#[tokio::test]
async fn users_delta_honours_select_pages_and_delta_tokens() {
    let c = Client::start(EmulatorOptions {
        user_page_size: 7,
        ..EmulatorOptions::default()
    })
    .await;
    let (pages, delta) = c
        .round(&c.url("users/delta?$select=displayName,department"))
        .await;
    assert_eq!(
        pages[0]["@odata.context"],
        format!(
            "{}/v1.0/$metadata#users(displayName,department)",
            c.emulator.base_url()
        )
    );
    assert!(
        pages[1]["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#users")
    );
    let objects: Vec<&Value> = pages
        .iter()
        .flat_map(|p| p["value"].as_array().unwrap())
        .collect();
    let (users, _, _) = c.emulator.mutate(|t| t.counts());
    assert_eq!(
        pages.len(),
        (users + 1).div_ceil(7),
        "server-chosen page size"
    );
    // Every live user, plus the soft-deleted one as @removed, even in a first round.
    assert_eq!(objects.len(), users + 1);
    assert!(objects.iter().any(|o| o["@removed"]["reason"] == "changed"));
    let live = objects
        .iter()
        .find(|o| o.get("@removed").is_none())
        .unwrap();
    let keys: Vec<&str> = live
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        keys.iter()
            .all(|k| ["id", "displayName", "department"].contains(k)),
        "{keys:?}"
    );

    // A skip token with $select again is refused.
    let next = pages[0]["@odata.nextLink"].as_str().unwrap();
    let (status, _) = c.get(&format!("{next}&$select=mail")).await;
    assert_eq!(status, 400);

    // Nothing changed: one page, no objects. A non-selected change stays invisible.
    let (pages, delta) = c.round(&delta).await;
    assert_eq!(
        (pages.len(), pages[0]["value"].as_array().unwrap().len()),
        (1, 0)
    );
    let id = c.emulator.mutate(|t| {
        let id = t.user_ids()[0].clone();
        t.update_user(&id, serde_json::json!({"jobTitle": "Unselected"}));
        id
    });
    let (pages, delta) = c.round(&delta).await;
    assert_eq!(pages[0]["value"].as_array().unwrap().len(), 0);
    c.emulator
        .mutate(|t| t.update_user(&id, serde_json::json!({"department": "Moved"})));
    let (pages, _) = c.round(&delta).await;
    assert_eq!(pages[0]["value"][0]["department"], "Moved");

    // $deltatoken=latest: no objects, a link from now.
    let (status, page) = c.get(&c.url("users/delta?$deltatoken=latest")).await;
    assert_eq!(status, 200);
    assert!(page["value"].as_array().unwrap().is_empty());
    assert!(page["@odata.deltaLink"].is_string());

    // Expired tokens: syncStateNotFound.
    c.emulator.invalidate_delta_tokens();
    let (status, body) = c.get(&delta).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("syncStateNotFound"))
    );
}

#[tokio::test]
async fn groups_delta_filters_by_id_and_refuses_more_than_fifty() {
    let c = Client::start(EmulatorOptions {
        member_page_size: 4,
        ..EmulatorOptions::default()
    })
    .await;
    let readers = c
        .emulator
        .mutate(|t| t.group_id_by_name("Stratsys Readers"))
        .expect("Readers");
    let url = c.url(&format!(
        "groups/delta?$filter=id eq '{readers}'&$select=displayName,members"
    ));
    let (pages, _) = c.round(&url).await;
    let members: usize = c.emulator.mutate(|t| t.members(&readers).len());
    assert_eq!(
        pages.len(),
        members.div_ceil(4),
        "one group cut across pages"
    );
    for page in &pages {
        assert_eq!(
            page["value"][0]["id"],
            readers.as_str(),
            "the same group repeated"
        );
        assert_eq!(page["value"][0]["displayName"], "Stratsys Readers");
    }
    assert!(
        pages[0]["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#groups(displayName)")
    );
    let nested = pages
        .iter()
        .flat_map(|p| p["value"][0]["members@delta"].as_array().unwrap())
        .filter(|m| m["@odata.type"] == "#microsoft.graph.group")
        .count();
    assert_eq!(nested, 1, "Finance Controllers is a nested group member");

    let filter = (0..51)
        .map(|i| format!("id eq '{i}'"))
        .collect::<Vec<_>>()
        .join(" or ");
    let (status, body) = c
        .get(&c.url(&format!("groups/delta?$filter={filter}")))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = c
        .get(&c.url("groups/delta?$filter=displayName eq 'x'"))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn directory_reads_and_lookups() {
    let c = Client::start(EmulatorOptions::default()).await;
    let (status, page) = c
        .get(&c.url("groups?$filter=displayName eq 'stratsys readers'&$select=id,displayName"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        page["value"].as_array().unwrap().len(),
        1,
        "case-insensitive name match"
    );
    let readers = page["value"][0]["id"].as_str().unwrap().to_owned();
    let (_, page) = c
        .get(&c.url(&format!(
            "groups/{readers}/transitiveMembers?$select=id&$top=5"
        )))
        .await;
    assert_eq!(page["value"].as_array().unwrap().len(), 5);
    let mut url = page["@odata.nextLink"]
        .as_str()
        .expect("more pages")
        .to_owned();
    let mut total = 5;
    loop {
        let (_, page) = c.get(&url).await;
        total += page["value"].as_array().unwrap().len();
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    let expected = c.emulator.mutate(|t| t.transitive_members(&readers).len());
    assert_eq!(total, expected);
    let user = c.emulator.mutate(|t| t.user_ids()[0].clone());
    let (status, body) = c.get(&c.url(&format!("users/{user}/memberOf"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["value"].as_array().unwrap().is_empty());
    let (status, body) = c
        .get(&c.url("users/00000000-0000-0000-0000-000000000000"))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("Request_ResourceNotFound"))
    );
    assert_eq!(
        c.emulator.requests().count(Endpoint::TransitiveMembers) as usize,
        total.div_ceil(5)
    );
}

#[tokio::test]
async fn faults_fire_as_injected() {
    let c = Client::start(EmulatorOptions::default()).await;
    let url = c.url("users/delta");
    c.emulator.faults().add(
        FaultRule::new(FaultKind::TooManyRequests {
            retry_after: Some("2.128".into()),
        })
        .on(Endpoint::UsersDelta)
        .times(1),
    );
    let response = c.http.get(&url).bearer_auth(&c.token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "2.128");
    c.emulator
        .faults()
        .inject(Endpoint::UsersDelta, FaultKind::Gone);
    let response = c.http.get(&url).bearer_auth(&c.token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 410);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("$deltatoken=")
    );
    c.emulator
        .faults()
        .inject(Endpoint::UsersDelta, FaultKind::NestedSyncStateNotFound);
    let (status, body) = c.get(&url).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["innerError"]["code"], "SyncStateNotFound");
    c.emulator
        .faults()
        .inject(Endpoint::UsersDelta, FaultKind::TruncatedBody);
    let response = c.http.get(&url).bearer_auth(&c.token).send().await.unwrap();
    assert!(response.bytes().await.is_err(), "the body is cut off");
    let (status, _) = c.get(&url).await;
    assert_eq!(status, 200, "the fault fired once");
    let delay = std::time::Duration::from_millis(300);
    c.emulator
        .faults()
        .inject(Endpoint::UsersDelta, FaultKind::Slow { delay });
    let clock = std::time::Instant::now();
    let (status, _) = c.get(&url).await;
    assert!(
        status == 200 && clock.elapsed() >= delay,
        "slow, then answered"
    );
    assert_eq!(c.emulator.requests().count(Endpoint::UsersDelta), 6);
}

#[tokio::test]
async fn users_lists_every_live_user_page_by_page() {
    let c = Client::start(EmulatorOptions::default()).await;
    let (live, _, _) = c.emulator.mutate(|t| t.counts());
    let mut url = c.url("users?$select=displayName,department&$top=7");
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = c.get(&url).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for user in page["value"].as_array().expect("a list") {
            assert!(user.get("displayName").is_some(), "selected: {user}");
            assert!(user.get("mail").is_none(), "not selected: {user}");
            ids.push(user["id"].as_str().expect("an id").to_owned());
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, live.div_ceil(7));
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((count, ids.len()), (live, live), "each live user once");
    assert_eq!(
        c.emulator.requests().count(Endpoint::UsersList),
        pages as u64
    );
}
