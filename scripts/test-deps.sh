#!/usr/bin/env bash
# What `make test` needs beyond `make deps`: a PostgreSQL server (started by the tests on loopback, in a folder of
# their own, never as a service) and the client library the PostgreSQL stale-state example bundles as a layer
# (psycopg from PyPI, as a Lambda layer would carry it). Idempotent: seconds when ready.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[test-deps] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { log "not root: the PostgreSQL tests will be skipped"; exit 0; }

# Debian's PostgreSQL without its default cluster: the tests make their own.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || ! dpkg-query -W -f='${Status}' libpq5 2>/dev/null | grep -q 'install ok installed'; then
  log "installing Debian's postgresql and libpq5 (no cluster is created or started)"
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql libpq5 >/dev/null \
    || die "apt-get could not install postgresql"
fi

# psycopg 3 (pure Python: it loads the system's libpq, so one copy serves every runtime Python).
psycopg_version=3.2.10
layer="$root/Examples/stale-state/postgres/layer/python"
if [ ! -f "$layer/psycopg/__init__.py" ] || [ ! -d "$layer/psycopg-$psycopg_version.dist-info" ]; then
  log "installing psycopg==$psycopg_version from PyPI into ${layer#$root/}"
  rm -rf "$layer.tmp"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --target "$layer.tmp" \
    "psycopg==$psycopg_version" "typing-extensions>=4.6" || die "pip could not install psycopg==$psycopg_version"
  rm -rf "$layer"
  mv "$layer.tmp" "$layer"
fi
