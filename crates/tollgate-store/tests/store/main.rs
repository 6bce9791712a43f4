//! The store's tests in one binary (each test binary links the whole tree): a module per concern
//! over one helper module (common).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod admin_tokens;
mod audit_pages;
mod crash;
mod ledger;
mod open;
mod queries;
mod report_sync;
mod tenants_keys;
