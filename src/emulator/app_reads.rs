//! The emulator's reads of enterprise apps: `/servicePrincipals` (all, or `$filter` by `appId`
//! or `displayName`), `/servicePrincipals/{id}` and `/servicePrincipals/{id}/appRoleAssignedTo`,
//! the service principal also addressed as Graph allows, `servicePrincipals(appId='{appId}')`.
//!
//! Part of `emulator/`. `server.rs` routes here ([`AppRoute`]); each read returns Graph's JSON
//! or the error to send. Listings are paged like the directory's (`$top`, at most 999; an
//! `@odata.nextLink` carrying `$skiptoken`) and honour `$select`. Graph has no delta of
//! assignments: a client lists them again.

use serde_json::{Map, Value, json};

use super::delta::project;
use super::directory::not_found;
use super::faults::Endpoint;
use super::odata::{decode, odata_string};
use super::server::{GraphError, Request};
use super::tenant::Tenant;

/// The properties of an `appRoleAssignment`, all returned without `$select`.
const ASSIGNMENT_PROPS: [&str; 8] = [
    "appRoleId",
    "createdDateTime",
    "deletedDateTime",
    "principalDisplayName",
    "principalId",
    "principalType",
    "resourceDisplayName",
    "resourceId",
];

/// How a request names a service principal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpKey {
    /// `servicePrincipals/{id}` or `servicePrincipals('{id}')`
    Id(String),
    /// `servicePrincipals(appId='{appId}')`
    AppId(String),
}

/// A read of enterprise apps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppRoute {
    List,
    One(SpKey),
    AssignedTo(SpKey),
}

impl AppRoute {
    /// The route of a path's raw segments, if it is one of these.
    pub fn parse(segments: &[&str]) -> Option<AppRoute> {
        match segments {
            ["v1.0", "servicePrincipals"] => Some(AppRoute::List),
            ["v1.0", "servicePrincipals", id] => Some(AppRoute::One(SpKey::Id(decode(id)))),
            ["v1.0", "servicePrincipals", id, "appRoleAssignedTo"] => {
                Some(AppRoute::AssignedTo(SpKey::Id(decode(id))))
            }
            ["v1.0", keyed] if keyed.starts_with("servicePrincipals") => {
                Some(AppRoute::One(alternate_key(keyed)?))
            }
            ["v1.0", keyed, "appRoleAssignedTo"] if keyed.starts_with("servicePrincipals") => {
                Some(AppRoute::AssignedTo(alternate_key(keyed)?))
            }
            _ => None,
        }
    }

    pub fn endpoint(&self) -> Endpoint {
        match self {
            AppRoute::List => Endpoint::ServicePrincipals,
            AppRoute::One(_) => Endpoint::ServicePrincipal,
            AppRoute::AssignedTo(_) => Endpoint::AppRoleAssignedTo,
        }
    }
}

/// `servicePrincipals(appId='…')` or `servicePrincipals('…')`.
fn alternate_key(segment: &str) -> Option<SpKey> {
    let segment = decode(segment);
    let inner = segment
        .strip_prefix("servicePrincipals(")?
        .strip_suffix(')')?
        .trim();
    let (key, literal) = match inner.split_once('=') {
        Some((name, literal)) if name.trim() == "appId" => (true, literal.trim()),
        Some(_) => return None,
        None => (false, inner),
    };
    let (value, rest) = odata_string(literal)?;
    if !rest.trim().is_empty() {
        return None;
    }
    Some(if key {
        SpKey::AppId(value)
    } else {
        SpKey::Id(value)
    })
}

/// The answer to a read of enterprise apps.
pub fn answer(tenant: &Tenant, route: &AppRoute, request: &Request) -> Result<Value, GraphError> {
    match route {
        AppRoute::List => list(tenant, request),
        AppRoute::One(key) => one(tenant, &resolve(tenant, key)?, request),
        AppRoute::AssignedTo(key) => assigned_to(tenant, &resolve(tenant, key)?, request),
    }
}

fn resolve(tenant: &Tenant, key: &SpKey) -> Result<String, GraphError> {
    match key {
        SpKey::Id(id) if tenant.service_principal(id).is_some() => Ok(id.clone()),
        SpKey::Id(id) => Err(not_found(id)),
        SpKey::AppId(app_id) => tenant
            .service_principal_id(app_id)
            .ok_or_else(|| not_found(app_id)),
    }
}

/// A service principal with the properties `$select` names, or all.
fn shaped(tenant: &Tenant, id: &str, select: Option<&[String]>) -> Value {
    let object = tenant.service_principal(id).unwrap_or_default();
    match select {
        None => object,
        Some(select) => {
            let props = object.as_object().cloned().unwrap_or_default();
            let names: Vec<&str> = select.iter().map(String::as_str).collect();
            project(id, &props, &names)
        }
    }
}

/// `servicePrincipals` or `servicePrincipals(p,q)` for a `$select`.
fn entity_set(select: Option<&[String]>) -> String {
    match select {
        None => "servicePrincipals".to_owned(),
        Some(select) => format!("servicePrincipals({})", select.join(",")),
    }
}

/// `GET /servicePrincipals/{id}`.
fn one(tenant: &Tenant, id: &str, request: &Request) -> Result<Value, GraphError> {
    let select = request.select();
    let mut object = shaped(tenant, id, select.as_deref());
    object["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#{}/$entity",
        request.base,
        entity_set(select.as_deref())
    ));
    Ok(object)
}

