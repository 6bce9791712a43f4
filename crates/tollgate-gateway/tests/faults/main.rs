//! Tollgate's promise under faults and hostile clients, one module per guarantee, in one test
//! binary (each binary links the whole tree).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod budget_reservations;
mod busy_database;
mod client_hangs_up;
mod no_usage;
mod ops_access;
mod slow_reader;
mod stuck_ledger;
mod upstream_errors;
