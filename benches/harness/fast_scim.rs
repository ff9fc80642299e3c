//! A fast local SCIM target for the harness: Users kept in memory, answered at once, every
//! request counted. It stands for an application that costs nothing, so what the harness
//! measures is entrasync's own cost (and the floor's: a bare client against the same server).
//!
//! Only what entrasync sends is answered: `GET /Users?filter=attr eq "v"` (a ListResponse of
//! matches), `GET /Users/{id}`, `POST /Users`, `PUT` and `PATCH /Users/{id}` (the resource
//! replaced, or the PATCH taken as done), `DELETE /Users/{id}`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// The attributes lookups filter on, indexed so a lookup costs what a real application's does.
const INDEXED: [&str; 2] = ["userName", "externalId"];

#[derive(Default)]
struct Users {
    by_id: HashMap<String, Value>,
    /// (attribute, value) → id, for [`INDEXED`].
    index: HashMap<(String, String), String>,
}

impl Users {
    fn insert(&mut self, id: String, user: Value) {
        self.remove(&id);
        for attribute in INDEXED {
            if let Some(value) = user[attribute].as_str() {
                self.index
                    .insert((attribute.to_owned(), value.to_owned()), id.clone());
            }
        }
        self.by_id.insert(id, user);
    }

    fn remove(&mut self, id: &str) -> Option<Value> {
        let user = self.by_id.remove(id)?;
        for attribute in INDEXED {
            if let Some(value) = user[attribute].as_str() {
                self.index.remove(&(attribute.to_owned(), value.to_owned()));
            }
        }
        Some(user)
    }
}

#[derive(Default)]
pub struct Store {
    users: Mutex<Users>,
    next: AtomicU64,
    pub requests: AtomicU64,
    pub writes: AtomicU64,
}

impl Store {
    /// Forgets every user and the counts.
    pub fn clear(&self) {
        *self.users.lock().expect("not poisoned") = Users::default();
        self.requests.store(0, Ordering::Relaxed);
        self.writes.store(0, Ordering::Relaxed);
    }

    pub fn user_count(&self) -> usize {
        self.users.lock().expect("not poisoned").by_id.len()
    }
}

/// Serves the store on a free port of 127.0.0.1; returns the SCIM base URL.
pub async fn start(store: Arc<Store>) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("a free port");
    let address = listener.local_addr().expect("an address");
    let app = Router::new()
        .route("/scim/Users", get(list).post(create))
        .route(
            "/scim/Users/{id}",
            get(read).put(replace).patch(patch).delete(remove),
        )
        .with_state(store);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}/scim")
}

type Shared = State<Arc<Store>>;

fn count(store: &Store, write: bool) {
    store.requests.fetch_add(1, Ordering::Relaxed);
    if write {
        store.writes.fetch_add(1, Ordering::Relaxed);
    }
}

async fn list(State(store): Shared, Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    count(&store, false);
    let found: Vec<Value> = match query.get("filter").and_then(|f| f.split_once(" eq ")) {
        Some((attribute, value)) => {
            let key = (attribute.to_owned(), value.trim_matches('"').to_owned());
            let users = store.users.lock().expect("not poisoned");
            users
                .index
                .get(&key)
                .and_then(|id| users.by_id.get(id))
                .cloned()
                .into_iter()
                .collect()
        }
        None => Vec::new(),
    };
    Json(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": found.len(),
        "Resources": found,
    }))
}

async fn create(State(store): Shared, Json(mut user): Json<Value>) -> (StatusCode, Json<Value>) {
    count(&store, true);
    let id = format!("u{}", store.next.fetch_add(1, Ordering::Relaxed));
    user["id"] = json!(id);
    store
        .users
        .lock()
        .expect("not poisoned")
        .insert(id, user.clone());
    (StatusCode::CREATED, Json(user))
}

async fn read(State(store): Shared, Path(id): Path<String>) -> Result<Json<Value>, StatusCode> {
    count(&store, false);
    stored(&store, &id)
}

/// The user `id` as stored, or 404.
fn stored(store: &Store, id: &str) -> Result<Json<Value>, StatusCode> {
    let users = store.users.lock().expect("not poisoned");
    users
        .by_id
        .get(id)
        .cloned()
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

async fn replace(
    State(store): Shared,
    Path(id): Path<String>,
    Json(mut user): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    count(&store, true);
    let mut users = store.users.lock().expect("not poisoned");
    if !users.by_id.contains_key(&id) {
        return Err(StatusCode::NOT_FOUND);
    }
    user["id"] = json!(id);
    users.insert(id, user.clone());
    Ok(Json(user))
}

async fn patch(
    State(store): Shared,
    Path(id): Path<String>,
    Json(_operations): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    count(&store, true);
    stored(&store, &id)
}

async fn remove(State(store): Shared, Path(id): Path<String>) -> StatusCode {
    count(&store, true);
    store.users.lock().expect("not poisoned").remove(&id);
    StatusCode::NO_CONTENT
}
