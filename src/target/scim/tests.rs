//! The SCIM adapter's requests as they reach a real socket: a target id is one path segment,
//! whatever characters the target put in it.
//!
//! Part of the SCIM adapter (`target/scim/`). The endpoint here is a small axum server on a free
//! port that records each request-target as it arrived (still percent-encoded) and answers as a
//! SCIM endpoint whose user and group both have the id [`ODD_ID`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{Method as HttpMethod, StatusCode as HttpStatus, Uri};
use axum::response::IntoResponse;
use serde_json::json;

use super::ScimTarget;
use super::client::resource_path;
use crate::config::{Dialect, PermissionsAs, ScimConfig};
use crate::plan::{Change, Delta, Deprovision, Operation, PushedUser};
use crate::secret::Secret;
use crate::target::{Applied, Target};

/// An id with every character that means something in a URL.
const ODD_ID: &str = "a/b?c#d e%";
/// [`ODD_ID`] as one path segment.
const ODD_SEGMENT: &str = "a%2Fb%3Fc%23d%20e%25";

/// `(method, path, query)` of each request, as sent.
type Recorded = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

/// Starts the endpoint; its SCIM base is `http://{address}/scim`.
async fn odd_id_endpoint() -> (Recorded, String) {
    let recorded = Recorded::default();
    let log = recorded.clone();
    let app = axum::Router::new().fallback(move |method: HttpMethod, uri: Uri| {
        let log = log.clone();
        async move {
            let path = uri.path().to_owned();
            let query = uri.query().map(str::to_owned);
            if let Ok(mut log) = log.lock() {
                log.push((method.to_string(), path.clone(), query.clone()));
            }
            let user = json!({"id": ODD_ID, "userName": "anna@contoso.com", "externalId": "e-1"});
            let group = json!({"id": ODD_ID, "displayName": "Full User"});
            let body = match (method.as_str(), path.as_str(), query.is_some()) {
                ("GET", "/scim/Users", true) => {
                    json!({"totalResults": 1, "Resources": [user]})
                }
                ("GET", "/scim/Groups", true) => {
                    json!({"totalResults": 1, "Resources": [group]})
                }
                ("GET" | "PUT", _, _) => user,
                ("PATCH" | "DELETE", _, _) => return HttpStatus::NO_CONTENT.into_response(),
                _ => return HttpStatus::METHOD_NOT_ALLOWED.into_response(),
            };
            (
                [("content-type", "application/scim+json")],
                body.to_string(),
            )
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let address = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (recorded, format!("http://{address}/scim"))
}

fn target(base: &str) -> ScimTarget {
    let config = ScimConfig {
        url: reqwest::Url::parse(base).expect("a test URL"),
        token: Secret::new("test-token"),
        dialect: Dialect::Entra,
        permissions: PermissionsAs::Groups,
        max_concurrency: 1,
        request_timeout: Duration::from_secs(5),
        match_attributes: vec!["externalId".into()],
        ca: None,
    };
    ScimTarget::new(&config, false).expect("the SCIM target builds")
}

fn change(target_id: Option<&str>, operation: Operation) -> Change {
    Change {
        id: "e-1".into(),
        user_name: "anna@contoso.com".into(),
        target_id: target_id.map(str::to_owned),
        operation,
    }
}

/// Found: the target's id went into `/Users/{id}` (and `/Groups/{id}`) as it was, so an id
/// with `/`, `?`, `#`, `%` or a space sent the request to another path (`/Users/a/b` with the
/// query `c`), that is to another resource or none.
#[tokio::test]
async fn an_id_with_url_characters_is_sent_as_one_encoded_path_segment() {
    let (recorded, base) = odd_id_endpoint().await;
    let target = target(&base);
    let attributes = BTreeMap::from([
        ("externalId".to_owned(), "e-1".to_owned()),
        ("userName".to_owned(), "anna@contoso.com".to_owned()),
    ]);
    let update = Delta {
        attributes: BTreeMap::from([("displayName".to_owned(), Some("Anna B".to_owned()))]),
        permissions: Some((Vec::new(), vec!["Full User".to_owned()])),
        ..Delta::default()
    };
    let changes = [
        // Found by externalId: taken over with a PUT to its id, then added to its group.
        change(
            None,
            Operation::Create {
                attributes,
                permissions: vec!["Full User".into()],
                department: None,
            },
        ),
        change(Some(ODD_ID), Operation::Update { delta: update }),
        change(
            Some(ODD_ID),
            Operation::Deactivate {
                why: Deprovision::LeftScope,
            },
        ),
        change(
            Some(ODD_ID),
            Operation::Delete {
                why: Deprovision::Deleted,
            },
        ),
    ];
    let applied = target.apply(&changes).await;
    assert_eq!(
        applied,
        [
            Applied::Adopted {
                target_id: ODD_ID.into()
            },
            Applied::Updated,
            Applied::Deactivated,
            Applied::Deleted,
        ]
    );
    let template = PushedUser {
        target_id: ODD_ID.into(),
        user_name: "anna@contoso.com".into(),
        active: true,
        attributes: BTreeMap::new(),
        permissions: Vec::new(),
        department: None,
    };
    let read = target.read_back(&[("e-1".into(), template)]).await;
    assert!(
        matches!(read.as_slice(), [Ok(Some(user))] if user.target_id == ODD_ID),
        "{read:?}"
    );

    let sent = recorded.lock().expect("the log").clone();
    // Everything but the lookups by filter, which address the collections.
    let by_id: Vec<(&str, &str)> = sent
        .iter()
        .filter(|(_, _, query)| !query.as_deref().is_some_and(|q| q.starts_with("filter=")))
        .map(|(method, path, _)| (method.as_str(), path.as_str()))
        .collect();
    let user = format!("/scim/Users/{ODD_SEGMENT}");
    let group = format!("/scim/Groups/{ODD_SEGMENT}");
    assert_eq!(
        by_id,
        [
            ("PUT", user.as_str()),
            ("PATCH", group.as_str()),
            ("PATCH", user.as_str()),
            ("PATCH", group.as_str()),
            ("PATCH", user.as_str()),
            ("DELETE", user.as_str()),
            ("GET", user.as_str()),
        ],
        "every request by id, in order: {sent:?}"
    );
    assert!(
        sent.iter()
            .all(|(_, path, _)| path.starts_with("/scim/Users") || path.starts_with("/scim/Groups")),
        "{sent:?}"
    );
}

/// `.` and `..` are "here" and "the parent" to every URL parser however they are encoded, and
/// an empty id is the collection: a change to such an id fails for that user, and nothing is
/// sent (a DELETE would otherwise go to `/Users` or to the SCIM base).
#[tokio::test]
async fn an_id_no_path_can_address_fails_without_a_request() {
    let (recorded, base) = odd_id_endpoint().await;
    let target = target(&base);
    let changes: Vec<Change> = ["..", ".", ""]
        .into_iter()
        .map(|id| {
            change(
                Some(id),
                Operation::Delete {
                    why: Deprovision::Deleted,
                },
            )
        })
        .collect();
    for applied in target.apply(&changes).await {
        assert!(
            matches!(&applied, Applied::Failed { message } if message.contains("cannot address one resource")),
            "{applied:?}"
        );
    }
    assert_eq!(recorded.lock().expect("the log").len(), 0);
}

#[test]
fn a_resource_path_encodes_all_but_unreserved_characters_and_at_and_colon() {
    let cases = [
        (
            "2819c223-7f76-453a-919d-413861904646",
            "/Users/2819c223-7f76-453a-919d-413861904646",
        ),
        ("anna@contoso.com", "/Users/anna@contoso.com"),
        ("urn:x:1_~", "/Users/urn:x:1_~"),
        (ODD_ID, "/Users/a%2Fb%3Fc%23d%20e%25"),
        ("a;b+c\\d", "/Users/a%3Bb%2Bc%5Cd"),
        ("..a", "/Users/..a"),
        ("é\n", "/Users/%C3%A9%0A"),
    ];
    for (id, path) in cases {
        assert_eq!(resource_path("/Users", id).as_deref(), Ok(path), "{id:?}");
    }
    for id in ["", ".", ".."] {
        assert!(resource_path("/Users", id).is_err(), "{id:?}");
    }
}
