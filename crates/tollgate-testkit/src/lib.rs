//! Test doubles shared by Tollgate's tests, so each crate's tests drive the same peer rather than
//! a copy of their own: one mock OpenAI-compatible upstream ([`MockUpstream`]) whose behaviour a
//! test picks through the upstream model name (`upstream-chat+delay300+no-usage`, see [`knobs`]).
//!
//! Also a certificate authority made in the test ([`TestCa`]) for TLS.
//!
//! Test code only: product crates take it as a dev-dependency and nothing else.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a mock that cannot bind or parse should fail the test at once, loudly"
)]

pub mod knobs;
mod tls;
mod upstream;

pub use knobs::UPSTREAM_KEY;
pub use tls::{Issued, TestCa};
pub use upstream::{MockUpstream, Script, Seen};
