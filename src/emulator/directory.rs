//! The emulator's plain directory reads: `/users`, `/users/{id}`, `/users/{id}/memberOf`, `/groups` (by
//! `displayName`), `/groups/{id}`, `/groups/{id}/members` and `/groups/{id}/transitiveMembers`.
//!
//! Part of `emulator/`. Listings are paged like Graph's (`$top`, default 100, at most 999; an
//! `@odata.nextLink` carrying `$skiptoken`); each returns the page's JSON or the error to send.

use serde_json::{Value, json};

use super::cursor::Query;
use super::delta::{DEFAULT_USER_SELECT, project, selected};
use super::server::{GraphError, Request};
use super::tenant::Tenant;

/// `$select` of a directory read, as a delta [`Query`] holds it.
fn select_of(request: &Request) -> Query {
    Query {
        select: request.select(),
        filter: None,
    }
}

pub(super) fn not_found(id: &str) -> GraphError {
    GraphError::new(
        404,
        "Request_ResourceNotFound",
        format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

/// A user by object id or userPrincipalName, as Graph's `/users/{id | userPrincipalName}`.
fn user_id(tenant: &Tenant, key: &str) -> Result<String, GraphError> {
    if tenant.user(key).is_some() {
        return Ok(key.to_owned());
    }
    tenant.user_id_by_upn(key).ok_or_else(|| not_found(key))
}

/// `GET /users`: every user, paged, with `$select` — what a sync tool that lists the whole
/// directory each cycle reads (the benchmark's peers).
pub fn users(tenant: &Tenant, request: &Request) -> Result<Value, GraphError> {
    let query = select_of(request);
    let select = selected(&query, &DEFAULT_USER_SELECT);
    request.listing_range(tenant.counts().0, "users", |range| {
        tenant
            .live_users()
            .skip(range.start)
            .take(range.len())
            .map(|(id, props)| project(id, props, &select))
            .collect()
    })
}

/// `GET /users/{id | userPrincipalName}`.
pub fn user(tenant: &Tenant, key: &str, request: &Request) -> Result<Value, GraphError> {
    let id = &user_id(tenant, key)?;
    let record = tenant.user(id).ok_or_else(|| not_found(id))?;
    let query = select_of(request);
    let select = selected(&query, &DEFAULT_USER_SELECT);
    let props = record.as_object().cloned().unwrap_or_default();
    let mut object = project(id, &props, &select);
    object["@odata.context"] = json!(format!("{}/v1.0/$metadata#users/$entity", request.base));
    Ok(object)
}

/// `GET /groups/{id}`.
pub fn group(tenant: &Tenant, id: &str, request: &Request) -> Result<Value, GraphError> {
    let mut object = tenant.group(id).ok_or_else(|| not_found(id))?;
    object["@odata.context"] = json!(format!("{}/v1.0/$metadata#groups/$entity", request.base));
    Ok(object)
}

/// `GET /users/{id}/memberOf`: the groups the user is a direct member of.
pub fn member_of(tenant: &Tenant, key: &str, request: &Request) -> Result<Value, GraphError> {
    let id = &user_id(tenant, key)?;
    let items = tenant
        .member_of(id)
        .into_iter()
        .map(|g| group_item(tenant, &g, request))
        .collect();
    request.listing(items, "directoryObjects")
}

/// `GET /groups?$filter=displayName eq '…'` (the one filter entrasync sends), or every group.
pub fn groups(tenant: &Tenant, request: &Request) -> Result<Value, GraphError> {
    let ids = match request.get("$filter") {
        None => tenant.group_ids(),
        Some(filter) => {
            let name = display_name_filter(filter).ok_or_else(|| {
                GraphError::new(400, "Request_UnsupportedQuery", "Unsupported Query.")
            })?;
            // Graph compares display names without regard to case.
            tenant
                .group_ids()
                .into_iter()
                .filter(|id| {
                    tenant.group(id).is_some_and(|g| {
                        g["displayName"]
                            .as_str()
                            .is_some_and(|n| n.to_lowercase() == name.to_lowercase())
                    })
                })
                .collect()
        }
    };
    let items = ids.iter().map(|g| group_item(tenant, g, request)).collect();
    request.listing(items, "groups")
}

/// `GET /groups/{id}/members` or `/transitiveMembers`.
pub fn members(
    tenant: &Tenant,
    id: &str,
    request: &Request,
    transitive: bool,
) -> Result<Value, GraphError> {
    if tenant.group(id).is_none() {
        return Err(not_found(id));
    }
    let ids: Vec<String> = if transitive {
        tenant.transitive_members(id).into_iter().collect()
    } else {
        tenant.members(id)
    };
    let query = select_of(request);
    let user_select = selected(&query, &DEFAULT_USER_SELECT);
    let items = ids
        .iter()
        .filter_map(|m| {
            if tenant.is_group(m) {
                return Some(group_item(tenant, m, request));
            }
            let user = tenant.user(m)?;
            let props = user.as_object().cloned().unwrap_or_default();
            let mut object = project(m, &props, &user_select);
            object["@odata.type"] = json!("#microsoft.graph.user");
            Some(object)
        })
        .collect();
    request.listing(items, "directoryObjects")
}

fn group_item(tenant: &Tenant, id: &str, request: &Request) -> Value {
    let props = tenant
        .group(id)
        .and_then(|g| g.as_object().cloned())
        .unwrap_or_default();
    let query = select_of(request);
    let select = selected(&query, &["displayName", "description"]);
    let mut object = project(id, &props, &select);
    object["@odata.type"] = json!("#microsoft.graph.group");
    object
}

/// The name in `displayName eq 'Name'` (quotes doubled inside).
fn display_name_filter(filter: &str) -> Option<String> {
    let rest = filter.trim();
    let (field, rest) = rest.split_once(' ')?;
    let (op, literal) = rest.trim_start().split_once(' ')?;
    if !field.eq_ignore_ascii_case("displayName") || !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    let (name, tail) = super::odata::odata_string(literal.trim_start())?;
    tail.trim().is_empty().then_some(name)
}

#[cfg(test)]
mod tests {
    use super::display_name_filter;

    #[test]
    fn reads_the_display_name_filter() {
        assert_eq!(
            display_name_filter("displayName eq 'O''Brien team'").as_deref(),
            Some("O'Brien team")
        );
        assert_eq!(display_name_filter("startswith(displayName,'A')"), None);
        assert_eq!(display_name_filter("displayName eq 'A' or id eq 'b'"), None);
    }
}
