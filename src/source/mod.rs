//! Microsoft Graph: the first stage of the flow (`source/ → snapshot/ → rules/ → plan/ → target/`).
//!
//! [`Graph::fetch`] reads one cycle's complete delta rounds — the scoped groups in chunks of at
//! most 50 ids (the same chunks as last cycle where possible, `chunks.rs`), and the users —
//! starting from the delta links the engine passes in, and returns them as a [`Fetch`]. It only
//! fetches: committing to the snapshot is the engine's job, and nothing here knows whether it
//! talks to Microsoft or to the emulator.

mod apps;
mod auth;
mod chunks;
mod delta;
mod groups;
mod http;
pub mod model;
mod on_demand;
mod page;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};

pub use crate::retry::RetryPolicy;
pub use apps::{AppListing, AppRef, AppRole, Assignment, DEFAULT_ACCESS};
pub use groups::looks_like_object_id;
pub use http::ReadProgress;
pub use model::*;
pub use on_demand::{OnDemand, OnDemandUser};
#[doc(hidden)]
pub use page::{GraphPageKind, parse_graph_page};

use crate::config::{Members, SourceConfig};
use http::GraphHttp;

/// Graph accepts at most this many ids in one delta `$filter`.
pub const MAX_IDS_PER_QUERY: usize = 50;

/// How many groups queries run at once (Graph's throttling allows far more per app).
const GROUP_ROUNDS_AT_ONCE: usize = 4;

/// Where the previous cycle left off: what the engine reads from the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    pub users_link: Option<String>,
    /// Delta link per chunk of group ids (the sorted ids are the key).
    pub group_links: BTreeMap<Vec<String>, String>,
    /// Configured group entry → the object id it was bound to.
    pub bindings: BTreeMap<String, String>,
}

/// Why a cycle could not read Graph. Every message says what to do; none shows a secret.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot get a token for tenant {tenant}: {detail}")]
    Auth { tenant: String, detail: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error(
        "Graph answered {status} {code} to {path}: {message} (request-id {request_id}); {hint}"
    )]
    Graph {
        path: String,
        status: u16,
        code: String,
        message: String,
        request_id: String,
        hint: &'static str,
    },
    #[error(
        "gave up on {path} at {host} after {attempts} attempts and {waited:?} of waiting; last: {last}. The next cycle starts again from the last complete round; check the network and [source] graph_url, or raise [source] max_retry_wait if Graph throttles for longer"
    )]
    GaveUp {
        path: String,
        /// Scheme, host and port: where the requests went.
        host: String,
        attempts: u32,
        waited: Duration,
        last: String,
    },
    #[error("cannot connect securely to {host}: {detail}")]
    Tls {
        /// Scheme, host and port.
        host: String,
        detail: String,
    },
    #[error("Graph sent {what} for {path}; the next cycle tries again")]
    Malformed { path: String, what: String },
    #[error(
        "Graph asked for a resync of {path} again during the full round it asked for; the next cycle tries again"
    )]
    ResyncLoop { path: String },
    #[error(
        "[source] groups: no group is named \"{name}\" in the tenant; check the spelling, or write the group's object id"
    )]
    GroupNotFound { name: String },
    #[error(
        "[source] groups: \"{name}\" names several groups ({ids}); write the object id of the one you mean"
    )]
    GroupAmbiguous { name: String, ids: String },
    #[error("[source] app: {detail}")]
    AppNotFound { detail: String },
    #[error(
        "[[permission_groups]] ({group}) app_roles: the app defines no role with the value \"{value}\"; its role values are {known}. Write the value, not the display name, or define the role in the app registration"
    )]
    AppRoleNotFound {
        group: String,
        value: String,
        known: String,
    },
    #[error("{flag} \"{name}\": {why}; nothing was provisioned")]
    OnDemand {
        flag: &'static str,
        name: String,
        why: String,
    },
}

