//! Microsoft Graph: the first stage of the flow (`source/ → snapshot/ → rules/ → plan/ → target/`).
//!
//! Fetches complete delta rounds of the scoped groups and of the users, and nothing else: the
//! engine commits what it returns to the snapshot.

pub mod model;
