#!/usr/bin/env bash
# Rebuilds infra/schema/aws-subset.json from the pinned pulumi-aws wheel (PyPI, hash-checked),
# or with --check proves the committed file is exactly what the wheel yields.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHEELS=${DONUT_LOCAL_DIR:-$ROOT/.local}/wheels
SCHEMA=$ROOT/infra/schema/aws-subset.json
mkdir -p "$WHEELS"
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --require-hashes -r "$ROOT/infra/schema/requirements.txt" -d "$WHEELS"
wheel=$(ls "$WHEELS"/pulumi_aws-"$(sed -n 's/^pulumi-aws==\([^ ]*\).*/\1/p' "$ROOT/infra/schema/requirements.txt")"-*.whl)
if [ "${1:-}" = "--check" ]; then
  fresh=$(mktemp)
  trap 'rm -f "$fresh"' EXIT
  python3 "$ROOT/infra/schema/gen_aws_schema.py" "$wheel" "$fresh" >/dev/null
  if diff -q "$SCHEMA" "$fresh" >/dev/null; then
    echo "schema check: infra/schema/aws-subset.json is what $(basename "$wheel") yields"
  else
    echo "schema check FAILED: infra/schema/aws-subset.json differs from what $(basename "$wheel") yields;"
    echo "run scripts/schema.sh and commit the result"
    diff -u "$SCHEMA" "$fresh" | head -40
    exit 1
  fi
else
  python3 "$ROOT/infra/schema/gen_aws_schema.py" "$wheel" "$SCHEMA"
fi
