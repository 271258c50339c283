#!/usr/bin/env bash
# checkov, the outside IaC scanner, on the Pulumi stack's state (docs: infra/tests/checkov.rs):
#
#   scripts/checkov.sh install                  the pinned venv .local/venv-checkov, from
#                                               infra/checkov-requirements.txt (every package
#                                               pinned and hash-checked; Python 3.13), once
#   scripts/checkov.sh scan STAGE=STATE.json…   map each `pulumi stack export` to a Terraform
#                                               plan (scripts/checkov_plan.py), scan it, and hold
#                                               the failed checks to infra/checkov-accepted.yaml
#                                               (scripts/checkov_gate.py); exit 1 on a finding
#                                               not accepted or an accepted one that passes
#
# `make test` installs it (scripts/test.sh); `cargo test -p donut-infra --test checkov` scans the
# engine's state of dev and prod. A deployed stack: pulumi stack export --stack prod > prod.json;
# scripts/checkov.sh scan prod=prod.json. Nothing leaves the machine: checkov runs with
# --skip-download and no update check.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$ROOT/.local/venv-checkov
REQUIREMENTS=$ROOT/infra/checkov-requirements.txt

# shellcheck source=prereqs.sh
source "$ROOT/scripts/prereqs.sh"

install_checkov() {
  local stamp=$VENV/.requirements.sha256
  local want; want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  local py; py=$(python313) || { echo "checkov's venv needs Python 3.13 with venv (python3.13 or pyenv 3.13.0): scripts/prereqs.sh test says how to get it"; return 1; }
  rm -rf "$VENV"
  $py -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes --only-binary=:all: -r "$REQUIREMENTS"
  echo "$want" > "$stamp"
}

case "${1:-}" in
  install)
    # shellcheck source=progress.sh
    source "$ROOT/scripts/progress.sh"
    mkdir -p "$ROOT/.local/logs"
    STEP_LOG=$ROOT/.local/logs/checkov-install.log
    step "install checkov (pinned venv)" install_checkov ;;
  scan)
    shift
    install_checkov
    exec "$VENV/bin/python" "$ROOT/scripts/checkov_gate.py" "$@" ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
