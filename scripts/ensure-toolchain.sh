#!/usr/bin/env bash
# Checks for the Rust toolchain and installs the cargo tools the project uses. Idempotent and quick
# when everything is already there. Sourced by the other scripts.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is not installed. Install Rust 1.88 or newer with rustup:" >&2
    echo "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y && . \"\$HOME/.cargo/env\"" >&2
    exit 1
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# A C compiler builds the bundled SQLite.
if ! command -v cc >/dev/null 2>&1; then
    echo "installing a C compiler (build-essential) for the bundled SQLite" >&2
    as_root apt-get update -qq && as_root apt-get install -y -qq build-essential pkg-config >/dev/null
fi
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component"
    fi
done
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest from crates.io" >&2
    cargo install cargo-nextest --locked
fi

# The OpenAI Python SDK, for the test that drives the gateway with it unchanged.
if ! command -v python3 >/dev/null 2>&1; then
    as_root apt-get update -qq && as_root apt-get install -y -qq python3 python3-pip >/dev/null
fi
if ! python3 -c 'import openai' >/dev/null 2>&1; then
    echo "installing the openai Python package from PyPI" >&2
    python3 -m pip install -q 'openai>=1.40,<3' 2>/dev/null || python3 -m pip install -q --break-system-packages 'openai>=1.40,<3'
fi

# Builds land outside the checkout so fresh clones (and CI) reuse earlier work.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}"
