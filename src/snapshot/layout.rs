//! The snapshot's layout on disk (`source → snapshot → rules → plan → target`): which trees exist,
//! how keys are built and how values are encoded. Pure functions, no sled calls; the only file to
//! change (with a schema version and a migration) when the layout changes.
//!
//! Trees and their entries, schema version 1:
//! - `meta`: `schema_version` → u32 big-endian; `counts` → users, groups, memberships as three u64
//!   big-endian (kept in step by every commit, so counting is one read); `commit_pending` → u64
//!   big-endian Unix seconds, only while a large commit is being staged (see `apply.rs`);
//! - `users`: user id → JSON [`User`](crate::source::User);
//! - `groups`: group id → JSON [`Group`](crate::source::Group), scoped groups only;
//! - `members`, `transitive`: group id → the group's whole member list, one value per group (a
//!   first commit writes one key per group, not one per membership): u32 big-endian count, then
//!   per member, sorted by id, u32 big-endian id length ‖ id ‖ one byte [`MemberKind::code`]. A
//!   group with no members has no entry (never an empty list);
//! - `gone`: user id → JSON [`Tombstone`](super::Tombstone);
//! - `links`: `users` → delta link; `groups:` + JSON array of a chunk's sorted ids → delta link;
//! - `bindings`: configured `[source] groups` entry → group id;
//! - `pushed`: user id → JSON [`PushedUser`](crate::plan::PushedUser), what the target last
//!   accepted for the user and its id there;
//! - `log`: u64 big-endian sequence (sled's monotonic id) → JSON [`LogEntry`](super::LogEntry),
//!   the provisioning log;
//! - `cycles`: u64 big-endian sequence → JSON summary of a cycle (the engine's), the last
//!   [`CYCLES_KEPT`](super::CYCLES_KEPT) only;
//! - `unconfirmed`: user id → JSON [`PushedUser`](crate::plan::PushedUser) (its `target_id`
//!   empty): a create sent to the target whose answer was never recorded (a crash, a timeout);
//!   the next cycle looks such users up in the target before it plans. Added within schema 1: an
//!   older snapshot simply has it empty;
//! - `dirty`: user id → empty: a user whose rules must be evaluated again — written by the commit
//!   that changed the user or one of its memberships, removed once the target confirmed what the
//!   rules then wanted (see `evaluation.rs`). With `meta/evaluated` (the fingerprint of the
//!   configuration the rules last ran over everyone with) it lets a cycle evaluate only those
//!   users. Added within schema 1: an older snapshot has no fingerprint, so its next cycle
//!   evaluates everyone;
//! - `verdicts`: what the rules said of the users in scope, for the totals a cycle reports: `s:` +
//!   the first [`BUCKET_BYTES`] bytes of a user id → the users in scope whom the rules want in
//!   the target (not held by a rule error) with ids starting so, as a member list (a few thousand
//!   keys for the whole tenant: sled costs some 3 KB of memory per key written, so not one per
//!   user); `e:` + user id → JSON [`RuleError`](crate::rules::RuleError), for users with one;
//!   `x:` + user id → the user's Entra department, and `d:` + u32 big-endian length of that
//!   department ‖ the department ‖ user id → empty, for users whose department no alias maps;
//!   [`IN_SCOPE_KEY`] → u64 big-endian count of the users in the `s:` lists;
//! - `assignments`: `u:` or `g:` + the id of a user or group assigned to `[source] app` → JSON
//!   array of the sorted role ids it holds; with `meta/app` → JSON of the app's service principal
//!   and role definitions (see `app.rs`). Added within schema 1: an older snapshot has neither,
//!   and its first cycle with an app writes them and evaluates everyone.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Counts;
use crate::source::{Member, MemberKind};

