#!/usr/bin/env bash
# Sets up and opens the Tollgate console on its embedded default (the Local workspace): installs
# what it needs, builds the console and the `tollgate` command (release), installs the built-in
# local model once, creates a demo tenant on first run, and opens the window. The console starts
# the gateway engine on 127.0.0.1:8787 (Settings changes the port) and keeps its data in
# ~/.local/share/tollgate (TOLLGATE_DATA_DIR overrides).
#
# On a machine without a desktop, scripts/serve.sh runs the gateway alone.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    echo "error: the console needs a desktop session (no DISPLAY or WAYLAND_DISPLAY)." >&2
    echo "  On a headless machine run the gateway alone: bash scripts/serve.sh" >&2
    echo "  Or give it a virtual display: xvfb-run -a bash scripts/run.sh" >&2
    exit 1
fi

cargo build --release --locked -p tollgate-console -p tollgate-cli
tollgate="$CARGO_TARGET_DIR/release/tollgate"
export TOLLGATE_DATA_DIR="${TOLLGATE_DATA_DIR:-$HOME/.local/share/tollgate}"
mkdir -p "$TOLLGATE_DATA_DIR"

# The built-in local model, so the playground answers with no cloud account (once; checked after).
"$tollgate" model install

if [ -z "$("$tollgate" --json tenant list | tr -d '[:space:][]')" ]; then
    "$tollgate" tenant create demo --name "Demo team" --cost-center DEMO \
        --rate 20/s --burst 40 --quota 10000/month --budget 10 >/dev/null
    echo "Created the tenant 'demo' (create its keys in the console: Tenants & keys)."
fi

echo "Opening the Tollgate console (data in $TOLLGATE_DATA_DIR)..."
exec "$CARGO_TARGET_DIR/release/tollgate-console"
