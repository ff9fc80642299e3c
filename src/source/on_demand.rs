//! Provisioning on demand (`once --user`, `once --group`): the named users, or the direct members
//! of the named groups, read straight from Graph — `/users/{id | userPrincipalName}` and its
//! `memberOf`, `/groups/{id}/members` — without a delta round, so the delta links stay as they
//! are and the next scheduled cycle reads the tenant's changes as usual.
//!
//! Part of `source/`: it only fetches; the engine lays what it read over the snapshot's state
//! for this one cycle and commits none of it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::groups;
use super::model::{MemberKind, RoundStats, USER_SELECT, User};
use super::{Graph, SourceError};

/// A user read on demand, and the groups it is a direct member of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDemandUser {
    pub user: User,
    pub groups: BTreeSet<String>,
}

/// What an on-demand read found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnDemand {
    /// By user id.
    pub users: BTreeMap<String, OnDemandUser>,
    /// Entries that name no user in Entra (maybe deleted).
    pub missing: Vec<String>,
    pub stats: RoundStats,
}

#[derive(Deserialize)]
struct Entity {
    #[serde(flatten)]
    user: User,
}

impl Graph {
    /// Reads `users` (ids or userPrincipalNames) and the direct members of `groups` (display
    /// names or ids, bound with `bindings` as a cycle binds them).
    pub async fn fetch_on_demand(
        &self,
        users: &[String],
        group_entries: &[String],
        bindings: &BTreeMap<String, String>,
    ) -> Result<OnDemand, SourceError> {
        let mut found = OnDemand::default();
        let mut wanted: Vec<String> = users.to_vec();
        if !group_entries.is_empty() {
            let bound = groups::resolve(&self.http, &self.graph, group_entries, bindings)
                .await
                .map_err(|err| match err {
                    SourceError::GroupNotFound { name } => SourceError::OnDemand {
                        flag: "--group",
                        name,
                        why: "no group has that name or object id in Entra; check the spelling"
                            .into(),
                    },
                    SourceError::GroupAmbiguous { name, ids } => SourceError::OnDemand {
                        flag: "--group",
                        name,
                        why: format!("names several groups ({ids}); give the object id"),
                    },
                    other => other,
                })?;
            for group in bound {
                let members = groups::list(
                    &self.http,
                    &self.graph,
                    &["groups", &group.id, "members"],
                    &mut found.stats,
                )
                .await?;
                wanted.extend(
                    members
                        .into_iter()
                        .filter(|(_, kind)| *kind == MemberKind::User)
                        .map(|(id, _)| id),
                );
            }
        }
        wanted.sort();
        wanted.dedup();
        for key in wanted {
            match self.user_on_demand(&key, &mut found.stats).await? {
                Some(user) => {
                    found.users.insert(user.user.id.clone(), user);
                }
                None => found.missing.push(key),
            }
        }
        // A user named on the command line must exist; a group's member that vanished
        // between the two requests is only reported.
        if let Some(name) = found.missing.iter().find(|m| users.contains(m)) {
            return Err(SourceError::OnDemand {
                flag: "--user",
                name: name.clone(),
                why: "no user has that userPrincipalName or object id in Entra".into(),
            });
        }
        Ok(found)
    }

    async fn user_on_demand(
        &self,
        key: &str,
        stats: &mut RoundStats,
    ) -> Result<Option<OnDemandUser>, SourceError> {
        let mut url = reqwest::Url::parse(&format!("{}/v1.0", self.graph)).map_err(|e| {
            SourceError::Malformed {
                path: self.graph.clone(),
                what: format!("graph_url does not make a URL: {e}"),
            }
        })?;
        url.path_segments_mut()
            .map_err(|()| SourceError::Malformed {
                path: self.graph.clone(),
                what: "graph_url cannot take a path".into(),
            })?
            .extend(["users", key]);
        url.query_pairs_mut().append_pair("$select", USER_SELECT);
        let entity: Entity = match self.http.get_json(url.as_str(), &mut stats.requests).await {
            Ok(entity) => entity,
            Err(super::http::Failure::Error(SourceError::Graph { status: 404, .. })) => {
                return Ok(None);
            }
            Err(super::http::Failure::Error(err)) => return Err(err),
            Err(super::http::Failure::Resync) => {
                return Err(SourceError::Malformed {
                    path: "GET /v1.0/users/{id}".into(),
                    what: "a resync answer to a request that is not a delta query".into(),
                });
            }
        };
        let user = entity.user;
        let member_of = groups::list(
            &self.http,
            &self.graph,
            &["users", &user.id, "memberOf"],
            stats,
        )
        .await?;
        let groups = member_of
            .into_iter()
            .filter(|(_, kind)| *kind == MemberKind::Group)
            .map(|(id, _)| id)
            .collect();
        Ok(Some(OnDemandUser { user, groups }))
    }
}