/// The schema this build reads and writes.
pub(super) const SCHEMA_VERSION: u32 = 1;
pub(super) const SCHEMA_KEY: &[u8] = b"schema_version";
pub(super) const COUNTS_KEY: &[u8] = b"counts";
pub(super) const PENDING_KEY: &[u8] = b"commit_pending";
pub(super) const USERS_LINK_KEY: &[u8] = b"users";
pub(super) const GROUP_LINK_PREFIX: &[u8] = b"groups:";
/// `meta`: the fingerprint of the configuration every user was last evaluated with.
pub(super) const EVALUATED_KEY: &[u8] = b"evaluated";
/// `verdicts`: how many users are in scope (the count of `u:` entries).
pub(super) const IN_SCOPE_KEY: &[u8] = b"#in_scope";
pub(super) const BUCKET_PREFIX: &[u8] = b"s:";
pub(super) const ERROR_PREFIX: &[u8] = b"e:";
pub(super) const UNMAPPED_PREFIX: &[u8] = b"x:";
pub(super) const DEPARTMENT_PREFIX: &[u8] = b"d:";
/// How many leading bytes of a user id name its `s:` bucket: some 4,000 buckets of GUIDs.
pub(super) const BUCKET_BYTES: usize = 3;

/// The trees of the snapshot, in a fixed order (their index in [`TreeId::ALL`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum TreeId {
    Meta,
    Users,
    Groups,
    Members,
    Transitive,
    Gone,
    Links,
    Bindings,
    Pushed,
    Log,
    Cycles,
    Unconfirmed,
    Dirty,
    Verdicts,
    Assignments,
}

pub(super) const TREE_COUNT: usize = 15;

impl TreeId {
    pub(super) const ALL: [TreeId; TREE_COUNT] = [
        TreeId::Meta,
        TreeId::Users,
        TreeId::Groups,
        TreeId::Members,
        TreeId::Transitive,
        TreeId::Gone,
        TreeId::Links,
        TreeId::Bindings,
        TreeId::Pushed,
        TreeId::Log,
        TreeId::Cycles,
        TreeId::Unconfirmed,
        TreeId::Dirty,
        TreeId::Verdicts,
        TreeId::Assignments,
    ];

    /// The sled tree name.
    pub(super) fn name(self) -> &'static str {
        match self {
            TreeId::Meta => "meta",
            TreeId::Users => "users",
            TreeId::Groups => "groups",
            TreeId::Members => "members",
            TreeId::Transitive => "transitive",
            TreeId::Gone => "gone",
            TreeId::Links => "links",
            TreeId::Bindings => "bindings",
            TreeId::Pushed => "pushed",
            TreeId::Log => "log",
            TreeId::Cycles => "cycles",
            TreeId::Unconfirmed => "unconfirmed",
            TreeId::Dirty => "dirty",
            TreeId::Verdicts => "verdicts",
            TreeId::Assignments => "assignments",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// The value of a group's entry in `members` or `transitive`: `members`, which must be sorted by
/// id with no id twice (a `BTreeMap`'s order, or a merge of such). `None` for more than
/// `u32::MAX` members or an id longer than `u32::MAX` bytes, which no Graph response can carry;
/// the commit refuses it.
pub(super) fn encode_members<'a>(
    members: impl IntoIterator<Item = (&'a str, MemberKind)>,
) -> Option<Vec<u8>> {
    let mut out = vec![0; 4];
    let mut count: u32 = 0;
    let mut last: Option<&str> = None;
    for (id, kind) in members {
        debug_assert!(last.is_none_or(|last| last < id), "members sorted by id");
        last = Some(id);
        count = count.checked_add(1)?;
        out.extend_from_slice(&u32::try_from(id.len()).ok()?.to_be_bytes());
        out.extend_from_slice(id.as_bytes());
        out.push(kind.code());
    }
    out[..4].copy_from_slice(&count.to_be_bytes());
    Some(out)
}

/// Reads a member list written by [`encode_members`], borrowing the ids from `value`. Anything
/// else is damage (`None`): a count that does not match, a length past the end, bytes left over,
/// an id that is not UTF-8, ids out of order or repeated. An unknown kind byte reads as `Other`,
/// as [`MemberKind::from_code`] defines.
pub(super) fn decode_member_refs(value: &[u8]) -> Option<Vec<(&str, MemberKind)>> {
    let count = member_count(value)?;
    let mut rest = &value[4..];
    let mut members: Vec<(&str, MemberKind)> = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        if tail.len() <= len {
            return None;
        }
        let (id, tail) = tail.split_at(len);
        let id = std::str::from_utf8(id).ok()?;
        if members.last().is_some_and(|(last, _)| *last >= id) {
            return None;
        }
        members.push((id, MemberKind::from_code(tail[0])));
        rest = &tail[1..];
    }
    rest.is_empty().then_some(members)
}

/// [`decode_member_refs`], owned.
pub(super) fn decode_members(value: &[u8]) -> Option<Vec<Member>> {
    let members = decode_member_refs(value)?.into_iter();
    let owned = members.map(|(id, kind)| Member {
        id: id.to_owned(),
        kind,
    });
    Some(owned.collect())
}

/// The count a member list starts with, without reading the rest; `None` if the value is too
/// short to hold that many members (so a garbage count never sizes an allocation). What the
/// commit's membership count changes by.
pub(super) fn member_count(value: &[u8]) -> Option<usize> {
    let (count, rest) = value.split_first_chunk::<4>()?;
    let count = usize::try_from(u32::from_be_bytes(*count)).ok()?;
    (rest.len() / 5 >= count).then_some(count)
}

/// The `links` key of a groups chunk: `groups:` + JSON array of its ids.
pub(super) fn group_link_key(ids: &[String]) -> Vec<u8> {
    let mut key = GROUP_LINK_PREFIX.to_vec();
    key.extend_from_slice(&json(&ids));
    key
}

/// The ids of a groups chunk from its `links` key; `None` if it is not a groups link.
pub(super) fn decode_group_link_key(key: &[u8]) -> Option<io::Result<Vec<String>>> {
    let ids = key.strip_prefix(GROUP_LINK_PREFIX)?;
    Some(decode_json(ids))
}

pub(super) fn encode_version(version: u32) -> [u8; 4] {
    version.to_be_bytes()
}

pub(super) fn decode_version(value: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(*<&[u8; 4]>::try_from(value).ok()?))
}

