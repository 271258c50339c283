#!/usr/bin/env bash
# `make bench`: the benchmarks, each beside its baseline from the same run. Starts MariaDB and
# LocalStack if needed (the ones `make up` uses), builds release binaries, runs donut-bench.
# Results: the table on stdout, bench/results/<date>.md and <date>-latency.svg.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
scripts/services.sh start
echo "building release binaries (the functions and the benchmark)…"
cargo build -q --release -p sales-api -p factory-requester -p warehouse-restock -p outbox-relay -p migrate -p factory-watchdog -p donut-bench
[ -f target/lambda/sales-api/bootstrap.zip ] || echo "note: no target/lambda/*/bootstrap.zip yet; run 'make lambdas' for the zip sizes"
DONUT_BENCH_DB_URL=mysql://donut:donut@127.0.0.1:${DONUT_DB_PORT:-3307} \
DONUT_BENCH_AWS_ENDPOINT=http://127.0.0.1:${DONUT_LOCALSTACK_PORT:-4566} \
  target/release/donut-bench
