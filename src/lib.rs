//! entrasync keeps an application's users in step with Microsoft Entra ID.
//!
//! The flow of one cycle (ARCHITECTURE §1), each stage a module:
//! `source/` (Graph delta rounds) → `snapshot/` (sled) → `rules/` → `plan/` → `target/`.
//! `engine` runs a cycle in that order; `cli` decides when; `config` turns the file into
//! validated values first; `emulator` is a local Graph for the tests and the demo.

pub mod cli;
pub mod config;
pub mod credential;
pub mod daemon;

pub mod demo;
pub mod emulator;
pub mod engine;
pub mod files;
pub mod plan;
pub mod requests;
pub mod retry;
pub mod rules;
pub mod secret;
pub mod snapshot;
pub mod source;
pub mod target;
pub mod tls;
