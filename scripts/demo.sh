#!/usr/bin/env bash
# Builds the `tollgate` command and walks through it on a fresh data directory: tenants with
# limits and budgets, an API key (shown once), prices, the reference deployment's cost reports
# imported, and a cost report. Pass a directory to keep the data: scripts/demo.sh ./demo-data
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/ensure-toolchain.sh

cargo build --release --locked -p tollgate-cli
tollgate="$CARGO_TARGET_DIR/release/tollgate"
data_dir="${1:-$(mktemp -d)}"
export TOLLGATE_DATA_DIR="$data_dir"
run() { printf '\n$ tollgate %s\n' "$*"; "$tollgate" "$@"; }

echo "Tollgate demo; data in $data_dir"
run tenant create alpha --name "Team Alpha" --cost-center CC-100 --rate 10/s --burst 20 \
    --quota 100000/month --tpm 50000 --budget 250 --budget-mode hard --allow-model 'anthropic.*'
run tenant create beta --name "Team Beta" --cost-center CC-200 --budget 100
run key create alpha --name ci-pipeline --expires-in 90d
run key list
run price show us.anthropic.claude-3-haiku-20240307-v1:0
run price show claude-3-5-sonnet
run usage import examples/reference-reports/succeed/2026-11-24.csv examples/reference-reports/succeed/2026-11-25.csv
run report --from 2026-11-01 --to 2026-11-30 --group-by tenant,model
run report --from 2026-11-01 --to 2026-11-30 --group-by cost-center --format csv --totals
run tenant list
echo
echo "Try more: TOLLGATE_DATA_DIR=$data_dir $tollgate --help"
