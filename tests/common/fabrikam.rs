//! The app-role fixture tenant (`tests/fixtures/app-roles-tenant.json`) and the ids the tests
//! look for in it, shared by `tests/emulator_app_roles.rs` and `tests/source_apps.rs`. Include it
//! as `#[path = "common/fabrikam.rs"] mod fabrikam;`.
#![allow(dead_code)] // each test file uses its own subset

/// Two apps; 'Fabrikam Planner' has five roles (one disabled, one app-only) and nine
/// assignments (six to users, three to groups).
pub const FIXTURE: &str = include_str!("../fixtures/app-roles-tenant.json");
/// 'Fabrikam Planner''s application (client) id.
pub const APP_ID: &str = "9c1f2e3d-4b5a-4c6d-8e7f-0a1b2c3d4e5f";
pub const ADMIN: &str = "3d5a1c2b-7e8f-4a9b-8c0d-1e2f3a4b5c6d";
pub const EDITOR: &str = "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d";
/// The disabled role.
pub const LEGACY: &str = "f0e1d2c3-b4a5-4968-8776-5a4b3c2d1e0f";
pub const APP_ONLY: &str = "1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6";
