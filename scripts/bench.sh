#!/usr/bin/env bash
# `make bench`: the benchmarks, each beside its baseline from the same run. Starts MariaDB and
# LocalStack if needed (the ones `make up` uses), builds release binaries (the functions, the
# echo baseline, the minimal handler, the benchmark) and vegeta (tools/vegeta/go.mod, once per
# version), runs donut-bench: the release functions as Lambda instances reach MariaDB over TLS
# with the services' CA (DONUT_BENCH_DB_CA); the memory table needs root (cgroups). Results:
# the tables on stdout, bench/results/<date>.md and its two SVG plots.
# CARGO_TARGET_DIR is honoured (run it from a worktree with its own target while you edit).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LOCAL=${DONUT_LOCAL_DIR:-$ROOT/.local}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$ROOT/.local/bin
started=$(date +%s)
scripts/services.sh start
ca=$(scripts/services.sh tls-ca)

mkdir -p "$BIN"
stamp=$(cat tools/vegeta/go.mod tools/vegeta/go.sum | sha256sum | cut -d' ' -f1)
if [ ! -x "$BIN/vegeta" ] || [ "$(cat "$BIN/.vegeta.sha256" 2>/dev/null)" != "$stamp" ]; then
  echo "building vegeta (Go module, pinned in tools/vegeta/go.mod)…"
  (cd tools/vegeta && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" \
    -o "$BIN/vegeta" github.com/tsenart/vegeta/v12)
  echo "$stamp" > "$BIN/.vegeta.sha256"
fi

echo "building release binaries (the functions, the echo baseline, the minimal handler and the benchmark)…"
# One cargo invocation per function: cargo unifies the features of the packages it builds
# together, which would give every function's binary every function's dependencies
# (crates/runtime/Cargo.toml).
for f in sales-api admin-api factory-requester warehouse-restock outbox-relay migrate factory-watchdog; do
  cargo build -q --release -p "$f"
done
cargo build -q --release -p donut-bench
[ -f target/lambda/sales-api/bootstrap.zip ] || echo "note: no target/lambda/*/bootstrap.zip yet; run 'make lambdas' for the zip sizes"
DONUT_BENCH_DB_URL=mysql://donut:donut@127.0.0.1:${DONUT_DB_PORT:-3307} \
DONUT_BENCH_AWS_ENDPOINT=http://127.0.0.1:${DONUT_LOCALSTACK_PORT:-4566} \
DONUT_BENCH_DB_PID=$(cat "$LOCAL/mariadb/mariadbd.pid") \
DONUT_BENCH_DB_CA=$ca \
  "$TARGET/release/donut-bench"
echo "make bench: $(( $(date +%s) - started )) s"
