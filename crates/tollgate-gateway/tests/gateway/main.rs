//! The gateway's tests in one binary (each test binary links the whole tree, minutes on two
//! cores): one module per feature over one harness (`common`) and the shared mock upstream
//! (`tollgate-testkit`); `faults` holds one module per guarantee under faults and hostile clients.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../tollgate-providers/tests/support/aws_server.rs"]
mod aws_server;
#[path = "../common/mod.rs"]
mod common;
#[path = "../../../tollgate-providers/tests/support/sdk.rs"]
mod sdk;

mod admin_api;
mod admin_reports;
mod admin_roles;
mod auth;
mod aws_models;
mod bad_input;
mod chat_fast_path;
mod faults;
mod limits;
mod local_model;
mod long_polling;
mod metering;
mod openai_api;
mod openapi;
mod reference_notebooks;
mod shutdown;
mod sse;
mod team_binding;
mod threads;
mod tls;
