//! The AWS control plane's tests in one binary (each test binary links the whole tree): a module per
//! concern, against moto and the wire-protocol test servers in support/.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../tollgate-providers/tests/support/aws_server.rs"]
mod aws_server;
#[path = "../support/cloudformation.rs"]
mod cloudformation;
#[path = "../support/moto.rs"]
mod moto;
#[path = "../support/stack.rs"]
mod stack;

mod playground;
mod recorded;
mod reference_deployment;
mod reports;
mod tenants;
mod usage_logs;
