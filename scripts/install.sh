#!/usr/bin/env bash
# Installs a built snapharness under PREFIX with everything it reads at run time, in the layout the executable
# looks for next to itself (Sources/SnapHarnessEngine/Handler/Installation.swift):
#   PREFIX/bin/snapharness
#   PREFIX/lib/snapharness/runtime   the runtime agent (Python: the entry scripts and the snapharness_agent package)
#   PREFIX/lib/snapharness/python    the runtime's libraries (snapshot-restore-py, boto3, ...), from `make deps`
#   PREFIX/lib/snapharness/criu      CRIU with snapharness's patches (sbin/criu, libexec, lib/libcriu.so*)
# Usage: scripts/install.sh BUILT_BINARY PREFIX
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: scripts/install.sh BUILT_BINARY PREFIX" >&2; exit 1; }
bin=$1 prefix=$2
root=$(cd "$(dirname "$0")/.." && pwd)
lib=$prefix/lib/snapharness
die() { echo "install: $*" >&2; exit 1; }

[ -x "$bin" ] || die "$bin is not built (make install builds it)"
[ -f "$root/.deps/python/snapshot_restore_py.py" ] || die "the runtime libraries are missing: run make deps"
umask 022
mkdir -p "$prefix/bin" "$lib"
# Each folder is written beside the old one and swapped in, so an older install's files never linger.
stage=$(mktemp -d "$lib/.install-XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp -R "$root/Sources/SnapHarnessEngine/Runtime/python" "$stage/runtime"
# No bytecode from runs in the checkout, at any depth (the package has folders of its own).
find "$stage/runtime" -name __pycache__ -type d -prune -exec rm -rf {} +
cp -R "$root/.deps/python" "$stage/python"
mkdir -p "$stage/python/snapharness" # where the agent is bound inside /var/runtime
if [ -x "$root/.deps/criu/sbin/criu" ]; then
  mkdir -p "$stage/criu/lib"
  cp -R "$root/.deps/criu/sbin" "$root/.deps/criu/libexec" "$stage/criu/"
  cp -P "$root"/.deps/criu/lib/*/libcriu.so* "$stage/criu/lib/"
fi
for part in runtime python criu; do
  [ -e "$stage/$part" ] || continue
  rm -rf "$lib/$part"
  mv "$stage/$part" "$lib/$part"
done
install -m 0755 "$bin" "$prefix/bin/snapharness"
echo "installed $prefix/bin/snapharness (runtime files in $lib)"
