//! The SCIM 2.0 adapter (`[target] kind = "scim"`): the plan's changes as the requests Entra's
//! provisioning service sends (`shared/design/entra-scim-dialect.md`), so an endpoint built for
//! Entra accepts them unchanged.
//!
//! Part of `target/`. A create first looks the user up by the match attributes (default
//! `externalId`, then `userName`): found by `externalId` it is the same Entra user (a create
//! repeated after a crash, or one Entra provisioned before) and is taken over; found otherwise it
//! is adopted only with `adopt_existing`. A 409 on create is answered the same way. Updates carry
//! only what changed; leaving scope is `active = false`; "not found" on a delete is done.
//! Changes run `max_concurrency` at a time, each with its own outcome (Invariant 3).

mod client;
mod groups;
pub mod patch;
#[cfg(test)]
mod tests;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::config::{Dialect, PermissionsAs, ScimConfig};
use crate::plan::{Change, Operation, PushedUser};
use crate::retry::RetryPolicy;

use super::resource;
use super::{Applied, Target};
use client::{Client, Reply};
use groups::GroupIds;

/// A SCIM endpoint.
pub struct ScimTarget {
    client: Client,
    dialect: Dialect,
    permissions: PermissionsAs,
    match_attributes: Vec<String>,
    adopt_existing: bool,
    max_concurrency: usize,
    groups: GroupIds,
    describe: String,
}

impl ScimTarget {
    pub fn new(config: &ScimConfig, adopt_existing: bool) -> Result<ScimTarget, reqwest::Error> {
        Ok(ScimTarget {
            client: Client::new(
                config.url.as_str(),
                config.token.clone(),
                config.request_timeout,
                config.ca.as_ref(),
            )?,
            dialect: config.dialect,
            permissions: config.permissions,
            match_attributes: config.match_attributes.clone(),
            adopt_existing,
            max_concurrency: config.max_concurrency,
            groups: GroupIds::default(),
            describe: format!("SCIM {}", config.url),
        })
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.client.set_policy(policy);
        self
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.client.requests()
    }

    /// Answers from the target so far, by HTTP status.
    pub fn requests_by_status(&self) -> std::collections::BTreeMap<u16, u64> {
        self.client.requests_by_status()
    }

    fn roles(&self) -> bool {
        matches!(self.permissions, PermissionsAs::Roles | PermissionsAs::Both)
    }

    fn groups(&self) -> bool {
        matches!(
            self.permissions,
            PermissionsAs::Groups | PermissionsAs::Both
        )
    }

    async fn apply_one(&self, change: &Change) -> Applied {
        let result = match &change.operation {
            Operation::Create { .. } => self.create(change).await,
            Operation::Update { delta } => self.update(change, delta).await,
            Operation::Deactivate { .. } => self.deactivate(change).await,
            Operation::Delete { .. } => self.delete(change).await,
        };
        result.unwrap_or_else(|message| Applied::Failed { message })
    }

    async fn create(&self, change: &Change) -> Result<Applied, String> {
        let Operation::Create {
            attributes,
            permissions,
            department,
        } = &change.operation
        else {
            return Err("not a create".into());
        };
        let roles: &[String] = if self.roles() { permissions } else { &[] };
        let body = resource::user(attributes, roles, department.as_deref(), true);
        let (id, adopted) = match self.find(attributes).await? {
            Some(found) => (self.take_over(change, found, &body).await?, true),
            None => {
                let reply = self
                    .client
                    .send(Method::POST, "/Users", &[], Some(&body))
                    .await?;
                match reply.status {
                    StatusCode::CREATED | StatusCode::OK => (resource_id(&reply)?, false),
                    StatusCode::CONFLICT => match self.find(attributes).await? {
                        Some(found) => (self.take_over(change, found, &body).await?, true),
                        None => {
                            return Err(format!(
                                "POST /Users for {}: {} — and no user with its match attributes can be found",
                                change.user_name,
                                reply.describe()
                            ));
                        }
                    },
                    _ => {
                        return Err(format!(
                            "POST /Users for {}: {}",
                            change.user_name,
                            reply.describe()
                        ));
                    }
                }
            }
        };
        if self.groups() {
            for permission in permissions {
                self.groups
                    .add(&self.client, self.dialect, permission, &id)
                    .await?;
            }
        }
        Ok(if adopted {
            Applied::Adopted { target_id: id }
        } else {
            Applied::Created { target_id: id }
        })
    }