pub(super) fn encode_counts(counts: Counts) -> [u8; 24] {
    let mut out = [0; 24];
    for (chunk, n) in out
        .chunks_exact_mut(8)
        .zip([counts.users, counts.groups, counts.memberships])
    {
        chunk.copy_from_slice(&(n as u64).to_be_bytes());
    }
    out
}

pub(super) fn decode_counts(value: &[u8]) -> Option<Counts> {
    let value = <&[u8; 24]>::try_from(value).ok()?;
    let mut n = value.chunks_exact(8).map(|chunk| {
        let bytes: [u8; 8] = chunk.try_into().ok()?;
        usize::try_from(u64::from_be_bytes(bytes)).ok()
    });
    Some(Counts {
        users: n.next()??,
        groups: n.next()??,
        memberships: n.next()??,
    })
}

/// A key of `verdicts`: `prefix` + `id`.
pub(super) fn prefixed(prefix: &[u8], id: &str) -> Vec<u8> {
    [prefix, id.as_bytes()].concat()
}

/// The `verdicts` key of the bucket holding `id`.
pub(super) fn bucket_key(id: &str) -> Vec<u8> {
    let bytes = id.as_bytes();
    [BUCKET_PREFIX, &bytes[..bytes.len().min(BUCKET_BYTES)]].concat()
}

/// The `verdicts` key of a user whose Entra department no alias maps, or with `id` empty the
/// prefix of every such key for that department. `None` for a department longer than 4 GiB.
pub(super) fn department_key(department: &str, id: &str) -> Option<Vec<u8>> {
    let len = u32::try_from(department.len()).ok()?.to_be_bytes();
    Some(
        [
            DEPARTMENT_PREFIX,
            &len,
            department.as_bytes(),
            id.as_bytes(),
        ]
        .concat(),
    )
}

/// The department and user id of a [`department_key`]; `None` if it is not one.
pub(super) fn decode_department_key(key: &[u8]) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(DEPARTMENT_PREFIX)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    let (department, id) = rest.split_at(len);
    Some((
        std::str::from_utf8(department).ok()?,
        std::str::from_utf8(id).ok()?,
    ))
}

/// JSON for a stored value. Only the snapshot's own types and the source model come here: plain
/// structs of strings, bools, numbers and enums, which always serialise.
pub(super) fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("snapshot values are plain structs and always serialise")
}

