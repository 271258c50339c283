#!/usr/bin/env bash
# Rebuilds infra/schema/aws-subset.json (and aws-enums.json beside it) from the pinned
# pulumi-aws wheel (PyPI, hash-checked), or with --check proves the committed files are
# exactly what the wheel yields.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHEELS=${DONUT_LOCAL_DIR:-$ROOT/.local}/wheels
SCHEMA=$ROOT/infra/schema/aws-subset.json
mkdir -p "$WHEELS"
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  --require-hashes -r "$ROOT/infra/schema/requirements.txt" -d "$WHEELS"
wheel=$(ls "$WHEELS"/pulumi_aws-"$(sed -n 's/^pulumi-aws==\([^ ]*\).*/\1/p' "$ROOT/infra/schema/requirements.txt")"-*.whl)
if [ "${1:-}" = "--check" ]; then
  fresh=$(mktemp -d)
  trap 'rm -rf "$fresh"' EXIT
  python3 "$ROOT/infra/schema/gen_aws_schema.py" "$wheel" "$fresh/aws-subset.json" >/dev/null
  for file in aws-subset.json aws-enums.json; do
    if ! diff -q "$ROOT/infra/schema/$file" "$fresh/$file" >/dev/null; then
      echo "schema check FAILED: infra/schema/$file differs from what $(basename "$wheel") yields;"
      echo "run scripts/schema.sh and commit the result"
      diff -u "$ROOT/infra/schema/$file" "$fresh/$file" | head -40
      exit 1
    fi
  done
  echo "schema check: infra/schema/aws-subset.json and aws-enums.json are what $(basename "$wheel") yields"
else
  python3 "$ROOT/infra/schema/gen_aws_schema.py" "$wheel" "$SCHEMA"
fi
