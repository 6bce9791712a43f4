#!/usr/bin/env bash
# The gateway alone, for a machine without a desktop: builds the `tollgate` command, and on first
# run creates the data directory, a config, a demo tenant and its API key (printed once); then
# serves the gateway on 127.0.0.1:8787 until Ctrl-C. (scripts/run.sh opens the console instead.)
#
#   TOLLGATE_DATA_DIR     where the data lives [default ~/.local/share/tollgate]
#   TOLLGATE_UPSTREAM_URL an OpenAI-compatible server to offer as model "demo-model" on first run
#                         (the built-in local model "smollm2-135m-instruct" is always offered),
#                         e.g. http://127.0.0.1:11434/v1 (Ollama) or http://127.0.0.1:8000/v1 (vLLM)
#   TOLLGATE_UPSTREAM_MODEL the model name that server knows [default: demo-model]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh

cargo build --release --locked -p tollgate-cli
tollgate="$CARGO_TARGET_DIR/release/tollgate"
export TOLLGATE_DATA_DIR="${TOLLGATE_DATA_DIR:-$HOME/.local/share/tollgate}"
mkdir -p "$TOLLGATE_DATA_DIR"
config="$TOLLGATE_DATA_DIR/tollgate.toml"

if [ ! -f "$config" ]; then
    admin_token="tga_$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
    {
        echo "# Tollgate configuration; see docs/config.md"
        echo "[server]"
        echo "listen = \"127.0.0.1:8787\""
        echo "admin_token = \"$admin_token\""
        if [ -n "${TOLLGATE_UPSTREAM_URL:-}" ]; then
            echo
            echo "[[models]]"
            echo "id = \"demo-model\""
            echo "base_url = \"$TOLLGATE_UPSTREAM_URL\""
            echo "upstream_model = \"${TOLLGATE_UPSTREAM_MODEL:-demo-model}\""
            echo "price_as = \"anthropic.claude-3-haiku-20240307-v1:0\""
        fi
    } > "$config"
    chmod 600 "$config"
    echo "Wrote $config (admin token inside)."
fi

# The built-in local model, so the gateway answers with no cloud account (once; checked after).
"$tollgate" model install

if ! "$tollgate" tenant show demo >/dev/null 2>&1; then
    "$tollgate" tenant create demo --name "Demo team" --cost-center DEMO \
        --rate 20/s --burst 40 --quota 10000/month --budget 10 --budget-mode hard >/dev/null
    secret=$("$tollgate" --json key create demo --name demo-key | sed -n 's/.*"secret": "\(tg_[a-z2-7]*\)".*/\1/p')
    echo
    echo "Created tenant 'demo' and its API key (shown only this once):"
    echo
    echo "    $secret"
    echo
else
    secret="<the demo key printed on first run, or a new one: tollgate key create demo>"
fi

cat <<EOT
Call the gateway (reference API, then OpenAI API):

  curl -s 'http://127.0.0.1:8787/invoke_model?model_id=smollm2-135m-instruct' \\
       -H 'x-api-key: $secret' -H 'team_id: demo' \\
       -d '{"inputs": "What is Amazon Bedrock?", "parameters": {"maxTokens": 100}}'

  curl -s http://127.0.0.1:8787/v1/chat/completions -H 'Authorization: Bearer $secret' \\
       -d '{"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Hi"}], "stream": true}'

  curl -s http://127.0.0.1:8787/list_foundation_models -H 'x-api-key: $secret'
  curl -s http://127.0.0.1:8787/metrics
  TOLLGATE_DATA_DIR=$TOLLGATE_DATA_DIR $tollgate report --group-by tenant,model

Models come from [[models]] in $config (docs/config.md).
EOT
exec "$tollgate" serve
