#!/usr/bin/env bash
# The local stand-ins for RDS and AWS: MariaDB and LocalStack, on 127.0.0.1 only.
#
#   scripts/services.sh install     install what is missing (Debian mariadb-server, the pinned LocalStack venv)
#   scripts/services.sh start       install, then start both (idempotent: running ones are kept)
#   scripts/services.sh stop        stop both
#   scripts/services.sh status      what runs, where
#   scripts/services.sh tls-ca      the running MariaDB's TLS CA (fails if it offers no TLS)
#
# Everything lives under .local/ (git-ignored): data, sockets, logs and pid files under
# DONUT_LOCAL_DIR (.local, or .local/test for `make test`); the pinned LocalStack venv once,
# in .local/venv-localstack, whichever instance installs it first.
# Ports: DONUT_DB_PORT (3307), DONUT_LOCALSTACK_PORT (4566).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL=${DONUT_LOCAL_DIR:-$ROOT/.local}
DB_PORT=${DONUT_DB_PORT:-3307}
LS_PORT=${DONUT_LOCALSTACK_PORT:-4566}
DB_DIR=$LOCAL/mariadb
LS_DIR=$LOCAL/localstack
VENV=$ROOT/.local/venv-localstack
LOGS=$LOCAL/logs
LS_REQUIREMENTS=$ROOT/local/localstack-requirements.txt

mkdir -p "$LOCAL" "$LOGS"

# shellcheck source=progress.sh
source "$ROOT/scripts/progress.sh"
STEP_LOG=$LOGS/services.log

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# python313: the Python that LocalStack's venv is made with (the one `make up`/`make test` check for).
# shellcheck source=prereqs.sh
source "$ROOT/scripts/prereqs.sh"

install_mariadb() {
  command -v mariadbd >/dev/null 2>&1 && command -v curl >/dev/null 2>&1 && return 0
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq mariadb-server mariadb-client curl
}

install_localstack() {
  local stamp=$VENV/.requirements.sha256
  local want; want=$(sha256sum "$LS_REQUIREMENTS" | cut -d' ' -f1)
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  local py; py=$(python313) || { echo "LocalStack 2026.3 needs Python 3.13 with venv (python3.13 or pyenv 3.13.0): scripts/prereqs.sh up says how to get it"; return 1; }
  rm -rf "$VENV"
  $py -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --require-hashes -r "$LS_REQUIREMENTS"
  echo "$want" > "$stamp"
}

port_taken() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

# A CA (ca.pem) and a server certificate it signed for 127.0.0.1 (server.pem, server.key) in
# $1, made once.
server_certificate() {
  local dir=$1
  [ -f "$dir/server.pem" ] && return 0
  mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=donut-states local CA" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile san.ext -out server.pem 2>/dev/null
    rm -f server.csr san.ext ca.srl
  )
}

start_mariadb() {
  if alive "$DB_DIR/mariadbd.pid"; then return 0; fi
  if port_taken "$DB_PORT"; then
    echo "port $DB_PORT is taken by another process (another checkout's MariaDB?): stop it or set DONUT_DB_PORT"
    return 1
  fi
  mkdir -p "$DB_DIR"
  if [ ! -d "$DB_DIR/data/mysql" ]; then
    mariadb-install-db --no-defaults --datadir="$DB_DIR/data" --user="$(id -un)" \
      --auth-root-authentication-method=socket --skip-test-db
  fi
  # TLS as RDS offers it (not required, so the tests' plain clients connect as before): a CA of
  # this checkout's own and a server certificate for 127.0.0.1. `make bench` runs the release
  # functions, which refuse to reach a database without TLS, against it (DB_TLS_CA = tls/ca.pem).
  server_certificate "$DB_DIR/tls"
  # 600 connections: `make bench`'s Lambda-shaped run keeps 6 paths × 64 one-connection
  # instances open at once, beside the stack's own pools.
  # Its own tmpdir: a mariadbd that starts deletes every `#sql*` file in its tmpdir, which in a
  # shared /tmp are another server's live temporary tables (the tests start private servers).
  mkdir -p "$DB_DIR/tmp"
  nohup mariadbd --no-defaults --datadir="$DB_DIR/data" --socket="$DB_DIR/mariadb.sock" \
    --tmpdir="$DB_DIR/tmp" \
    --pid-file="$DB_DIR/mariadbd.pid" --port="$DB_PORT" --bind-address=127.0.0.1 \
    --skip-name-resolve --user="$(id -un)" --max-connections=600 \
    --ssl-ca="$DB_DIR/tls/ca.pem" --ssl-cert="$DB_DIR/tls/server.pem" --ssl-key="$DB_DIR/tls/server.key" \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    --log-error="$LOGS/mariadb.err" >"$LOGS/mariadb.out" 2>&1 &
  for _ in $(seq 1 100); do
    mariadb-admin --no-defaults --socket="$DB_DIR/mariadb.sock" -uroot ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  # The application user: tests create one database each, so it may create databases.
  mariadb --no-defaults --socket="$DB_DIR/mariadb.sock" -uroot <<'SQL'
CREATE USER IF NOT EXISTS 'donut'@'127.0.0.1' IDENTIFIED BY 'donut';
-- WITH GRANT OPTION: tests create users of their own (password rotation, least privilege).
GRANT ALL PRIVILEGES ON *.* TO 'donut'@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS donut;
SQL
}

