//! The providers' tests in one binary (each test binary links the whole tree): a module per
//! provider, over the shared mock upstream (tollgate-testkit) and the AWS wire-protocol test server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/aws_server.rs"]
mod aws_server;
#[path = "../support/sdk.rs"]
mod sdk;

mod bedrock;
mod local_model;
mod openai_upstream;
mod sagemaker;
