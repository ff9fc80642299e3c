//! App roles and their assignments: the roles an application's service principal defines and
//! the users and groups it is assigned to — how stacksync and SignPath scope provisioning and
//! grant permissions (issue 7).
//!
//! Part of `source/`, read-only like the rest of it. Graph offers no delta query for
//! assignments, so a cycle lists them whole (`/servicePrincipals/{id}/appRoleAssignedTo`,
//! paged, 999 at a time); comparing the listing with the last one is the snapshot's job. An
//! application named by its client id is resolved to its service principal with
//! `/servicePrincipals?$filter=appId eq '…'`.

use serde::Deserialize;

use super::SourceError;
use super::groups::{every_page, looks_like_object_id, odata_string, unexpected_resync};
use super::http::{GraphHttp, endpoint};
use super::model::{MemberKind, RoundStats};
use super::page::Page;

/// Which application: its service principal's object id, or its application (client) id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppRef {
    ServicePrincipal(String),
    ClientId(String),
}

/// The id of Entra's default-access role: an assignment without a role of its own.
pub const DEFAULT_ACCESS: &str = "00000000-0000-0000-0000-000000000000";

/// A role the application defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRole {
    pub id: String,
    /// What Entra sends as the role's value (`roles[primary eq "True"].value`); none for a role
    /// without one.
    pub value: Option<String>,
    /// A disabled role can no longer be assigned, but assignments made before stay.
    pub enabled: bool,
    /// Whether users and groups can hold it (`allowedMemberTypes` has "User"); an app-only role
    /// is never a user's.
    pub for_users: bool,
}

/// One assignment: a user or a group holds a role (or default access).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Assignment {
    pub principal_id: String,
    pub principal_kind: MemberKind,
    pub app_role_id: String,
}

/// An application's roles and every assignment, as one cycle listed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppListing {
    pub service_principal_id: String,
    pub roles: Vec<AppRole>,
    /// Sorted, each once.
    pub assignments: Vec<Assignment>,
    pub stats: RoundStats,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServicePrincipalBody {
    id: String,
    #[serde(default)]
    app_roles: Vec<AppRoleBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppRoleBody {
    id: String,
    value: Option<String>,
    is_enabled: Option<bool>,
    #[serde(default)]
    allowed_member_types: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignmentBody {
    principal_id: String,
    principal_type: Option<String>,
    app_role_id: String,
}

/// Reads the application's roles and every assignment of it.
pub async fn listing(
    http: &GraphHttp,
    graph: &str,
    app: &AppRef,
) -> Result<AppListing, SourceError> {
    let mut stats = RoundStats::default();
    let principal = service_principal(http, graph, app, &mut stats).await?;
    let roles = principal
        .app_roles
        .into_iter()
        .map(|r| AppRole {
            id: r.id,
            value: r.value.filter(|v| !v.trim().is_empty()),
            enabled: r.is_enabled.unwrap_or(true),
            for_users: r.allowed_member_types.is_empty()
                || r.allowed_member_types.iter().any(|t| t == "User"),
        })
        .collect();
    let assignments = assignments(http, graph, &principal.id, &mut stats).await?;
    Ok(AppListing {
        service_principal_id: principal.id,
        roles,
        assignments,
        stats,
    })
}

async fn service_principal(
    http: &GraphHttp,
    graph: &str,
    app: &AppRef,
    stats: &mut RoundStats,
) -> Result<ServicePrincipalBody, SourceError> {
    const SELECT: &str = "id,appId,displayName,appRoles";
    let not_found = |detail: String| SourceError::AppNotFound { detail };
    match app {
        AppRef::ServicePrincipal(id) => {
            if !looks_like_object_id(id) {
                return Err(not_found(format!(
                    "\"{id}\" is not a service principal's object id (a GUID); check service_principal_id"
                )));
            }
            let url = endpoint(graph, &["servicePrincipals", id], &[("$select", SELECT)])?;
            let body = http
                .get_json(url.as_str(), &mut stats.requests)
                .await
                .map_err(|err| match unexpected_resync(err) {
                    SourceError::Graph { status: 404, .. } => not_found(format!(
                        "no service principal (enterprise application) has the object id {id}; check service_principal_id, or name the app by client_id"
                    )),
                    err => err,
                })?;
            stats.pages += 1;
            Ok(body)
        }
        AppRef::ClientId(client_id) => {
            let filter = format!("appId eq {}", odata_string(client_id));
            let query = [("$filter", filter.as_str()), ("$select", SELECT)];
            let url = endpoint(graph, &["servicePrincipals"], &query)?;
            let page: Page<ServicePrincipalBody> = http
                .get_json(url.as_str(), &mut stats.requests)
                .await
                .map_err(unexpected_resync)?;
            stats.pages += 1;
            let mut found = page.value.into_iter();
            match (found.next(), found.next()) {
                (Some(principal), None) => Ok(principal),
                (None, _) => Err(not_found(format!(
                    "no service principal (enterprise application) has the application id {client_id}; check [source] app, or create the enterprise application in Entra"
                ))),
                (Some(_), Some(_)) => Err(not_found(format!(
                    "more than one service principal has the application id {client_id}; name one by service_principal_id in [source] app"
                ))),
            }
        }
    }
}

/// Every assignment of the service principal `id`, following `@odata.nextLink`.
async fn assignments(
    http: &GraphHttp,
    graph: &str,
    id: &str,
    stats: &mut RoundStats,
) -> Result<Vec<Assignment>, SourceError> {
    let select = "principalId,principalType,appRoleId";
    let query = [("$select", select), ("$top", "999")];
    let home = endpoint(
        graph,
        &["servicePrincipals", id, "appRoleAssignedTo"],
        &query,
    )?;
    let listed: Vec<AssignmentBody> = every_page(http, home.to_string(), stats).await?;
    let mut assignments: Vec<Assignment> = listed
        .into_iter()
        .map(|a| Assignment {
            principal_kind: match a.principal_type.as_deref() {
                Some("User") => MemberKind::User,
                Some("Group") => MemberKind::Group,
                _ => MemberKind::Other,
            },
            principal_id: a.principal_id,
            app_role_id: a.app_role_id,
        })
        .collect();
    assignments.sort();
    assignments.dedup();
    Ok(assignments)
}
