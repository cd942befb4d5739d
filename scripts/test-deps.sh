#!/usr/bin/env bash
# What `make test` needs beyond `make deps`: pytest for the agent's Python tests, a PostgreSQL server (started by the
# tests on loopback, in a folder of their own, never as a service) and the libraries the real-library stale-state
# examples bundle as layers (from PyPI, as Lambda layers would carry them). Idempotent: seconds when ready.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '[test-deps] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# pytest for the agent's Python tests (`make python-test`), from PyPI into .deps/pytest; any user, any python3 >= 3.10.
# `scripts/test-deps.sh pytest` installs only this.
pytest_version=9.2.0
if [ "$(cat "$root/.deps/pytest/.snapharness-installed" 2>/dev/null)" != "pytest==$pytest_version" ]; then
  log "installing pytest==$pytest_version from PyPI into .deps/pytest"
  rm -rf "$root/.deps/pytest.tmp"
  mkdir -p "$root/.deps"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --target "$root/.deps/pytest.tmp" \
    "pytest==$pytest_version" \
    || die "pip could not install pytest==$pytest_version (pip's reason is above; PyPI must be reachable, or set PIP_INDEX_URL to a mirror)"
  echo "pytest==$pytest_version" > "$root/.deps/pytest.tmp/.snapharness-installed"
  rm -rf "$root/.deps/pytest"
  mv "$root/.deps/pytest.tmp" "$root/.deps/pytest"
fi
[ "${1:-}" = pytest ] && exit 0

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
    || die "apt-get could not install postgresql (its reason is above; Debian's mirrors must be reachable)"
fi

# Runtime Pythons the function may run under (what snapharness's default and --runtime find): Lambda layers for
# each, in Lambda's per-version layer path python/lib/pythonX.Y/site-packages.
runtime_versions() {
  local found="" v
  for v in 3.12 3.13 3.14; do
    if compgen -G "${PYENV_ROOT:-$HOME/.pyenv}/versions/$v.*/bin/python$v" >/dev/null \
        || [ -x "/usr/local/bin/python$v" ] || [ -x "/usr/bin/python$v" ]; then found="$found $v"; fi
  done
  [ -n "$found" ] || found=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  echo $found
}

# pip_layer EXAMPLE SPEC...: the packages from PyPI as a Lambda layer of Examples/stale-state/EXAMPLE, built as a
# Lambda zip is: manylinux wheels for the runtime's Python, whatever Python runs pip. Skipped when installed.
pip_layer() {
  local example=$1; shift
  local layer="$root/Examples/stale-state/$example/layer/python" stamp="$*" v target
  for v in $(runtime_versions); do
    target="$layer/lib/python$v/site-packages"
    [ "$(cat "$target/.snapharness-installed" 2>/dev/null)" = "$stamp" ] && continue
    log "installing $stamp from PyPI into ${target#$root/} (wheels for Python $v)"
    rm -rf "$target.tmp"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --target "$target.tmp" \
      --only-binary=:all: --python-version "$v" --implementation cp \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 "$@" \
      || die "pip could not install $stamp for Python $v (pip's reason is above; PyPI must be reachable, or set PIP_INDEX_URL to a mirror)"
    echo "$stamp" > "$target.tmp/.snapharness-installed"
    rm -rf "$target"
    mv "$target.tmp" "$target"
  done
}

# psycopg 3 (pure Python: it loads the system's libpq, so one copy serves every runtime Python).
psycopg_version=3.2.10
layer="$root/Examples/stale-state/postgres/layer/python"
if [ ! -f "$layer/psycopg/__init__.py" ] || [ ! -d "$layer/psycopg-$psycopg_version.dist-info" ]; then
  log "installing psycopg==$psycopg_version from PyPI into ${layer#$root/}"
  rm -rf "$layer.tmp"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --target "$layer.tmp" \
    "psycopg==$psycopg_version" "typing-extensions>=4.6" || die "pip could not install psycopg==$psycopg_version (pip's reason is above; PyPI must be reachable, or set PIP_INDEX_URL to a mirror)"
  rm -rf "$layer"
  mv "$layer.tmp" "$layer"
fi

# The other real libraries of the stale-state suite (RealLibraryTests).
pip_layer requests requests==2.32.5
pip_layer numpy numpy==2.3.5
pip_layer cryptography cryptography==50.0.2
pip_layer powertools aws-lambda-powertools==3.37.0
bash "$root/scripts/test-images.sh"