    /// The first user the match attributes find, and by which attribute.
    async fn find(
        &self,
        attributes: &std::collections::BTreeMap<String, String>,
    ) -> Result<Option<(String, Value)>, String> {
        for attribute in &self.match_attributes {
            let Some(value) = attributes.get(attribute) else {
                continue;
            };
            let filter = format!("{attribute} eq {}", patch::filter_string(value));
            let reply = self
                .client
                .send(Method::GET, "/Users", &[("filter", &filter)], None)
                .await?;
            if reply.status != StatusCode::OK {
                return Err(format!("GET /Users?filter={filter}: {}", reply.describe()));
            }
            // Only a ListResponse says whether the user exists: anything else taken for "not
            // found" would create a duplicate.
            let found = reply
                .listed()
                .ok_or_else(|| format!("GET /Users?filter={filter}: {}", reply.not_a_list()))?
                .cloned();
            if let Some(user) = found {
                return Ok(Some((attribute.clone(), user)));
            }
        }
        Ok(None)
    }

    /// Takes over a user the lookup found: the same Entra user when found by `externalId`,
    /// else only with `adopt_existing`. Its attributes are then set to what entrasync wants.
    async fn take_over(
        &self,
        change: &Change,
        (by, found): (String, Value),
        body: &Value,
    ) -> Result<String, String> {
        let id = client::resource_id(&found)
            .ok_or_else(|| format!("the user found for {} has no id", change.user_name))?
            .to_owned();
        if by != "externalId" && !self.adopt_existing {
            return Err(format!(
                "{} is not flagged as synchronized and won't be updated. Set [target] adopt_existing = true to take over users that already exist, or add it to [target] exclude.",
                change.user_name
            ));
        }
        let path = user_path(change, &id)?;
        let mut replacement = body.clone();
        replacement["id"] = Value::String(id.clone());
        let reply = self
            .client
            .send(Method::PUT, &path, &[], Some(&replacement))
            .await?;
        if !reply.status.is_success() {
            return Err(format!(
                "PUT {path} for {}: {}",
                change.user_name,
                reply.describe()
            ));
        }
        Ok(id)
    }

    async fn update(&self, change: &Change, delta: &crate::plan::Delta) -> Result<Applied, String> {
        let id = target_id(change)?;
        let operations = patch::user_operations(delta, self.dialect, self.roles());
        if !operations.is_empty() {
            let path = user_path(change, id)?;
            let body = patch::request(operations);
            let reply = self
                .client
                .send(Method::PATCH, &path, &[], Some(&body))
                .await?;
            if reply.status == StatusCode::NOT_FOUND {
                return Ok(Applied::Missing);
            }
            if !reply.status.is_success() {
                return Err(format!(
                    "PATCH {path} for {}: {}",
                    change.user_name,
                    reply.describe()
                ));
            }
        }
        if let (true, Some((before, after))) = (self.groups(), &delta.permissions) {
            for permission in after.iter().filter(|p| !before.contains(p)) {
                self.groups
                    .add(&self.client, self.dialect, permission, id)
                    .await?;
            }
            for permission in before.iter().filter(|p| !after.contains(p)) {
                self.groups
                    .remove(&self.client, self.dialect, permission, id)
                    .await?;
            }
        }
        Ok(Applied::Updated)
    }

    async fn deactivate(&self, change: &Change) -> Result<Applied, String> {
        let path = user_path(change, target_id(change)?)?;
        let body = patch::request(vec![patch::active_operation(self.dialect, false)]);
        let reply = self
            .client
            .send(Method::PATCH, &path, &[], Some(&body))
            .await?;
        match reply.status {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(Applied::Deactivated),
            _ => Err(format!(
                "PATCH {path} (active = false) for {}: {}",
                change.user_name,
                reply.describe()
            )),
        }
    }

    async fn delete(&self, change: &Change) -> Result<Applied, String> {
        let path = user_path(change, target_id(change)?)?;
        let reply = self.client.send(Method::DELETE, &path, &[], None).await?;
        match reply.status {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(Applied::Deleted),
            _ => Err(format!(
                "DELETE {path} for {}: {}",
                change.user_name,
                reply.describe()
            )),
        }
    }
}

