//! What the emulator counts and what it breaks on purpose: the endpoints it serves, the request
//! counters tests assert on, and the faults tests inject (graph-delta.md §4–5, §9).
//!
//! Part of `emulator/`. `server.rs` asks [`Faults::take`] before answering each request; a rule
//! matches an endpoint and a page of a round (0 is the first request of a round, whether it is
//! the initial query or a delta link) and fires a number of times, or always.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The endpoints of the emulator, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// `POST /{tenant}/oauth2/v2.0/token` (faults fire here only when a rule names it)
    Token,
    /// `GET /v1.0/users/delta`
    UsersDelta,
    /// `GET /v1.0/groups/delta`
    GroupsDelta,
    /// `GET /v1.0/users` (every user, paged)
    UsersList,
    /// `GET /v1.0/users/{id}`
    User,
    /// `GET /v1.0/users/{id}/memberOf`
    MemberOf,
    /// `GET /v1.0/groups` (with `$filter=displayName eq '…'`)
    GroupsList,
    /// `GET /v1.0/groups/{id}`
    Group,
    /// `GET /v1.0/groups/{id}/members`
    Members,
    /// `GET /v1.0/groups/{id}/transitiveMembers`
    TransitiveMembers,
    /// `GET /v1.0/servicePrincipals` (with `$filter=appId eq '…'`)
    ServicePrincipals,
    /// `GET /v1.0/servicePrincipals/{id}` (or `(appId='…')`)
    ServicePrincipal,
    /// `GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo`
    AppRoleAssignedTo,
    /// Anything else (answered 400, as Graph answers an unknown segment).
    Other,
}

/// A way for a request to go wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 with Graph's throttling body and, if given, this `Retry-After` (e.g. `"2.128"`).
    TooManyRequests { retry_after: Option<String> },
    /// 503, with `Retry-After` if given.
    ServiceUnavailable { retry_after: Option<String> },
    /// 504.
    GatewayTimeout,
    /// 410 Gone with a `Location` of the initial query: the tenant moved, resync.
    Gone,
    /// 400 `syncStateNotFound`: the delta token expired.
    SyncStateNotFound,
    /// 400 `resyncRequired`.
    ResyncRequired,
    /// 400 `BadRequest` whose nested `innerError` says `SyncStateNotFound` (other case too).
    NestedSyncStateNotFound,
    /// Any status with Graph's error envelope and this code.
    Status { status: u16, code: String },
    /// Answers normally, but only after this long.
    Slow { delay: std::time::Duration },
    /// Never answers (until the emulator shuts down).
    Hang,
    /// Answers 200 but the connection closes halfway through the body.
    TruncatedBody,
    /// The page also carries every object of the page served `earlier` pages before it in the
    /// same round (Graph may repeat objects anywhere in a round).
    Replay { earlier: u32 },
    /// Answers `status` with exactly `body` (as `application/json`, whatever it holds): a
    /// malformed page, a proxy's HTML, an empty body, a link to elsewhere.
    Body { status: u16, body: Vec<u8> },
}

impl FaultKind {
    /// [`FaultKind::Body`] with status 200 and this text.
    pub fn body(text: impl Into<String>) -> FaultKind {
        FaultKind::Body {
            status: 200,
            body: text.into().into_bytes(),
        }
    }
}

/// When a fault fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    pub kind: FaultKind,
    /// `None`: any endpoint.
    pub endpoint: Option<Endpoint>,
    /// `None`: any page.
    pub page: Option<u32>,
    /// How many more times it fires; `None`: always.
    pub remaining: Option<u32>,
}

impl FaultRule {
    /// A rule that fires once, on any endpoint and page, until narrowed.
    pub fn new(kind: FaultKind) -> FaultRule {
        FaultRule {
            kind,
            endpoint: None,
            page: None,
            remaining: Some(1),
        }
    }

    pub fn on(mut self, endpoint: Endpoint) -> FaultRule {
        self.endpoint = Some(endpoint);
        self
    }

    pub fn at_page(mut self, page: usize) -> FaultRule {
        self.page = Some(u32::try_from(page).unwrap_or(u32::MAX));
        self
    }

    pub fn times(mut self, times: u32) -> FaultRule {
        self.remaining = Some(times);
        self
    }

    pub fn always(mut self) -> FaultRule {
        self.remaining = None;
        self
    }

