#!/usr/bin/env bash
# Sets up and runs every check and test: formatting, clippy (warnings are errors), the test suite
# under nextest, and the doc tests. Non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== doc tests"
cargo test --workspace --locked --doc
echo "== cargo nextest"
cargo nextest run --workspace --locked --profile ci
