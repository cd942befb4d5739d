#!/usr/bin/env bash
# Provisions everything snapharness needs on a Debian machine, idempotently:
#   - the Debian packages CRIU's build and the harness need;
#   - CRIU >= 4.2 (the system one when it works, else built from Debian's sid source into .deps/criu);
#   - AWS's snapshot-restore-py from PyPI into .deps/python (the "managed runtime" library).
# It writes .deps/env.mk, which the Makefile includes to point SwiftPM at the matching libcriu.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
deps="$root/.deps"
prefix="$deps/criu"
min_criu=40200            # 4.2.0
srp_version=1.0.0         # snapshot-restore-py, as in Lambda's Python managed runtime
mkdir -p "$deps"

log() { printf '[deps] %s\n' "$*" >&2; }
die() { printf '[deps] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (CRIU needs CAP_SYS_ADMIN and friends; apt-get needs root)"

# --- Debian packages -------------------------------------------------------------------------------
pkgs=(build-essential pkgconf libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
      python3 python3-protobuf libnl-3-dev libcap-dev libnet1-dev uuid-dev libnftables-dev libbsd-dev
      libgnutls28-dev nftables iproute2 xz-utils ca-certificates patch passt curl libarchive-tools)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v python3 >/dev/null || missing+=(python3 python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- CRIU ------------------------------------------------------------------------------------------
version_code() { # "4.2.1" -> 40201
  local IFS=.; set -- $1; echo $(( ${1:-0} * 10000 + ${2:-0} * 100 + ${3:-0} ))
}
criu_ok() { # $1 = criu binary
  local v
  v=$("$1" --version 2>/dev/null | sed -n 's/^Version: *//p')
  [ -n "$v" ] && [ "$(version_code "$v")" -ge "$min_criu" ] && "$1" check >/dev/null 2>&1
}

write_env() { # $1 = criu binary, $2 = pkg-config dir ('' for the system one), $3 = lib dir ('' for system)
  {
    echo "# written by scripts/deps.sh; do not edit"
    echo "CRIU_BINARY := $1"
    echo "CRIU_PKG_CONFIG_PATH := $2"
    echo "CRIU_LIBDIR := $3"
  } > "$deps/env.mk.tmp"
  mv "$deps/env.mk.tmp" "$deps/env.mk"
}

# Our patches to CRIU (scripts/criu-patches): a build made with another set is rebuilt.
patches_id=$(cat "$root"/scripts/criu-patches/*.patch 2>/dev/null | sha256sum | cut -c1-16)

if [ -x "$prefix/sbin/criu" ] && [ -f "$prefix/lib/x86_64-linux-gnu/pkgconfig/criu.pc" ] && [ -e "$prefix/lib/x86_64-linux-gnu/libcriu.so" ] \
   && [ "$(cat "$prefix/patches.id" 2>/dev/null)" = "$patches_id" ] && criu_ok "$prefix/sbin/criu"; then
  log "CRIU $("$prefix/sbin/criu" --version | sed -n 's/^Version: *//p') ready in $prefix"
  write_env "$prefix/sbin/criu" "$prefix/lib/x86_64-linux-gnu/pkgconfig" "$prefix/lib/x86_64-linux-gnu"
elif sys=$(command -v criu) && criu_ok "$sys" && pkg-config --atleast-version=4.2 criu 2>/dev/null; then
  log "using the system CRIU at $sys (without snapharness's patches: an unprivileged function needs CAP_SYS_RESOURCE to be dumped)"
  write_env "$sys" "" ""
else
  log "building CRIU >= 4.2 with snapharness's patches from Debian's source package into $prefix (~1 min)"
  src_list=/etc/apt/sources.list.d/snapharness-sid-src.sources
  if [ ! -f "$src_list" ]; then
    cat > "$src_list" <<'LIST'
# Added by snapharness scripts/deps.sh: source packages only (no binaries come from sid).
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
LIST
    apt-get update -qq
  fi
  dl="$deps/src"
  mkdir -p "$dl"
  tarball=$(ls "$dl"/criu_*.orig.tar.* 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$tarball" ]; then
    # The .dsc or .debian.tar.xz sometimes answer 404 and apt exits 100; the orig tarball (hash-checked) is
    # what we need, so judge by whether it arrived.
    (cd "$dl" && apt-get source --download-only -qq criu >/dev/null 2>&1) || true
    tarball=$(ls "$dl"/criu_*.orig.tar.* 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$tarball" ] || die "could not download CRIU's source (apt-get source --download-only criu with $src_list)"
  fi
  ver=$(basename "$tarball" | sed -E 's/^criu_([0-9.]+)\.orig.*/\1/')
  [ "$(version_code "$ver")" -ge "$min_criu" ] || die "sid offers CRIU $ver, need >= 4.2"
  build="$deps/build/criu-$ver"
  rm -rf "$build"; mkdir -p "$build"
  tar -xf "$tarball" -C "$build" --strip-components=1
  for p in "$root"/scripts/criu-patches/*.patch; do
    [ -e "$p" ] || continue
    log "applying $(basename "$p")"
    patch -d "$build" -p1 -s < "$p" || die "patch $(basename "$p") does not apply to CRIU $ver"
  done
  log "building CRIU $ver"
  # RUNDIR: CRIU keeps its kernel-feature cache (criu.kdat) only on tmpfs; /run is not tmpfs here, /dev/shm is.
  # </dev/null: with no standard input at all, protoc hands its plugin a pipe on fd 0 and the plugin misreads it.
  make -C "$build" -j"$(nproc)" criu lib RUNDIR=/dev/shm/snapharness-criu </dev/null >"$deps/criu-build.log" 2>&1 \
    || die "CRIU build failed; see $deps/criu-build.log"
  rm -rf "$prefix"
  make -C "$build" install-criu install-lib PREFIX="$prefix" RUNDIR=/dev/shm/snapharness-criu SKIP_PIP_INSTALL=1 \
    >>"$deps/criu-build.log" 2>&1 || die "CRIU install failed; see $deps/criu-build.log"
  criu_ok "$prefix/sbin/criu" || die "the CRIU just built fails 'criu check': run $prefix/sbin/criu check"
  echo "$patches_id" > "$prefix/patches.id"
  write_env "$prefix/sbin/criu" "$prefix/lib/x86_64-linux-gnu/pkgconfig" "$prefix/lib/x86_64-linux-gnu"
  log "CRIU $ver installed in $prefix"
fi

# --- snapshot-restore-py and simplejson ----------------------------------------------------------------
# The "managed runtime" library folder the agent puts last on the function's sys.path, as Lambda does with its own.
pydir="$deps/python"
# awslambdaric 4.2.2 declares simplejson>=3.20.1 and marshals results with it; pinned to that version.
sj_version=3.20.1
if [ ! -f "$pydir/snapshot_restore_py.py" ] && [ ! -d "$pydir/snapshot_restore_py" ]; then
  log "installing snapshot-restore-py==$srp_version from PyPI into $pydir"
  rm -rf "$pydir.tmp"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --no-deps --target "$pydir.tmp" \
    "snapshot-restore-py==$srp_version" || die "pip could not install snapshot-restore-py==$srp_version"
  rm -rf "$pydir"; mv "$pydir.tmp" "$pydir"
fi
# Also on a machine whose .deps/python predates simplejson (or holds another version): installed beside it.
if [ ! -d "$pydir/simplejson-$sj_version.dist-info" ] || [ ! -f "$pydir/simplejson/__init__.py" ]; then
  log "installing simplejson==$sj_version from PyPI into $pydir"
  rm -rf "$pydir.sj.tmp"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --no-deps --target "$pydir.sj.tmp" \
    "simplejson==$sj_version" || die "pip could not install simplejson==$sj_version"
  [ -f "$pydir.sj.tmp/simplejson/__init__.py" ] || die "pip did not leave simplejson in $pydir.sj.tmp"
  rm -rf "$pydir/simplejson" "$pydir"/simplejson-*.dist-info
  mv "$pydir.sj.tmp/simplejson" "$pydir.sj.tmp/simplejson-$sj_version.dist-info" "$pydir/"
  rm -rf "$pydir.sj.tmp"
fi
# The AWS SDK, as Lambda's Python runtime ships it (a copy bundled in the function's folder wins): boto3 with its
# dependencies (botocore, s3transfer, jmespath, urllib3, python-dateutil, six). Snapshots record the version.
boto3_version=1.44.8
if [ ! -d "$pydir/boto3-$boto3_version.dist-info" ] || [ ! -f "$pydir/boto3/__init__.py" ]; then
  log "installing boto3==$boto3_version (the AWS SDK of Lambda's Python runtime) from PyPI into $pydir"
  rm -rf "$pydir.boto3.tmp"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --target "$pydir.boto3.tmp" \
    "boto3==$boto3_version" || die "pip could not install boto3==$boto3_version"
  [ -f "$pydir.boto3.tmp/boto3/__init__.py" ] || die "pip did not leave boto3 in $pydir.boto3.tmp"
  rm -rf "$pydir.boto3.tmp/bin"
  for entry in "$pydir.boto3.tmp"/*; do
    name=$(basename "$entry")
    case "$name" in boto3*|botocore*|s3transfer*|jmespath*|urllib3*|python_dateutil*|dateutil|six*) ;; *) continue ;; esac
    rm -rf "$pydir/$name"
    mv "$entry" "$pydir/"
  done
  rm -rf "$pydir"/boto3-*.dist-info.old "$pydir.boto3.tmp"
fi
# AWS's runtime client, for --runtime-client awslambdaric: the pure-Python package once, and its libcurl extension
# (runtime_client.cpython-3XX-*.so) for every CPython it has wheels for, side by side: each interpreter loads its own.
ric_version=4.2.2
ric_abis="310 311 312 313 314"
ric_missing=0
[ -d "$pydir/awslambdaric-$ric_version.dist-info" ] && [ -f "$pydir/awslambdaric/__init__.py" ] || ric_missing=1
for abi in $ric_abis; do
  ls "$pydir"/runtime_client.cpython-"$abi"-*.so >/dev/null 2>&1 || ric_missing=1
done
if [ "$ric_missing" = 1 ]; then
  log "installing awslambdaric==$ric_version (Lambda's Python runtime client) from PyPI into $pydir"
  rm -rf "$pydir.ric.tmp"
  for abi in $ric_abis; do
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform manylinux2014_x86_64 --implementation cp --python-version "${abi:0:1}.${abi:1}" --abi "cp$abi" \
      --target "$pydir.ric.tmp/$abi" "awslambdaric==$ric_version" </dev/null \
      || die "pip could not download awslambdaric==$ric_version for CPython ${abi:0:1}.${abi:1}"
  done
  first=$(echo $ric_abis | cut -d' ' -f1)
  [ -f "$pydir.ric.tmp/$first/awslambdaric/__init__.py" ] || die "pip did not leave awslambdaric in $pydir.ric.tmp"
  rm -rf "$pydir/awslambdaric" "$pydir"/awslambdaric-*.dist-info "$pydir"/runtime_client.cpython-*.so
  mv "$pydir.ric.tmp/$first/awslambdaric" "$pydir.ric.tmp/$first/awslambdaric-$ric_version.dist-info" "$pydir/"
  for abi in $ric_abis; do mv "$pydir.ric.tmp/$abi"/runtime_client.cpython-*.so "$pydir/"; done
  rm -rf "$pydir.ric.tmp"
fi
# pid 1 of a built-in runtime's environment (the runtime runs as its child, as on Lambda), seen at /var/runtime.
init_src="$root/Sources/SnapHarnessEngine/Runtime/init/snapharness_init.c"
if [ ! -x "$pydir/snapharness-init" ] || [ "$init_src" -nt "$pydir/snapharness-init" ]; then
  log "building snapharness-init into $pydir"
  cc -O2 -Wall -Werror -o "$pydir/snapharness-init.tmp" "$init_src" </dev/null || die "could not build $init_src"
  mv "$pydir/snapharness-init.tmp" "$pydir/snapharness-init"
fi
mkdir -p "$pydir/snapharness" # where the agent is bound inside /var/runtime
log "ready"
