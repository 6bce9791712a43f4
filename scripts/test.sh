#!/usr/bin/env bash
# Sets up and runs every check and test: formatting, clippy (warnings are errors), the test suite
# under nextest, and the doc tests. Non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh

echo "== console UI: svelte-check and vitest"
(cd ui && npm run --silent check && npm run --silent test)
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== doc tests"
cargo test --workspace --locked --doc
echo "== cargo nextest"
# The console's end-to-end tests drive the real app: give them an X display when there is none.
if [ -z "${DISPLAY:-}" ]; then
    display=":$((100 + RANDOM % 800))"
    Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
    xvfb_pid=$!
    trap 'kill "$xvfb_pid" 2>/dev/null || true' EXIT
    export DISPLAY="$display"
    for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X${display#:}" ] && break; sleep 0.1; done
fi
# The end-to-end tests launch the console binary itself.
cargo build --locked -p tollgate-console
cargo nextest run --workspace --locked --profile ci