impl Target for ScimTarget {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    /// Entra's "Test Connection": a query for a user that does not exist must answer 200 with
    /// an empty list.
    async fn check(&self) -> Result<(), super::TargetError> {
        let unavailable = |detail: String| super::TargetError::Unavailable {
            url: self.describe.trim_start_matches("SCIM ").to_owned(),
            detail,
        };
        // As Entra's "Test connection": a user that cannot exist, by a random GUID in the first
        // match attribute; the answer must be 200 with an empty ListResponse.
        let attribute = self
            .match_attributes
            .first()
            .map_or("externalId", String::as_str);
        let filter = format!(
            "{attribute} eq {}",
            patch::filter_string(&crate::retry::Jitter::new().guid())
        );
        let reply = self
            .client
            .send(Method::GET, "/Users", &[("filter", &filter)], None)
            .await
            .map_err(unavailable)?;
        let empty_list = reply.body.as_ref().is_some_and(|body| {
            body["totalResults"].as_u64() == Some(0)
                || body["Resources"].as_array().is_some_and(Vec::is_empty)
        });
        match reply.status {
            StatusCode::OK if empty_list => Ok(()),
            StatusCode::OK => Err(unavailable(format!(
                "GET /Users?filter={filter} answered 200 but not with an empty ListResponse for a user that cannot exist; check [target] url (the SCIM base, such as https://app.example.com/scim/v2) and that the endpoint filters"
            ))),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(unavailable(format!(
                "{}; check the bearer token in [target] token_file or token_env",
                reply.describe()
            ))),
            _ => Err(unavailable(format!(
                "GET /Users?filter=… answered {}; check [target] url (the SCIM base, such as https://app.example.com/scim/v2)",
                reply.describe()
            ))),
        }
    }

    async fn read_back(
        &self,
        users: &[(String, PushedUser)],
    ) -> Vec<Result<Option<PushedUser>, String>> {
        let mut found = Vec::with_capacity(users.len());
        for (_, template) in users {
            let resource = self.resource_of(template).await;
            found.push(
                resource
                    .map(|r| r.map(|r| super::read_back::pushed_from(&r, template, self.roles()))),
            );
        }
        found
    }

    async fn apply(&self, changes: &[Change]) -> Vec<Applied> {
        // The futures are made first: a closure inside the stream would not be `Send` for
        // every lifetime, as the trait asks.
        let pending: Vec<_> = changes
            .iter()
            .map(|change| self.apply_one(change))
            .collect();
        futures_util::stream::iter(pending)
            .buffered(self.max_concurrency.max(1))
            .collect()
            .await
    }
}

impl ScimTarget {
    /// The user a write was about, as the target has it: by its id when known, else by the
    /// `externalId` a create sent (entrasync's own mark: a user found by anything else may not
    /// be ours). `None` when the target has no such user.
    async fn resource_of(&self, template: &PushedUser) -> Result<Option<Value>, String> {
        if template.target_id.is_empty() {
            let Some(external_id) = template.attributes.get("externalId") else {
                return Ok(None);
            };
            let only =
                std::collections::BTreeMap::from([("externalId".to_owned(), external_id.clone())]);
            return Ok(self.find(&only).await?.map(|(_, resource)| resource));
        }
        let path = client::resource_path("/Users", &template.target_id)
            .map_err(|why| format!("{}: {why}", template.user_name))?;
        let reply = self.client.send(Method::GET, &path, &[], None).await?;
        match reply.status {
            StatusCode::OK => Ok(reply.body),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(format!("GET {path}: {}", reply.describe())),
        }
    }
}

fn target_id(change: &Change) -> Result<&str, String> {
    change.target_id.as_deref().ok_or_else(|| {
        format!(
            "{} has no target id; the next cycle creates it",
            change.user_name
        )
    })
}

/// The path of the user `id` (the target's id of `change`'s user), or why it has none.
fn user_path(change: &Change, id: &str) -> Result<String, String> {
    client::resource_path("/Users", id).map_err(|why| format!("{}: {why}", change.user_name))
}

fn resource_id(reply: &Reply) -> Result<String, String> {
    reply
        .body
        .as_ref()
        .and_then(client::resource_id)
        .map(str::to_owned)
        .ok_or_else(|| {
            "the endpoint created a user but sent no id; the next cycle finds it by its match attributes".to_owned()
        })
}