impl SourceError {
    /// True when the configuration, not Graph, must change (exit status 2 rather than 1).
    pub fn is_config_problem(&self) -> bool {
        matches!(
            self,
            SourceError::GroupNotFound { .. }
                | SourceError::GroupAmbiguous { .. }
                | SourceError::AppNotFound { .. }
                | SourceError::AppRoleNotFound { .. }
                | SourceError::OnDemand { .. }
        )
    }
}

/// A Microsoft Graph client for one tenant.
pub struct Graph {
    http: GraphHttp,
    /// `{graph_url}` without a trailing slash; requests go to `{graph}/v1.0/...`.
    graph: String,
    groups: Vec<String>,
    members: Members,
    app: Option<AppRef>,
    /// The role values the rules map (with their permission group): each must be one the app
    /// defines.
    app_roles: Vec<(String, String)>,
}

impl Graph {
    pub fn new(config: &SourceConfig) -> Result<Self, SourceError> {
        let client = crate::tls::client_builder(config.ca.as_ref())
            .map_err(SourceError::Client)?
            .connect_timeout(Duration::from_secs(10).min(config.request_timeout))
            .timeout(config.request_timeout)
            .build()
            .map_err(SourceError::Client)?;
        let auth = auth::TokenSource::new(client.clone(), config);
        Ok(Graph {
            http: GraphHttp::new(
                client,
                auth,
                RetryPolicy::with_total_wait(config.max_retry_wait),
            ),
            graph: config.graph_url.as_str().trim_end_matches('/').to_owned(),
            groups: config.groups.clone(),
            members: config.members,
            app: config.app.clone(),
            app_roles: config.app_roles.clone(),
        })
    }

