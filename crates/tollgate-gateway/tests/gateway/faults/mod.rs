//! Tollgate's promise under faults and hostile clients, one module per guarantee.

mod budget_reservations;
mod busy_database;
mod client_hangs_up;
mod connections;
mod no_usage;
mod ops_access;
mod slow_reader;
mod stuck_ledger;
mod upstream_errors;
