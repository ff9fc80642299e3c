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
//! - `members`, `transitive`: u32 big-endian length of the group id ‖ group id ‖ member id → one
//!   byte, [`MemberKind::code`]. The length prefix makes a group's entries one contiguous range
//!   with no separator that an opaque id could contain, sorted by member id;
//! - `gone`: user id → JSON [`Tombstone`](super::Tombstone);
//! - `links`: `users` → delta link; `groups:` + JSON array of a chunk's sorted ids → delta link;
//! - `bindings`: configured `[source] groups` entry → group id.

use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Counts;
use crate::source::MemberKind;

/// The schema this build reads and writes.
pub(super) const SCHEMA_VERSION: u32 = 1;
pub(super) const SCHEMA_KEY: &[u8] = b"schema_version";
pub(super) const COUNTS_KEY: &[u8] = b"counts";
pub(super) const PENDING_KEY: &[u8] = b"commit_pending";
pub(super) const USERS_LINK_KEY: &[u8] = b"users";
pub(super) const GROUP_LINK_PREFIX: &[u8] = b"groups:";

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
}

pub(super) const TREE_COUNT: usize = 8;

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
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// The key prefix shared by every membership entry of `group` (length ‖ id).
///
/// `None` for an id longer than `u32::MAX` bytes, which no Graph response can carry; callers that
/// read treat it as "no entries", the commit refuses it.
pub(super) fn member_prefix(group: &str) -> Option<Vec<u8>> {
    let len = u32::try_from(group.len()).ok()?;
    let mut key = Vec::with_capacity(4 + group.len());
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(group.as_bytes());
    Some(key)
}

/// The membership key of `member` in the group whose [`member_prefix`] is `prefix`.
pub(super) fn member_key(prefix: &[u8], member: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + member.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(member.as_bytes());
    key
}

/// Splits a membership key into (group id, member id); `None` if it is not one.
pub(super) fn split_member_key(key: &[u8]) -> Option<(&str, &str)> {
    let (len, rest) = key.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    let (group, member) = rest.split_at(len);
    Some((
        std::str::from_utf8(group).ok()?,
        std::str::from_utf8(member).ok()?,
    ))
}

/// The value of a membership entry.
pub(super) fn member_value(kind: MemberKind) -> [u8; 1] {
    [kind.code()]
}

/// Reads a membership value; anything but one byte is damage.
pub(super) fn decode_member_value(value: &[u8]) -> Option<MemberKind> {
    match value {
        [code] => Some(MemberKind::from_code(*code)),
        _ => None,
    }
}

/// The smallest key greater than every key that starts with `prefix`; `None` if there is none
/// (the prefix is all `0xff`). Used to hop from one group's entries to the next one's.
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
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
    use super::*;

    #[test]
    fn membership_keys_round_trip_and_keep_groups_apart() {
        let cases = [("g", "m"), ("", "m"), ("g", ""), ("ab", "c"), ("a", "bc")];
        for (group, member) in cases {
            let prefix = member_prefix(group).expect("short id");
            let key = member_key(&prefix, member);
            assert_eq!(split_member_key(&key), Some((group, member)));
            assert!(key.starts_with(&prefix));
        }
        // "ab"+"c" and "a"+"bc" concatenate alike but their keys differ.
        let ab = member_key(&member_prefix("ab").expect("short"), "c");
        let a = member_key(&member_prefix("a").expect("short"), "bc");
        assert_ne!(ab, a);
        assert_eq!(split_member_key(&[0, 0, 0, 9, b'x']), None);
    }

    #[test]
    fn prefix_end_is_past_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
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