    /// Replaces the retry policy (tests and the benchmark use short delays).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.http.set_policy(policy);
        self
    }

    /// Requests sent to Graph so far by this client.
    pub fn requests(&self) -> u64 {
        self.http.requests()
    }

    /// How far the delta rounds have read, shared (for a progress display).
    pub fn progress(&self) -> std::sync::Arc<ReadProgress> {
        self.http.progress()
    }

    /// Answers from Graph so far, by HTTP status (tokens not included).
    pub fn requests_by_status(&self) -> std::collections::BTreeMap<u16, u64> {
        self.http.requests_by_status()
    }

    /// Gets a token (for `check`): proves the tenant, client id and secret.
    pub async fn check_token(&self) -> Result<(), SourceError> {
        self.http.auth().token().await.map(drop)
    }

    /// An application's roles and every assignment of it, listed whole (Graph has no delta for
    /// assignments).
    pub async fn app_listing(&self, app: &AppRef) -> Result<AppListing, SourceError> {
        apps::listing(&self.http, &self.graph, app).await
    }

    /// `[source] app`'s listing, if one is configured, checked against the role values the
    /// rules map: a value the app does not define is a configuration mistake (a typo would
    /// otherwise quietly give its users the default permission).
    pub async fn configured_app(&self) -> Result<Option<AppListing>, SourceError> {
        let Some(app) = &self.app else {
            return Ok(None);
        };
        let listing = self.app_listing(app).await?;
        let values: Vec<&str> = listing
            .roles
            .iter()
            .filter_map(|r| r.value.as_deref())
            .collect();
        let defined = |value: &str| values.iter().any(|v| v.eq_ignore_ascii_case(value));
        if let Some((group, value)) = self.app_roles.iter().find(|(_, v)| !defined(v)) {
            let known: Vec<String> = values.iter().map(|v| format!("\"{v}\"")).collect();
            let known = if known.is_empty() {
                "(none)".to_owned()
            } else {
                known.join(", ")
            };
            return Err(SourceError::AppRoleNotFound {
                group: group.clone(),
                value: value.clone(),
                known,
            });
        }
        Ok(Some(listing))
    }

    /// Binds every configured group to its id (for `check`): one Graph call per group name,
    /// proving the permissions and the names. Returns how many groups are bound.
    pub async fn check_groups(&self) -> Result<usize, SourceError> {
        let bound =
            groups::resolve(&self.http, &self.graph, &self.groups, &BTreeMap::new()).await?;
        Ok(bound.len())
    }

    /// The first request of a full `users/delta` round.
    fn users_query(&self) -> String {
        format!(
            "{}/v1.0/users/delta?$select={}",
            self.graph,
            model::USER_SELECT
        )
    }

    /// The first request of a full `groups/delta` round over `ids`.
    fn groups_query(&self, ids: &[String]) -> String {
        let filter = ids
            .iter()
            .map(|id| format!("id eq '{}'", id.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut url = format!("{}/v1.0/groups/delta", self.graph);
        let query = [
            ("$filter", filter.as_str()),
            ("$select", model::GROUP_SELECT),
        ];
        url.push('?');
        url.push_str(&encode_query(&query));
        url
    }

    /// Reads one cycle's rounds from where `resume` left off. Any failure returns an error and
    /// nothing else: a partial round never leaves this function (Invariant 1).
    pub async fn fetch(&self, resume: &Resume) -> Result<Fetch, SourceError> {
        // A stored link elsewhere than graph_url (which changed since) is not followed with the
        // token: its round checks it and starts over as a full round (`delta::run`).
        let users_link = resume.users_link.as_deref();
        // The users round runs beside everything the groups rounds need first: binding the
        // configured names and listing the app's assignments.
        let users_query = self.users_query();
        let users_round = delta::users_round(&self.http, &users_query, users_link);
        let groups_rounds = async {
            let scoped = groups::resolve(&self.http, &self.graph, &self.groups, &resume.bindings);
            let (scoped, app) = tokio::try_join!(scoped, self.configured_app())?;
            let mut ids: Vec<String> = scoped.iter().map(|g| g.id.clone()).collect();
            // Groups assigned to the app are read like scoped ones: their direct members hold
            // the group's roles.
            if let Some(app) = &app {
                let assigned = app.assignments.iter();
                let groups = assigned.filter(|a| a.principal_kind == MemberKind::Group);
                ids.extend(groups.map(|a| a.principal_id.clone()));
            }
            ids.sort();
            ids.dedup();
            // A few chunks at a time, in their order: 1,000 scoped groups are 20 queries, which
            // one after another made most of a quiet cycle's time.
            let chunks = chunks::plan(&ids, &resume.group_links);
            let rounds = chunks.into_iter().map(|chunk| async move {
                let link = resume.group_links.get(&chunk).map(String::as_str);
                let query = self.groups_query(&chunk);
                delta::groups_round(&self.http, chunk, &query, link).await
            });
            let rounds = futures_util::stream::iter(rounds).buffered(GROUP_ROUNDS_AT_ONCE);
            let groups = rounds.try_collect::<Vec<_>>().await?;
            Ok::<_, SourceError>((scoped, app, ids, groups))
        };
        let ((scoped, app, ids, groups), users) = tokio::try_join!(groups_rounds, users_round)?;
        let transitive = match self.members {
            Members::Direct => None,
            Members::Transitive => {
                let mut listings = Vec::with_capacity(ids.len());
                for id in &ids {
                    listings.push(groups::transitive_members(&self.http, &self.graph, id).await?);
                }
                Some(listings)
            }
        };
        // A bound group that Graph reports gone loses its binding: the name is looked up again.
        let gone = |id: &str| {
            groups.iter().any(|round| {
                round.removed.contains_key(id)
                    || (round.kind == RoundKind::Full
                        && round.ids.iter().any(|i| i == id)
                        && !round.groups.contains_key(id))
            })
        };
        let scoped = scoped.into_iter().filter(|g| !gone(&g.id)).collect();
        Ok(Fetch {
            scoped,
            groups,
            users,
            transitive,
            app,
        })
    }
}

/// `a=b&c=d` with each value percent-encoded (the `$` of OData options kept readable).
fn encode_query(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").expect("a constant URL parses");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().replace("%24", "$")
}
