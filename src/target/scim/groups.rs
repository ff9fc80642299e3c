//! Permissions as target Groups (`[target] permissions = "groups"`, SignPath's way): one SCIM
//! Group per permission group, found by `displayName eq` (with `excludedAttributes=members`, as
//! Entra asks), created when missing, and membership changed by PATCH.
//!
//! Part of the SCIM adapter. Group ids are looked up once per process and kept.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::client::Client;
use super::patch;
use crate::config::Dialect;

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// The target's Group id of each permission group seen so far.
#[derive(Default)]
pub struct GroupIds(tokio::sync::Mutex<HashMap<String, String>>);

impl GroupIds {
    /// The id of the group named `name`, creating it when the target has none.
    async fn id(&self, client: &Client, name: &str) -> Result<String, String> {
        let mut known = self.0.lock().await;
        if let Some(id) = known.get(name) {
            return Ok(id.clone());
        }
        let filter = format!("displayName eq {}", patch::filter_string(name));
        let query = [
            ("filter", filter.as_str()),
            ("excludedAttributes", "members"),
        ];
        let reply = client.send(Method::GET, "/Groups", &query, None).await?;
        if reply.status != StatusCode::OK {
            return Err(format!("GET /Groups?filter={filter}: {}", reply.describe()));
        }
        let found = reply
            .listed()
            .ok_or_else(|| format!("GET /Groups?filter={filter}: {}", reply.not_a_list()))?
            .and_then(super::client::resource_id)
            .map(str::to_owned);
        let id = match found {
            Some(id) => id,
            None => {
                let body = json!({"schemas": [GROUP_SCHEMA], "displayName": name});
                let reply = client
                    .send(Method::POST, "/Groups", &[], Some(&body))
                    .await?;
                if !reply.status.is_success() {
                    return Err(format!("POST /Groups \"{name}\": {}", reply.describe()));
                }
                reply
                    .body
                    .as_ref()
                    .and_then(super::client::resource_id)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        format!("the endpoint created the group \"{name}\" but sent no id")
                    })?
            }
        };
        known.insert(name.to_owned(), id.clone());
        Ok(id)
    }

    pub async fn add(
        &self,
        client: &Client,
        dialect: Dialect,
        group: &str,
        member: &str,
    ) -> Result<(), String> {
        let id = self.id(client, group).await?;
        self.patch(client, &id, group, &patch::add_member(dialect, member))
            .await
    }

    pub async fn remove(
        &self,
        client: &Client,
        dialect: Dialect,
        group: &str,
        member: &str,
    ) -> Result<(), String> {
        let id = self.id(client, group).await?;
        self.patch(client, &id, group, &patch::remove_member(dialect, member))
            .await
    }

    async fn patch(
        &self,
        client: &Client,
        id: &str,
        name: &str,
        body: &Value,
    ) -> Result<(), String> {
        let path = super::client::resource_path("/Groups", id)
            .map_err(|why| format!("the group \"{name}\": {why}"))?;
        let reply = client.send(Method::PATCH, &path, &[], Some(body)).await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(format!("PATCH {path} (\"{name}\"): {}", reply.describe()))
        }
    }
}