    fn matches(&self, endpoint: Endpoint, page: u32) -> bool {
        self.remaining != Some(0)
            && self.endpoint.is_none_or(|e| e == endpoint)
            && self.page.is_none_or(|p| p == page)
    }
}

/// The faults waiting to fire.
#[derive(Debug, Default)]
pub struct Faults(Mutex<Vec<FaultRule>>);

impl Faults {
    pub fn add(&self, rule: FaultRule) {
        lock(&self.0).push(rule);
    }

    /// The next request to `endpoint`, whatever its page, fails once this way.
    pub fn inject(&self, endpoint: Endpoint, kind: FaultKind) {
        self.add(FaultRule::new(kind).on(endpoint));
    }

    pub fn clear(&self) {
        lock(&self.0).clear();
    }

    /// True when some rule could still replay pages (the server then remembers recent pages).
    pub fn may_replay(&self) -> bool {
        lock(&self.0)
            .iter()
            .any(|r| matches!(r.kind, FaultKind::Replay { .. }) && r.remaining != Some(0))
    }

    /// The fault for this request, if a rule fires; the first matching rule wins.
    pub fn take(&self, endpoint: Endpoint, page: u32) -> Option<FaultKind> {
        self.take_where(|r| r.matches(endpoint, page))
    }

    /// The fault for a token request: only a rule that names [`Endpoint::Token`] fires there,
    /// so a rule for "any endpoint" keeps breaking Graph, not the sign-in before it.
    pub fn take_token(&self) -> Option<FaultKind> {
        self.take_where(|r| r.endpoint == Some(Endpoint::Token) && r.matches(Endpoint::Token, 0))
    }

    fn take_where(&self, fires: impl Fn(&FaultRule) -> bool) -> Option<FaultKind> {
        let mut rules = lock(&self.0);
        let rule = rules.iter_mut().find(|r| fires(r))?;
        if let Some(left) = rule.remaining.as_mut() {
            *left -= 1;
        }
        Some(rule.kind.clone())
    }
}

/// Requests served, per endpoint (faulted and refused ones included).
#[derive(Debug, Default)]
pub struct RequestLog(Mutex<BTreeMap<Endpoint, u64>>);

impl RequestLog {
    pub fn record(&self, endpoint: Endpoint) {
        *lock(&self.0).entry(endpoint).or_default() += 1;
    }

    pub fn count(&self, endpoint: Endpoint) -> u64 {
        lock(&self.0).get(&endpoint).copied().unwrap_or(0)
    }

    /// Every request but token requests.
    pub fn graph_total(&self) -> u64 {
        lock(&self.0)
            .iter()
            .filter(|(e, _)| **e != Endpoint::Token)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn reset(&self) {
        lock(&self.0).clear();
    }
}

/// Locks a mutex; a panic elsewhere while holding it cannot leave these counters inconsistent,
/// so a poisoned lock is simply taken over.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_fire_where_and_as_often_as_told() {
        let faults = Faults::default();
        faults.add(
            FaultRule::new(FaultKind::GatewayTimeout)
                .on(Endpoint::UsersDelta)
                .at_page(1)
                .times(2),
        );
        faults.add(
            FaultRule::new(FaultKind::Hang)
                .on(Endpoint::GroupsDelta)
                .always(),
        );
        assert_eq!(faults.take(Endpoint::UsersDelta, 0), None);
        assert_eq!(
            faults.take(Endpoint::UsersDelta, 1),
            Some(FaultKind::GatewayTimeout)
        );
        assert_eq!(
            faults.take(Endpoint::UsersDelta, 1),
            Some(FaultKind::GatewayTimeout)
        );
        assert_eq!(
            faults.take(Endpoint::UsersDelta, 1),
            None,
            "fired twice only"
        );
        for page in [0, 5, 9] {
            assert_eq!(
                faults.take(Endpoint::GroupsDelta, page),
                Some(FaultKind::Hang)
            );
        }
        faults.clear();
        assert_eq!(faults.take(Endpoint::GroupsDelta, 0), None);
    }

    #[test]
    fn token_faults_fire_only_when_named() {
        let faults = Faults::default();
        faults.add(FaultRule::new(FaultKind::GatewayTimeout).always());
        assert_eq!(
            faults.take_token(),
            None,
            "any endpoint is any Graph endpoint"
        );
        faults.add(FaultRule::new(FaultKind::body("<html>")).on(Endpoint::Token));
        assert_eq!(faults.take_token(), Some(FaultKind::body("<html>")));
        assert_eq!(faults.take_token(), None, "once");
    }
}