/// Reads a stored JSON value; a failure is damage, reported as `InvalidData`.
pub(super) fn decode_json<T: DeserializeOwned>(value: &[u8]) -> io::Result<T> {
    serde_json::from_slice(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A stored key that must be UTF-8 (an id).
pub(super) fn decode_id(key: &[u8]) -> io::Result<String> {
    String::from_utf8(key.to_vec()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn list(members: &[(&str, MemberKind)]) -> BTreeMap<String, MemberKind> {
        members
            .iter()
            .map(|(id, k)| ((*id).to_owned(), *k))
            .collect()
    }

    fn refs(members: &BTreeMap<String, MemberKind>) -> impl Iterator<Item = (&str, MemberKind)> {
        members.iter().map(|(id, kind)| (id.as_str(), *kind))
    }

    #[test]
    fn member_lists_round_trip_sorted_by_id() {
        use MemberKind::{Group, Other, User};
        let cases = [
            list(&[]),
            list(&[("u1", User)]),
            list(&[("", Other), ("b", User), ("a", Group), ("é😀", User)]),
            (0..1000)
                .map(|i| (format!("{i:08x}-0000-4000-8000-{i:012x}"), User))
                .collect(),
        ];
        for members in cases {
            let value = encode_members(refs(&members)).expect("encodes");
            assert_eq!(member_count(&value), Some(members.len()));
            let decoded = decode_members(&value).expect("decodes");
            let expected: Vec<Member> = members
                .iter()
                .map(|(id, kind)| Member {
                    id: id.clone(),
                    kind: *kind,
                })
                .collect();
            assert_eq!(decoded, expected);
        }
        // Ids that concatenate alike stay apart.
        let ab = encode_members([("ab", User), ("c", User)]);
        let a = encode_members([("a", User), ("bc", User)]);
        assert_ne!(ab, a);
    }

    #[test]
    fn a_damaged_member_list_decodes_as_damage_not_a_panic() {
        let value =
            encode_members([("a", MemberKind::User), ("bc", MemberKind::Group)]).expect("encodes");
        // Cut anywhere, or with bytes left over.
        for len in 0..value.len() {
            assert_eq!(decode_members(&value[..len]), None, "cut at {len}");
        }
        assert_eq!(decode_members(&[value.as_slice(), b"x"].concat()), None);
        let cases: [(&str, &[u8]); 7] = [
            (
                "a count far past the end",
                &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, b'u'],
            ),
            (
                "a length past the end",
                &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xf0, b'a', b'u'],
            ),
            ("an id not UTF-8", &[0, 0, 0, 1, 0, 0, 0, 1, 0xff, b'u']),
            ("out of order", b"\0\0\0\x02\0\0\0\x01bu\0\0\0\x01au"),
            ("repeated", b"\0\0\0\x02\0\0\0\x01au\0\0\0\x01au"),
            ("text", b"not a member list"),
            ("a counts entry", &[0; 24]),
        ];
        for (name, value) in cases {
            assert_eq!(decode_members(value), None, "{name}");
        }
        assert_eq!(
            member_count(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, b'u']),
            None
        );
        // Any bytes at all: decoded or refused, never a panic.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (seed >> (i % 8 * 8)) as u8 % 8).collect();
            let _ = decode_members(&bytes);
        }
    }

    #[test]
    fn counts_and_versions_round_trip() {
        let counts = Counts {
            users: 100_000,
            groups: 7,
            memberships: 200_000,
        };
        assert_eq!(decode_counts(&encode_counts(counts)), Some(counts));
        assert_eq!(decode_counts(b"short"), None);
        assert_eq!(decode_version(&encode_version(1)), Some(1));
        assert_eq!(decode_version(b"1"), None);
    }

    #[test]
    fn group_link_keys_round_trip() {
        let ids = vec!["a".to_owned(), "b\"c".to_owned()];
        let key = group_link_key(&ids);
        assert_eq!(
            decode_group_link_key(&key).expect("a groups key").ok(),
            Some(ids)
        );
        assert!(decode_group_link_key(USERS_LINK_KEY).is_none());
    }
}
