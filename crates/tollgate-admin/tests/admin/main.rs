//! The console backend's tests in one binary (each test binary links the whole tree): a module per
//! screen or concern, over the shared mock upstream (tollgate-testkit) and the helpers in support/.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../tollgate-providers/tests/support/aws_server.rs"]
mod aws_server;
#[path = "../support/index.rs"]
mod index;
#[path = "../../../tollgate-aws/tests/support/moto.rs"]
mod moto;
#[path = "../../../tollgate-providers/tests/support/sdk.rs"]
mod sdk;
#[path = "../support/seed.rs"]
mod seed;
#[path = "../../../tollgate-aws/tests/support/stack.rs"]
mod stack;

mod aws_workspace;
mod bedrock_playground;
mod charts;
mod console;
mod costs;
mod model_install;
mod playground;
mod tenants;
mod workspaces;
