//! The emulator's opaque tokens: `$skiptoken` (where the next page of a round starts) and
//! `$deltatoken` (where the next round starts: a position in the tenant's change log).
//!
//! Part of `emulator/`. Both carry the query's options, as Graph's do: only the first request of
//! a round names `$select` and `$filter`, every later one is the returned URL verbatim. A token
//! is hex over JSON, prefixed with a letter per kind; its content is nobody's business but the
//! emulator's, and clients treat it as opaque.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What a delta query asks for; fixed for the life of its tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// `$select`, as property names; `None`: Graph's default set.
    pub select: Option<Vec<String>>,
    /// `$filter=id eq '…' or …`, sorted; `None`: every object.
    pub filter: Option<Vec<String>>,
}

/// Where a page starts within its round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resume {
    /// With the first object whose id sorts after this one.
    After(String),
    /// Within this group, after this many members (a large group spans pages).
    Within(String, usize),
}

/// The state of a round between two pages (`$skiptoken`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub query: Query,
    /// The log position the round reports changes since; `None`: a full round.
    pub since: Option<u64>,
    /// The log position the round reports changes up to; its delta link carries it.
    pub upto: u64,
    /// The page this token asks for (0 is the round's first request).
    pub page: u32,
    pub resume: Option<Resume>,
    /// Tokens of an older generation are expired (`syncStateNotFound`).
    pub generation: u64,
    /// Which round this is, so pages can be replayed within it.
    pub round: u64,
}

/// Where the next round starts (`$deltatoken`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaToken {
    pub query: Query,
    pub position: u64,
    pub generation: u64,
}

const SKIP: char = 's';
const DELTA: char = 'd';

impl Cursor {
    pub fn encode(&self) -> String {
        encode(SKIP, self)
    }

    pub fn decode(token: &str) -> Option<Cursor> {
        decode(SKIP, token)
    }
}

impl DeltaToken {
    pub fn encode(&self) -> String {
        encode(DELTA, self)
    }

    pub fn decode(token: &str) -> Option<DeltaToken> {
        decode(DELTA, token)
    }
}

fn encode<T: Serialize>(prefix: char, value: &T) -> String {
    // Serializing these plain structs cannot fail: no maps with non-string keys, no floats.
    let json = serde_json::to_vec(value).expect("a token serializes");
    let mut text = String::with_capacity(1 + 2 * json.len());
    text.push(prefix);
    for byte in json {
        text.push(char::from(HEX[usize::from(byte >> 4)]));
        text.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    text
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn decode<T: DeserializeOwned>(prefix: char, token: &str) -> Option<T> {
    let hex = token.strip_prefix(prefix)?.as_bytes();
    if hex.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let bytes = hex
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect::<Option<Vec<u8>>>()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_garbage() {
        let cursor = Cursor {
            query: Query {
                select: Some(vec!["displayName".into()]),
                filter: Some(vec!["a'b".into()]),
            },
            since: Some(3),
            upto: 9,
            page: 2,
            resume: Some(Resume::Within("g".into(), 500)),
            generation: 1,
            round: 4,
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor.clone()));
        let delta = DeltaToken {
            query: cursor.query.clone(),
            position: 9,
            generation: 1,
        };
        assert_eq!(DeltaToken::decode(&delta.encode()), Some(delta.clone()));
        assert_eq!(
            Cursor::decode(&delta.encode()),
            None,
            "kinds are not mixed up"
        );
        for garbage in ["", "s", "s0", "szz", "latest", "d7b7d"] {
            assert_eq!(DeltaToken::decode(garbage), None, "{garbage}");
        }
    }
}
