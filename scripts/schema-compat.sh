#!/usr/bin/env bash
# The previous release against this release's schema (`make test` runs it; alone:
# `scripts/schema-compat.sh` with the test MariaDB up and DONUT_TEST_DB_URL set).
#
# During a canary (docs/deploy.md, "Releases") the release's migrations have run and the
# previous version still serves most callers: every procedure, table and column its functions
# use must still be there, with the grants its statements need. So this runs the previous
# release's own warehouse tests — its adapter's statements, as its functions' and operators'
# users, the conformance suite and the store tests — on databases migrated and granted by
# THIS release (`donut-test-schema`, handed to them as DONUT_TEST_SCHEMA_COMMAND).
#
# The previous release is the code just before the newest migration was added: the last code
# that ran on the schema before it. A migration not committed yet makes HEAD the previous
# release. Its tree is checked out in a git worktree (needs the history: not a shallow clone).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
: "${DONUT_TEST_DB_URL:?the URL of the test MariaDB (scripts/services.sh start; make test sets it)}"

if [ "$(git rev-parse --is-shallow-repository)" = true ] && ! git fetch --quiet --unshallow; then
  echo "schema-compat: NOT CHECKED: a shallow clone has no previous release (clone with history)" >&2
  exit 0
fi
newest=$(ls crates/warehouse/migrations/[0-9]*.sql | sort | tail -n 1)
added=$(git log --diff-filter=A --format=%H -n 1 -- "$newest")
if [ -z "$added" ]; then
  previous=$(git rev-parse HEAD)
else
  previous=$(git rev-parse "$added^")
fi
echo "schema-compat: the code of $(git log --format='%h (%cs) %s' -n 1 "$previous")"
echo "               against the schema up to $(basename "$newest")"

target=${CARGO_TARGET_DIR:-$ROOT/target}
tree=$target/schema-compat/tree
git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"
git worktree prune
mkdir -p "$(dirname "$tree")"
git worktree add --detach --quiet "$tree" "$previous"
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true' EXIT

if ! grep -q DONUT_TEST_SCHEMA_COMMAND "$tree/crates/testkit/src/lib.rs"; then
  # Releases before this check cannot take another schema: nothing to run them against.
  echo "schema-compat: that release predates DONUT_TEST_SCHEMA_COMMAND; nothing to check" >&2
  exit 0
fi

cargo build --locked -q -p donut-testkit --bin donut-test-schema
schema=$target/schema-compat/donut-test-schema
cp "$target/debug/donut-test-schema" "$schema"
log=$target/schema-compat/databases.log
rm -f "$log"
# The previous release's tests (its dependencies the ones its Cargo.lock pins; the same target
# directory, so what both releases share is built once), each test database made by this
# release's migrate code.
(
  cd "$tree"
  DONUT_TEST_SCHEMA_COMMAND=$schema DONUT_TEST_SCHEMA_LOG=$log CARGO_TARGET_DIR=$target \
    cargo test --locked -q -p donut-warehouse --test conformance --test store
)
made=$(wc -l <"$log" 2>/dev/null || echo 0)
if [ "$made" -eq 0 ]; then
  echo "schema-compat: the previous release's tests made no database with this schema" >&2
  exit 1
fi
echo "schema-compat: the previous release's warehouse tests passed on $made databases of this schema"
