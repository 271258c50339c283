#!/usr/bin/env bash
# `make stress`: the outbox relays' race, long — 8 relays over 200 stock-outs a round, purchases
# writing while they claim, DONUT_RELAY_ROUNDS rounds (200). Every round must end with 0 relay
# errors, 0 rows published twice and 0 rows left unpublished. `make test` runs 3 rounds of the
# same test. Uses the test MariaDB (its own port and folder; started if it is not running).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export DONUT_LOCAL_DIR=$ROOT/.local/test
export DONUT_DB_PORT=${DONUT_TEST_DB_PORT:-3317}
export DONUT_TEST_DB_URL=mysql://donut:donut@127.0.0.1:$DONUT_DB_PORT
export DONUT_RELAY_ROUNDS=${DONUT_RELAY_ROUNDS:-200}
scripts/services.sh start-db
started=$(date +%s)
cargo test -q --locked -p donut-warehouse --test relay_race -- --nocapture
echo "stress wall time: $(( $(date +%s) - started )) s"
