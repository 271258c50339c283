#!/usr/bin/env bash
# `make deploy STAGE=<stage>`: builds what Pulumi.yaml and the program read (the arm64 zips,
# the release program), then `pulumi up` of that stack with the Pulumi CLI on your PATH and
# the backend you are logged in to. See docs/deploy.md for the one-time setup.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
stage=${1:-dev}
command -v pulumi >/dev/null || { echo "pulumi is not on PATH: install the CLI and its plugins (docs/getting-started.md, step 1)"; exit 1; }
[ -f "Pulumi.$stage.yaml" ] || { echo "no Pulumi.$stage.yaml: stages are $(ls Pulumi.*.yaml | sed 's/Pulumi.\(.*\).yaml/\1/' | grep -v '^yaml$' | tr '\n' ' ')"; exit 1; }
# Preflight, before anything is built or created: the account's Lambda quota decides whether
# the functions can reserve concurrency (new accounts: no), and the stage is checked against it.
quota=$(cargo run -q --locked -p donut-cli -- --aws --stage "$stage" preflight --print-quota)
pulumi config set --stack "$stage" donut-states:lambdaConcurrencyQuota "$quota"
scripts/lambdas.sh
cargo build --release --locked -p donut-infra --bin donut-infra
pulumi up --stack "$stage"
# The release: each aliased function's new version through its `live` alias — a canary watched
# by its alarms, then all of it, or rolled back (exit 3, naming the alarm; 4: too little canary
# traffic) — and old versions pruned. Safe to run again (docs/deploy.md, "Releases").
mkdir -p .local
pulumi stack output --json --stack "$stage" releases > ".local/releases-$stage.json"
cargo run -q --locked -p donut-cli -- --aws --stage "$stage" release --releases ".local/releases-$stage.json"