/// `GET /servicePrincipals`, every one or `$filter=appId eq '…'` (how a client finds the
/// service principal of its application id) or `displayName eq '…'`.
fn list(tenant: &Tenant, request: &Request) -> Result<Value, GraphError> {
    let ids = match request.get("$filter") {
        None => tenant.service_principal_ids(),
        Some(filter) => {
            let (field, value) = eq_filter(filter).ok_or_else(unsupported)?;
            let matches = |id: &String| {
                let object = tenant.service_principal(id).unwrap_or_default();
                object[field.as_str()]
                    .as_str()
                    .is_some_and(|v| v.eq_ignore_ascii_case(&value))
            };
            match field.as_str() {
                "appId" | "displayName" => tenant
                    .service_principal_ids()
                    .into_iter()
                    .filter(matches)
                    .collect(),
                _ => return Err(unsupported()),
            }
        }
    };
    let select = request.select();
    let items = ids
        .iter()
        .map(|id| shaped(tenant, id, select.as_deref()))
        .collect();
    request.listing(items, &entity_set(select.as_deref()))
}

/// `GET /servicePrincipals/{id}/appRoleAssignedTo`: the assignments of live users and groups,
/// paged, `$filter` by `principalId` or `principalDisplayName` (`eq`).
fn assigned_to(tenant: &Tenant, sp: &str, request: &Request) -> Result<Value, GraphError> {
    let resource = tenant.service_principal(sp).unwrap_or_default();
    let resource_name = resource["displayName"].clone();
    let filter = match request.get("$filter") {
        None => None,
        Some(filter) => match eq_filter(filter) {
            Some((field, value)) if field == "principalId" || field == "principalDisplayName" => {
                Some((field, value))
            }
            _ => return Err(unsupported()),
        },
    };
    let select = request.select();
    let names: Vec<&str> = match &select {
        Some(select) => select.iter().map(String::as_str).collect(),
        None => ASSIGNMENT_PROPS.to_vec(),
    };
    // Looking the principal up costs a copy of its record: only when its name is asked for.
    let by_name = filter
        .as_ref()
        .is_some_and(|(f, _)| f == "principalDisplayName");
    let named = by_name || names.contains(&"principalDisplayName");
    let props = |a: &super::AppRoleAssignment| {
        let principal = match a.principal_type {
            _ if !named => None,
            "Group" => tenant.group(&a.principal_id),
            _ => tenant.user(&a.principal_id),
        };
        let principal_name = principal
            .as_ref()
            .map_or(Value::Null, |p| p["displayName"].clone());
        let mut props = Map::new();
        props.insert("appRoleId".into(), json!(a.app_role_id));
        props.insert("createdDateTime".into(), json!(a.created_date_time));
        props.insert("deletedDateTime".into(), Value::Null);
        props.insert("principalDisplayName".into(), principal_name);
        props.insert("principalId".into(), json!(a.principal_id));
        props.insert("principalType".into(), json!(a.principal_type));
        props.insert("resourceDisplayName".into(), resource_name.clone());
        props.insert("resourceId".into(), json!(sp));
        props
    };
    let assignments: Vec<_> = tenant
        .app_role_assignments(sp)
        .into_iter()
        .filter(|a| {
            filter.as_ref().is_none_or(|(field, value)| {
                props(a).get(field).and_then(Value::as_str) == Some(value.as_str())
            })
        })
        .collect();
    // Only the page's items are made: listing every page costs what the listing costs.
    let entity = format!("servicePrincipals('{sp}')/appRoleAssignedTo");
    request.listing_range(assignments.len(), &entity, |range| {
        let page = assignments.get(range).unwrap_or_default();
        page.iter()
            .map(|a| project(&a.id, &props(a), &names))
            .collect()
    })
}

fn unsupported() -> GraphError {
    GraphError::new(400, "Request_UnsupportedQuery", "Unsupported Query.")
}

/// `field eq 'value'` (quotes doubled inside) as the field and the value.
fn eq_filter(filter: &str) -> Option<(String, String)> {
    let (field, rest) = filter.trim().split_once(' ')?;
    let (op, literal) = rest.trim_start().split_once(' ')?;
    if !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    let (value, tail) = odata_string(literal.trim_start())?;
    tail.trim().is_empty().then(|| (field.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_service_principals_by_id_and_by_app_id() {
        let parse = |path: &str| {
            let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
            AppRoute::parse(&segments)
        };
        assert_eq!(parse("/v1.0/servicePrincipals"), Some(AppRoute::List));
        assert_eq!(
            parse("/v1.0/servicePrincipals/abc/appRoleAssignedTo"),
            Some(AppRoute::AssignedTo(SpKey::Id("abc".into())))
        );
        assert_eq!(
            parse("/v1.0/servicePrincipals(appId='a-b')"),
            Some(AppRoute::One(SpKey::AppId("a-b".into())))
        );
        assert_eq!(
            parse("/v1.0/servicePrincipals(appId=%27a-b%27)/appRoleAssignedTo"),
            Some(AppRoute::AssignedTo(SpKey::AppId("a-b".into())))
        );
        assert_eq!(
            parse("/v1.0/servicePrincipals('x')"),
            Some(AppRoute::One(SpKey::Id("x".into())))
        );
        for other in [
            "/v1.0/servicePrincipals(displayName='x')",
            "/v1.0/users",
            "/v1.0/servicePrincipals/x/owners",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    #[test]
    fn reads_eq_filters() {
        assert_eq!(
            eq_filter("appId eq 'A''b'"),
            Some(("appId".into(), "A'b".into()))
        );
        assert_eq!(eq_filter("startswith(displayName,'A')"), None);
        assert_eq!(eq_filter("appId ne 'a'"), None);
        assert_eq!(eq_filter("appId eq 'a' or appId eq 'b'"), None);
    }
}
