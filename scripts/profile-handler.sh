#!/usr/bin/env bash
# Where sales-api's CPU per purchase goes: `make bench`'s handler run (DONUT_BENCH_ONLY=handler:
# sales-api and the minimal handler as Lambda instances, then the memory table), each measured
# run recorded by `perf record -p` of its processes alone — not their start nor their warm-up —
# (DONUT_BENCH_PERF_DIR), with release binaries that keep their symbols
# (CARGO_PROFILE_RELEASE_STRIP=false, in their own target directory, target/profiling). Then
# sales-api's and the minimal handler's samples (without a key, N = 8: PROFILE_N) by symbol,
# and by crate or library, on stdout and in bench/results/<date>-profile.txt.
# Needs perf and root (or kernel.perf_event_paranoid ≤ 0); docs/performance.md gives a run's
# top costs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LOCAL=${DONUT_LOCAL_DIR:-$ROOT/.local}
export CARGO_TARGET_DIR=$ROOT/target/profiling CARGO_PROFILE_RELEASE_STRIP=false
N=${PROFILE_N:-8}
command -v perf >/dev/null || { echo "profile-handler needs perf (Debian: linux-perf)"; exit 1; }
if [ "$(id -u)" != 0 ] && [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -gt 0 ]; then
  echo "profile-handler needs root, or kernel.perf_event_paranoid ≤ 0 (perf attaches to the functions' processes)"
  exit 1
fi
scripts/services.sh start
ca=$(scripts/services.sh tls-ca)
for f in sales-api warehouse-restock; do cargo build -q --release -p "$f"; done
cargo build -q --release -p donut-bench
out=$CARGO_TARGET_DIR/perf
rm -rf "$out" && mkdir -p "$out"
DONUT_BENCH_DB_URL=mysql://donut:donut@127.0.0.1:${DONUT_DB_PORT:-3307} \
DONUT_BENCH_AWS_ENDPOINT=http://127.0.0.1:${DONUT_LOCALSTACK_PORT:-4566} \
DONUT_BENCH_DB_PID=$(cat "$LOCAL/mariadb/mariadbd.pid") \
DONUT_BENCH_DB_CA=$ca \
DONUT_BENCH_ONLY=handler DONUT_BENCH_PERF_DIR=$out \
  "$CARGO_TARGET_DIR/release/donut-bench" >/dev/null
# Of the three runs, the one with the middle number of samples (each ran as many purchases).
middle() { ls -S "$out"/"$1"-n"$N"-*.data 2>/dev/null | sed -n 2p || true; }
# One run's samples by dso and symbol, then by crate or library: $1 the binary.
by_crate() {
  awk -v bin="$1" '
    $1 ~ /%$/ {
      pct = $1; sub(/%/, "", pct)
      dso = $2
      sym = $0; sub(/^ *[0-9.]+% +[^ ]+ +\[[^]]*\] /, "", sym)
      if (dso == "[kernel.kallsyms]") who = "kernel"
      else if (dso != bin) who = dso
      else if (match(sym, /^<?(&?(mut )?)?[a-z_][a-z0-9_]*::/)) {
        who = substr(sym, RSTART, RLENGTH - 2); sub(/^<?&?(mut )?/, "", who)
      } else who = bin " (other)"
      total[who] += pct
    }
    END { for (w in total) printf "%6.2f%%  %s\n", total[w], w }' | sort -rn | head -25
}
{
for bin in sales-api minimal-sale-lambda; do
  data=$(middle "$bin")
  [ -n "$data" ] || { echo "no profile of $bin at N = $N in $out: perf could not attach?" >&2; exit 1; }
  perf report -i "$data" --no-children --sort dso,symbol --percentage relative --stdio 2>/dev/null |
    grep -v '^#' | grep -v '^$' | sed -E 's/ +(- +- *)?$//' > "$out/$bin.txt"
  echo "$bin without a key, N = $N ($(basename "$data")): by symbol (self time, % of its samples)"
  head -30 "$out/$bin.txt"
  echo
  echo "$bin: by crate or library (% of its samples)"
  by_crate "$bin" < "$out/$bin.txt"
  echo
done
} | tee "bench/results/$(date -u +%F)-profile.txt"
