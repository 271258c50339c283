#!/usr/bin/env bash
# `make down`: stops whatever a crashed or backgrounded `make up` left running.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL=${DONUT_LOCAL_DIR:-$ROOT/.local}
if [ -f "$LOCAL/donut-local.pid" ]; then
  pid=$(cat "$LOCAL/donut-local.pid")
  kill -INT "$pid" 2>/dev/null && echo "stopping donut-local (pid $pid)"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$LOCAL/donut-local.pid"
fi
"$ROOT/scripts/services.sh" stop
