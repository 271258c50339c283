#!/usr/bin/env bash
# `make up`: the whole system on 127.0.0.1, in the foreground; Ctrl-C stops everything.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LOCAL=${DONUT_LOCAL_DIR:-$ROOT/.local}
PIDFILE=$LOCAL/donut-local.pid
mkdir -p "$LOCAL/logs"

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "Donut-States is already running (pid $(cat "$PIDFILE")) on 127.0.0.1:${DONUT_API_PORT:-8080}."
  echo "Use it, or stop it first with 'make down'."
  exit 1
fi

t0=$(date +%s%3N)
scripts/prereqs.sh up
echo "Donut-States: starting the local stack (loopback only)"
scripts/services.sh start
printf '  %-34s' "build (cargo build)…"
b0=$(date +%s%3N)
cargo build -q -p donut-local -p donut-cli 2>"$LOCAL/logs/build.log" || { echo " FAILED; see $LOCAL/logs/build.log"; exit 1; }
printf ' done (%d ms)\n' "$(( $(date +%s%3N) - b0 ))"

child=""
stop_all() {
  trap - INT TERM EXIT
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -INT "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  scripts/services.sh stop
  echo "Everything stopped."
}
trap stop_all INT TERM EXIT

"${CARGO_TARGET_DIR:-target}"/debug/donut-local up &
child=$!
echo "$child" > "$PIDFILE"
echo "  (services and build took $(( $(date +%s%3N) - t0 )) ms)"
wait "$child" || true
