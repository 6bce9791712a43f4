//! The tollgate binary's tests in one test binary (each test binary links the whole tree): a module per
//! command family, each running the real binary over the helpers in common/.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../tollgate-providers/tests/support/aws_server.rs"]
mod aws_server;
#[path = "../../../tollgate-aws/tests/support/cloudformation.rs"]
mod cloudformation;
#[path = "../common/mod.rs"]
mod common;
#[path = "../../../tollgate-aws/tests/support/moto.rs"]
mod moto;
#[path = "../../../tollgate-aws/tests/support/stack.rs"]
mod stack;

mod admin_token_cli;
mod audit_cli;
mod aws_cli;
mod aws_workspace_cli;
mod db_cli;
mod engines;
mod key_cli;
mod openai_sdk;
mod packaging;
mod price_cli;
mod remote_cli;
mod report_cli;
mod serve_tls;
mod tenant_cli;
