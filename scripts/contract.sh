#!/usr/bin/env bash
# Contract fuzzing by an outside tool: schemathesis (pinned) reads the committed openapi.json
# and fuzzes the local stack, bounded (examples per operation, a time cap). It checks for
# server errors, undocumented status codes and response-schema conformance.
#
# Expects MariaDB and LocalStack up (scripts/services.sh start, with the same DONUT_* ports);
# starts donut-local on DONUT_API_PORT (18080 here), runs, stops it. Its stack is its own —
# database `donut_contract`, LocalStack prefix `donut-contract`, database users of its own — so
# it runs beside `make up` and changes nothing of it.
#
# Excluded: POST /factory/callback/{id} — every request needs an HMAC token made with the
# stack's secret, which a schema-driven fuzzer cannot make; that route is covered by the
# corpus in tests/tests/bad_input.rs and the signed-callback tests instead.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LOCAL=${DONUT_LOCAL_DIR:-$ROOT/.local}
VENV=$LOCAL/venv-schemathesis
API_PORT=${DONUT_API_PORT:-18080}
export DONUT_API_PORT=$API_PORT DONUT_FACTORY_PORT=${DONUT_FACTORY_PORT:-18090} DONUT_QUIET=1 FACTORY_DELAY_MS=200
export DONUT_FACTORY_LANE_PORT=${DONUT_FACTORY_LANE_PORT:-18081}
export DONUT_PREFIX=donut-contract DONUT_APP_USER=contract_app DONUT_OPERATOR_USER=contract_op
export DATABASE_URL=mysql://donut:donut@127.0.0.1:${DONUT_DB_PORT:-3307}/donut_contract

stamp=$VENV/.requirements.sha256
want=$(sha256sum tests/contract/requirements.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/contract/requirements.txt
  echo "$want" > "$stamp"
fi

cargo build -q -p donut-local
"${CARGO_TARGET_DIR:-target}"/debug/donut-local up > "$LOCAL/logs/contract-stack.log" 2>&1 &
stack=$!
trap 'kill -INT $stack 2>/dev/null; wait $stack 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$API_PORT/products" >/dev/null 2>&1 && break
  kill -0 $stack 2>/dev/null || { tail -20 "$LOCAL/logs/contract-stack.log"; exit 1; }
  sleep 0.2
done

# The operators' routes are signed (SigV4, the local operator) by a hook, as donut-cli signs.
SCHEMATHESIS_HOOKS=$ROOT/tests/contract/sigv4_hooks.py \
timeout 300 "$VENV/bin/schemathesis" run openapi.json \
  --url "http://127.0.0.1:$API_PORT" \
  --checks all \
  --max-examples 30 \
  --exclude-path-regex 'factory/callback' \
  --generation-deterministic \
  --request-timeout 10
