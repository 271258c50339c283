#!/usr/bin/env bash
# `make deny` (.ci/run runs it before `make test`): cargo deny, pinned, against deny.toml.
# Licences, bans and sources always; advisories against the RustSec database (a git checkout
# of github.com/rustsec/advisory-db) when this machine has one. DONUT_ADVISORY_FETCH=1 refreshes
# it from GitHub; DONUT_ADVISORY_DB=<a checkout> brings one (copied once, when it is newer). Without any, advisories are reported NOT CHECKED, and the rest still runs.
# A finding is an error (exit 1); multiple versions of a crate only warn (counted here, listed
# in .local/logs/deny.log).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DENY_VERSION=0.20.2
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
# Where cargo-deny keeps https://github.com/RustSec/advisory-db (its name for that URL).
DB=$CARGO_HOME/advisory-dbs/advisory-db-3157b0e258782691
LOG=$ROOT/.local/logs/deny.log              # cargo deny's report
SETUP_LOG=$ROOT/.local/logs/deny-setup.log  # install, fetches
mkdir -p "$(dirname "$LOG")"
: > "$SETUP_LOG"

echo "cargo deny (deny.toml):"
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $DENY_VERSION" ]; then
  printf '  %-44s' "install cargo-deny $DENY_VERSION (cargo install)…"
  t0=$(date +%s)
  cargo install -q --locked --version "$DENY_VERSION" cargo-deny >>"$SETUP_LOG" 2>&1 \
    || { echo " FAILED; see $SETUP_LOG"; tail -20 "$SETUP_LOG"; exit 1; }
  echo " done ($(( $(date +%s) - t0 )) s)"
fi

# cargo metadata --offline needs every package of the lock file, other platforms' too.
cargo fetch --locked -q >>"$SETUP_LOG" 2>&1 || { echo "  cargo fetch FAILED; see $SETUP_LOG"; exit 1; }

if [ -n "${DONUT_ADVISORY_DB:-}" ]; then
  src_time=$(git -C "$DONUT_ADVISORY_DB" log -1 --format=%ct)
  if [ ! -d "$DB/.git" ] || [ "$(git -C "$DB" log -1 --format=%ct 2>/dev/null || echo 0)" -lt "$src_time" ]; then
    rm -rf "$DB.new" && mkdir -p "$(dirname "$DB")"
    git clone -q --depth 1 "file://$(cd "$DONUT_ADVISORY_DB" && pwd)" "$DB.new"
    git -C "$DB.new" remote set-url origin https://github.com/RustSec/advisory-db
    rm -rf "$DB" && mv "$DB.new" "$DB"
  fi
fi
# Brings the database up to date from GitHub when asked (DONUT_ADVISORY_FETCH=1, on a machine
# that reaches it); CI's machines reach the package registries only, so by default it is not tried.
fetched=no
if [ "${DONUT_ADVISORY_FETCH:-0}" = 1 ]; then
  timeout 120 cargo deny fetch db >>"$SETUP_LOG" 2>&1 && fetched=yes
fi

checks=(licenses bans sources)
if [ -d "$DB/.git" ]; then
  checks=(advisories "${checks[@]}")
  db_day=$(git -C "$DB" log -1 --format=%cs)
  age=$(( ($(date +%s) - $(git -C "$DB" log -1 --format=%ct)) / 86400 ))
  if [ $fetched = yes ]; then how="fetched now"; else how="not refreshed (DONUT_ADVISORY_FETCH=1 fetches it)"; fi
  echo "  advisories: RustSec database of $db_day ($age days old, $(git -C "$DB" log -1 --format=%h); $how)"
else
  echo "  advisories: NOT CHECKED — no RustSec database on this machine: DONUT_ADVISORY_FETCH=1"
  echo "    fetches it, DONUT_ADVISORY_DB=<a git checkout of github.com/rustsec/advisory-db> brings one"
fi

status=0
cargo deny --offline --locked --color never check --hide-inclusion-graph "${checks[@]}" >"$LOG" 2>&1 || status=$?
duplicates=$(grep -c '^warning\[duplicate\]' "$LOG" || true)
if [ $status != 0 ]; then
  # The findings, without the duplicate-version warnings between them.
  awk '/^warning\[duplicate\]/{skip=1; next} /^(error|warning)\[|^[a-z]+ (ok|FAILED)/{skip=0} !skip' "$LOG" | sed 's/^/  /'
  echo "  cargo deny FAILED (full report: $LOG)"
  exit 1
fi
echo "  $(tail -n 1 "$LOG" | sed 's/^ *//'); $duplicates crates in more than one version (warnings, listed in $LOG)"
