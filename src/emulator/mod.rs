//! A local Microsoft Graph, served over real HTTP on 127.0.0.1: the token endpoint, `users/delta`,
//! `groups/delta`, the directory reads entrasync and its tests use, and the service principal
//! with its app roles and `appRoleAssignedTo`.
//!
//! Outside the flow: the tests and `entrasync demo` point `[source] authority_url` and `graph_url`
//! at it, and `source/` cannot tell it from Microsoft. It behaves as `graph-delta.md` describes
//! the real service (server-chosen page sizes, a large group repeated across pages, opaque tokens
//! that encode a position in the tenant's change log, `@removed` objects and members, 400 for
//! more than 50 ids in a filter). Tests change its [`Tenant`] while it runs, count its requests
//! and inject faults ([`FaultRule`]).

mod app_admin;
mod app_reads;
mod apps;
mod assertion;
mod auth;
mod cursor;
mod delta;
mod delta_request;
mod directory;
mod faults;
mod load;
mod odata;
mod server;
mod tenant;
mod tenant_admin;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

pub use apps::{AppError, AppRole, AppRoleAssignment, DEFAULT_ACCESS};
pub use faults::{Endpoint, FaultKind, FaultRule, Faults, RequestLog};
pub use load::{DEMO_TENANT_JSON, SplitMix, TenantError, synthetic_group_id};
pub use tenant::{Presence, Tenant};

use faults::lock;

/// How the emulator cuts pages and how long its tokens live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatorOptions {
    /// Users per `users/delta` page (Graph: about 200).
    pub user_page_size: usize,
    /// Members per `groups/delta` page, across the groups on it; a larger group spans pages.
    pub member_page_size: usize,
    /// Groups per `groups/delta` page.
    pub group_page_size: usize,
    /// Items per page of `/users`, `/members`, `/transitiveMembers`, `/memberOf`, `/groups`,
    /// `/servicePrincipals` and `appRoleAssignedTo` without `$top` (Graph: 100; `$top` up to
    /// 999).
    pub list_page_size: usize,
    /// `expires_in` of the access tokens it issues.
    pub token_lifetime: Duration,
    /// A certificate registered on the app (PEM): client assertions signed with its key are
    /// accepted as well as the client secret.
    pub certificate: Option<String>,
    /// The URL clients reach the emulator at, when that is not `http://` its own address: a
    /// TLS proxy in front of it (the tests of certificate verification). Its links and the
    /// audience of client assertions use it.
    pub public_url: Option<String>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            user_page_size: 200,
            member_page_size: 500,
            group_page_size: 100,
            list_page_size: 100,
            token_lifetime: Duration::from_secs(3599),
            certificate: None,
            public_url: None,
        }
    }
}

/// A page's objects, by (round, page), kept for replay faults.
type ServedPage = ((u64, u32), Vec<Value>);

/// The state the request handlers share.
struct Shared {
    base_url: String,
    /// Where it listens.
    address: std::net::SocketAddr,
    options: EmulatorOptions,
    client_secret: String,
    tenant: Mutex<Tenant>,
    /// Access tokens issued and not revoked, with when they expire.
    tokens: Mutex<HashMap<String, Instant>>,
    /// Every client assertion presented to the token endpoint (for tests that look for leaks).
    assertions: Mutex<Vec<String>>,
    /// Delta and skip tokens of an older generation are expired.
    generation: AtomicU64,
    rounds: AtomicU64,
    rng: Mutex<SplitMix>,
    faults: Faults,
    requests: RequestLog,
    /// Recent pages per (round, page), kept only while a replay fault is armed.
    served: Mutex<VecDeque<ServedPage>>,
    /// Becomes true at shutdown; hanging requests wait for it.
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl Shared {
    fn random(&self) -> u64 {
        lock(&self.rng).next_u64()
    }
}

/// A running emulator. Dropping it without [`Emulator::shutdown`] leaves the server to the
/// runtime, which ends it with itself.
pub struct Emulator {
    shared: Arc<Shared>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Emulator {
    /// Serves `tenant` on a free port of 127.0.0.1.
    pub async fn start(tenant: Tenant, options: EmulatorOptions) -> std::io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64)
            ^ u64::from(address.port());
        let mut rng = SplitMix::new(seed);
        let client_secret = format!(
            "emu~{:016x}{:08x}",
            rng.next_u64(),
            rng.next_u64() & 0xffff_ffff
        );
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let shared = Arc::new(Shared {
            base_url: options.public_url.clone().map_or_else(
                || format!("http://{address}"),
                |url| url.trim_end_matches('/').to_owned(),
            ),
            address,
            options,
            client_secret,
            tenant: Mutex::new(tenant),
            tokens: Mutex::new(HashMap::new()),
            assertions: Mutex::new(Vec::new()),
            generation: AtomicU64::new(1),
            rounds: AtomicU64::new(0),
            rng: Mutex::new(rng),
            faults: Faults::default(),
            requests: RequestLog::default(),
            served: Mutex::new(VecDeque::new()),
            stopping: stopping.clone(),
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let mut until = stopping;
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = until.wait_for(|stop| *stop).await;
            });
            if let Err(err) = serve.await {
                tracing::error!("the Graph emulator stopped: {err}");
            }
        });
        Ok(Emulator { shared, stop, task })
    }

    /// Serves the sample tenant (`config/demo-tenant.json`) with Graph's page sizes.
    pub async fn start_demo() -> std::io::Result<Emulator> {
        let tenant = Tenant::from_json(DEMO_TENANT_JSON)
            .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))?;
        Emulator::start(tenant, EmulatorOptions::default()).await
    }

    /// `http://127.0.0.1:PORT` (or the `public_url` of its options): both `authority_url` and
    /// `graph_url`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The address it listens on (where a proxy in front of it forwards to).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.shared.address
    }

    pub fn tenant_id(&self) -> String {
        lock(&self.shared.tenant).tenant_id().to_owned()
    }

    pub fn client_id(&self) -> String {
        lock(&self.shared.tenant).client_id().to_owned()
    }

    /// The one client secret the token endpoint accepts (made up at start).
    pub fn client_secret(&self) -> String {
        self.shared.client_secret.clone()
    }

    /// Reads or changes the tenant while the server runs, as an admin would.
    pub fn mutate<R>(&self, change: impl FnOnce(&mut Tenant) -> R) -> R {
        change(&mut lock(&self.shared.tenant))
    }

    /// The requests served so far, per endpoint.
    pub fn requests(&self) -> &RequestLog {
        &self.shared.requests
    }

    /// The faults to inject into coming requests.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Expires every delta and skip token handed out so far: the next use of one gets
    /// `400 syncStateNotFound`, as after seven days in Entra.
    pub fn invalidate_delta_tokens(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Every access token issued and not revoked (for tests that look for leaks).
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.shared.tokens).keys().cloned().collect()
    }

    /// Every client assertion presented so far, accepted or not (for tests that look for
    /// leaks).
    pub fn received_assertions(&self) -> Vec<String> {
        lock(&self.shared.assertions).clone()
    }

    /// Revokes every access token: Graph answers 401 until a new one is fetched.
    pub fn revoke_tokens(&self) {
        lock(&self.shared.tokens).clear();
    }

    /// Stops serving: requests in flight finish, hanging ones are cut.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