start_localstack() {
  if curl -fsS "http://127.0.0.1:$LS_PORT/_localstack/health" >/dev/null 2>&1; then return 0; fi
  mkdir -p "$LS_DIR/volume" "$LS_DIR/fs" "$LS_DIR/tmp"
  # Loopback only: hypercorn honours the host in GATEWAY_LISTEN; no DNS server. TMPDIR: LocalStack
  # keeps its state (CloudWatch's metrics database) under the system temp folder and clears it
  # at start, so two instances (`make up` beside `make test`) would wipe each other's.
  env GATEWAY_SERVER=hypercorn GATEWAY_LISTEN="127.0.0.1:$LS_PORT" DNS_ADDRESS=0 \
    SERVICES=sns,sqs,cloudwatch,secretsmanager,ses,sts,iam,logs,lambda EAGER_SERVICE_LOADING=1 \
    LAMBDA_LIMITS_CONCURRENT_EXECUTIONS="${DONUT_LOCALSTACK_LAMBDA_QUOTA:-1000}" \
    SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL=5 DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 SQS_ENDPOINT_STRATEGY=path \
    LOCALSTACK_VOLUME_DIR="$LS_DIR/volume" FILESYSTEM_ROOT="$LS_DIR/fs" TMP_FOLDER="$LS_DIR/tmp" \
    TMPDIR="$LS_DIR/tmp" \
    nohup "$VENV/bin/python" -m localstack.runtime.main >"$LOGS/localstack.log" 2>&1 &
  echo $! > "$LS_DIR/localstack.pid"
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$LS_PORT/_localstack/health" >/dev/null 2>&1 && return 0
    alive "$LS_DIR/localstack.pid" || { tail -n 30 "$LOGS/localstack.log"; return 1; }
    sleep 0.2
  done
  echo "LocalStack did not become healthy"; return 1
}

stop_pidfile() {
  local pidfile=$1
  alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  local pid; pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

status() {
  alive "$DB_DIR/mariadbd.pid" && echo "mariadb     127.0.0.1:$DB_PORT (pid $(cat "$DB_DIR/mariadbd.pid"))" || echo "mariadb     stopped"
  alive "$LS_DIR/localstack.pid" && echo "localstack  127.0.0.1:$LS_PORT (pid $(cat "$LS_DIR/localstack.pid"))" || echo "localstack  stopped"
}

case "${1:-}" in
  install)
    step "install MariaDB (Debian)" install_mariadb
    step "install LocalStack (pinned venv)" install_localstack ;;
  start)
    step "install MariaDB (Debian)" install_mariadb
    step "install LocalStack (pinned venv)" install_localstack
    step "start MariaDB on 127.0.0.1:$DB_PORT" start_mariadb
    step "start LocalStack on 127.0.0.1:$LS_PORT" start_localstack ;;
  start-db)
    step "install MariaDB (Debian)" install_mariadb
    step "start MariaDB on 127.0.0.1:$DB_PORT" start_mariadb ;;
  stop)
    step "stop LocalStack" stop_pidfile "$LS_DIR/localstack.pid"
    step "stop MariaDB" stop_pidfile "$DB_DIR/mariadbd.pid" ;;
  status) status ;;
  tls-ca)
    # The CA of the running MariaDB's TLS certificate (what `make bench` hands the functions);
    # fails when the running server offers no TLS (started before this checkout made it do so).
    ssl=$(mariadb --no-defaults --socket="$DB_DIR/mariadb.sock" -uroot -N -e 'SELECT @@have_ssl' 2>/dev/null || true)
    if [ "$ssl" != YES ] || [ ! -f "$DB_DIR/tls/ca.pem" ]; then
      echo "the MariaDB in $DB_DIR offers no TLS (it was started before services.sh gave it a certificate): scripts/services.sh stop, then start it again" >&2
      exit 1
    fi
    echo "$DB_DIR/tls/ca.pem" ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
