#!/usr/bin/env bash
# `make test` (what .ci/run calls): installs what is missing (or names what it cannot install, and
# stops before anything starts: scripts/prereqs.sh), builds the Pulumi engine once
# per machine (`make engine`), starts a MariaDB and a LocalStack of its own (other ports and folder than `make up`, so both can run at once),
# runs every test of the workspace, and stops what it started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export DONUT_LOCAL_DIR=$ROOT/.local/test
export DONUT_DB_PORT=${DONUT_TEST_DB_PORT:-3317}
export DONUT_LOCALSTACK_PORT=${DONUT_TEST_LOCALSTACK_PORT:-4576}
export DONUT_TEST_DB_URL=mysql://donut:donut@127.0.0.1:$DONUT_DB_PORT
export DONUT_TEST_AWS_ENDPOINT=http://127.0.0.1:$DONUT_LOCALSTACK_PORT
# The tests' LocalStack is a brand-new AWS account for Lambda (quota 10): the deploy preflight
# is tested against it (no function runs in LocalStack).
export DONUT_LOCALSTACK_LAMBDA_QUOTA=10 DONUT_TEST_LAMBDA_QUOTA=10

scripts/prereqs.sh test
# A fresh database server per run; the LocalStack venv is kept (pinned, checked by hash).
scripts/services.sh stop >/dev/null 2>&1 || true
rm -rf "$DONUT_LOCAL_DIR/mariadb" "$DONUT_LOCAL_DIR/localstack"
trap 'scripts/services.sh stop' EXIT
echo "test services:"
scripts/services.sh start
scripts/engine.sh
scripts/schema.sh --check
scripts/checkov.sh install
status=0
# Every AWS call the functions make in the end-to-end tests is recorded here, then held to the
# roles the program deploys (infra/tests/least_privilege.rs).
export DONUT_AWS_CALLS=$ROOT/target/aws-calls.jsonl
rm -f "$DONUT_AWS_CALLS"
cargo test --workspace --locked --no-fail-fast "$@" || status=$?
echo "schema compatibility (the previous release's warehouse tests on this schema):"
scripts/schema-compat.sh || status=$?
echo "least privilege (the recorded AWS calls against the deployed roles):"
cargo test --locked -p donut-infra --test least_privilege -- --ignored --nocapture || status=$?
echo "contract fuzzing (schemathesis against the local stack):"
scripts/contract.sh || status=$?
exit $status
