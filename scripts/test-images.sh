#!/usr/bin/env bash
# The OCI test images the container-image tests run, built offline from Debian packages and files already on this
# machine (no container registry, no Docker engine), into .deps/images:
#   layout/                  an OCI image layout holding four tags:
#     python-base            shaped like AWS's public.ecr.aws/lambda/python: Debian bookworm (minbase) + /var/lang
#                            (this machine's CPython) + /var/runtime (awslambdaric) and /var/task/app.py
#     custom-norestore       the same base and /var/lang + /var/task/bootstrap, a Python custom runtime that never
#                            calls /runtime/restore/next
#     custom-allow           custom-norestore with LABEL com.amazonaws.lambda.feature.snapstart=Allow
#     python-extensions      python-base + /opt/extensions/events-extension (Examples/extensions/layer)
#   python-base.oci.tar      python-base as an oci-archive
#   python-base.docker.tar   python-base as a docker-archive (snapharness/python-base:latest)
# Idempotent: seconds when the inputs (this script, the Python, .deps/python, the Debian mirror) are unchanged.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
images="$root/.deps/images"
log() { printf '[test-images] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap, apt-get and the image checks' chroot need it)"
case "$images" in *:*) die "$images holds a ':', which skopeo's and umoci's image references cannot name" ;; esac

# --- Tools -----------------------------------------------------------------------------------------
# patchelf: the copied interpreter's RUNPATH names this machine's Python prefix; it is pointed at /var/lang/lib, so
# that it starts whatever LD_LIBRARY_PATH says (the custom images set none).
pkgs=(mmdebstrap umoci skopeo patchelf)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq || die "apt-get update failed (its reason is above; Debian's mirrors must be reachable)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get could not install ${missing[*]} (its reason is above; Debian's mirrors must be reachable)"
fi

mkdir -p "$images"
exec 9>"$images/.lock"
flock 9

# --- Inputs ----------------------------------------------------------------------------------------
# The runtime Python the tests use: the newest 3.13, else 3.12, of pyenv's. Its prefix becomes /var/lang.
python=""
for v in 3.13 3.12; do
  python=$(compgen -G "${PYENV_ROOT:-$HOME/.pyenv}/versions/$v.*/bin/python$v" | sort -V | tail -n 1 || true)
  [ -n "$python" ] && break
done
[ -n "$python" ] || die "no CPython 3.13 or 3.12 under ${PYENV_ROOT:-$HOME/.pyenv}/versions (the interpreter the tests run, built against bookworm's libraries)"
pyver=${python##*/python}                              # 3.13
prefix=$(cd "$(dirname "$python")/.." && pwd)          # /root/.pyenv/versions/3.13.0
abi="cpython-${pyver/./}"                              # cpython-313
pylib="lib/python$pyver"

# What scripts/deps.sh put into .deps/python: the runtime interface client and AWS's hooks library.
py="$root/.deps/python"
rt_files=()
for g in awslambdaric 'awslambdaric-*.dist-info' "runtime_client.$abi-x86_64-linux-gnu.so" 'snapshot_restore_py*' \
         simplejson 'simplejson-*.dist-info'; do
  found=$(cd "$py" 2>/dev/null && compgen -G "$g") || die "$py/$g is missing: run scripts/deps.sh (make deps) first"
  mapfile -t -O "${#rt_files[@]}" rt_files <<<"$found"
done

# The Debian mirror apt uses here (bookworm, its updates and security suites; main only).
apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ } print $i, $(i + 1) }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'function flush(  n, m, i, j, u, s) {
           if (types ~ /(^| )deb( |$)/ && enabled != "no") {
             n = split(uris, u, " "); m = split(suites, s, " ")
             for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print u[i], s[j]
           }
           types = uris = suites = enabled = ""
         }
         /^[ \t]*$/ { flush(); next }
         /^#/ { next }
         { k = tolower($1); $1 = "" }
         k == "types:" { types = $0 } k == "uris:" { uris = $0 } k == "suites:" { suites = $0 }
         k == "enabled:" { enabled = tolower($2) }
         END { flush() }' "$f"
  done
}
mirrors=$(apt_sources | awk '$2 ~ /^bookworm(-updates|-security)?$/ && !seen[$0]++ { print "deb " $1 " " $2 " main" }')
if [ -z "$mirrors" ]; then
  mirrors="deb http://deb.debian.org/debian bookworm main"
  log "apt has no bookworm source here: using $mirrors"
fi
mapfile -t mirror_args <<<"$mirrors"

# The base layer: the shared libraries CPython, its lib-dynload modules and common wheels link against.
base_pkgs=(libssl3 libffi8 zlib1g libsqlite3-0 libbz2-1.0 liblzma5 libreadline8 libncursesw6 libuuid1 libgdbm6
           libstdc++6 libgcc-s1 ca-certificates tzdata)
# shellcheck disable=SC2016 # $1 is the hook's, expanded by mmdebstrap
base_opts=(--variant=minbase --include="${base_pkgs[*]}"
           --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
           --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
           --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
           --customize-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname"')  # this machine's, not the image's

# Stamps: the base layer is keyed on what mmdebstrap is asked for; the images on everything they are made of (less
# what the copies leave out, such as the bytecode caches the host's Python keeps writing, and folders' mtimes).
base_key=$(printf '%s\n' "${base_opts[@]}" "${mirror_args[@]}" | sha256sum | cut -c1-16)
inputs_key=$({
  sha256sum "$root/scripts/test-images.sh" "$root/Examples/extensions/layer/extensions/events-extension"
  echo "$base_key $prefix"
  find "$prefix" \( -name __pycache__ -o -path "$prefix/$pylib/test" -o -path "$prefix/$pylib/site-packages/*.pth" \) \
    -prune -o -type d -printf '%P/ %m\n' -o -printf '%P %s %T@ %m %l\n' | sort
  (cd "$py" && find "${rt_files[@]}" -name __pycache__ -prune -o -type d -printf '%p/\n' -o -printf '%p %s %T@ %m\n') | sort
} | sha256sum | cut -c1-16)

layout="$images/layout"
tags=(python-base custom-norestore custom-allow python-extensions)
oci_tar="$images/python-base.oci.tar"
docker_tar="$images/python-base.docker.tar"
if [ "$(cat "$images/.stamp" 2>/dev/null)" = "$inputs_key" ] && [ -f "$layout/index.json" ] \
   && [ -s "$oci_tar" ] && [ -s "$docker_tar" ]; then
  log "up to date: ${tags[*]} in ${layout#"$root"/}, ${oci_tar#"$root"/}, ${docker_tar#"$root"/}"
  exit 0
fi

work="$images/.work"
rm -rf "$work"
mkdir -p "$work" "$images/cache"
trap 'rm -rf "$work"' EXIT

# --- Base layer: Debian bookworm minbase ----------------------------------------------------------
base_tar="$images/cache/bookworm-minbase.tar"
if [ "$(cat "$base_tar.key" 2>/dev/null)" != "$base_key" ] || [ ! -s "$base_tar" ]; then
  log "mmdebstrap: bookworm minbase + ${base_pkgs[*]} from ${mirror_args[*]}"
  rm -f "$base_tar" "$base_tar.key"
  mmdebstrap --quiet "${base_opts[@]}" bookworm "$work/base.tar" "${mirror_args[@]}" \
    || die "mmdebstrap could not build the base layer (its reason is above; the Debian mirror ${mirror_args[0]#deb } must be reachable)"
  mv "$work/base.tar" "$base_tar"
  echo "$base_key" > "$base_tar.key"
fi

# --- Staging the other layers ---------------------------------------------------------------------
# layer DIR OUT: DIR's contents as a layer tarball, owned by root, 0755 folders and executables, 0644 files.
layer() {
  local top
  mapfile -t top < <(find "$1" -mindepth 1 -maxdepth 1 -printf '%P\n')
  tar -C "$1" --create --file "$2" --sort=name --numeric-owner --owner=0 --group=0 --mode='u=rwX,go=rX' "${top[@]}"
}

# /var/lang: the interpreter's prefix, without bytecode caches, the stdlib's tests, the static libpython, tkinter's
# module (Tcl/Tk are not in the image) and this machine's .pth startup hooks.
log "staging /var/lang from $prefix"
lang="$work/lang"
mkdir -p "$lang/var/lang"
tar -C "$prefix" -cf - --exclude=__pycache__ --exclude="./$pylib/test" --exclude="./$pylib/config-*/*.a" \
  --exclude="./$pylib/lib-dynload/_tkinter.*" --exclude="./$pylib/site-packages/*.pth" . \
  | tar -C "$lang/var/lang" -xf -
[ -e "$lang/var/lang/bin/python3" ] || ln -s "python$pyver" "$lang/var/lang/bin/python3"
patchelf --set-rpath /var/lang/lib "$lang/var/lang/bin/python$pyver"
# Scripts (pip, pydoc, ...) whose #! names this machine's prefix name /var/lang's interpreter instead.
for f in "$lang/var/lang/bin"/*; do
  if [ -f "$f" ] && [ ! -L "$f" ] && [ "$(head -c 2 "$f")" = '#!' ]; then
    sed -i "1s|^#!$prefix/bin/|#!/var/lang/bin/|" "$f"
  fi
done
layer "$lang" "$work/lang.tar"

# The Lambda layer of python-base: the runtime interface client, the entrypoint, the function.
log "staging /var/runtime, /lambda-entrypoint.sh and /var/task/app.py"
rt="$work/runtime"
mkdir -p "$rt/var/runtime" "$rt/var/task"
(cd "$py" && cp -R "${rt_files[@]}" "$rt/var/runtime/")
find "$rt/var/runtime" -name __pycache__ -prune -exec rm -rf {} +
find "$rt/var/runtime/simplejson" -name '_speedups.*.so' ! -name "_speedups.$abi-*" -delete
cat > "$rt/var/runtime/bootstrap" <<EOF
#!/bin/sh
# Lambda's Python runtime: the runtime interface client serves the handler \$_HANDLER names.
export AWS_EXECUTION_ENV="\${AWS_EXECUTION_ENV:-AWS_Lambda_python$pyver}"
export PYTHONPATH="\${LAMBDA_TASK_ROOT:-/var/task}:/opt/python/lib/python$pyver/site-packages:/opt/python:/var/runtime\${PYTHONPATH:+:\$PYTHONPATH}"
exec /var/lang/bin/python3 -m awslambdaric "\$_HANDLER"
EOF
cat > "$rt/lambda-entrypoint.sh" <<'EOF'
#!/bin/sh
# As in AWS's Lambda base images, without the Runtime Interface Emulator: the handler is the one argument.
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"

RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  echo "AWS_LAMBDA_RUNTIME_API is not set: this image needs a Lambda Runtime API (it has no Runtime Interface Emulator)" 1>&2
  exit 1
fi
exec "$RUNTIME_ENTRYPOINT"
EOF
cat > "$rt/var/task/app.py" <<'EOF'
"""A SnapStart test function: what it drew at init, and which of its runtime hooks ran."""
import os
import random
import sys
import uuid

from snapshot_restore_py import register_after_restore, register_before_snapshot

INIT_ID = uuid.uuid4().hex[:8]
RANDOM = random.getrandbits(32)
HOOKS = []


@register_before_snapshot
def before_snapshot():
    HOOKS.append("before_snapshot")


@register_after_restore
def after_restore():
    HOOKS.append("after_restore")


def handler(event, context):
    return {
        "init_id": INIT_ID,
        "random": RANDOM,
        "hooks": HOOKS,
        "initialization_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "task_root": os.environ.get("LAMBDA_TASK_ROOT"),
        "image": "python-base",
        "uid": os.getuid(),
        "python": sys.version.split()[0],
        "cwd": os.getcwd(),
    }
EOF
chmod 0755 "$rt/var/runtime/bootstrap" "$rt/lambda-entrypoint.sh"
layer "$rt" "$work/runtime.tar"

# The custom runtime's layer: /var/task/bootstrap, which never calls /runtime/restore/next.
log "staging /var/task/bootstrap (custom runtime)"
custom="$work/custom"
mkdir -p "$custom/var/task"
cat > "$custom/var/task/bootstrap" <<'EOF'
#!/var/lang/bin/python3
"""A custom runtime that echoes each event. It never calls /runtime/restore/next (no SnapStart hooks)."""
import json
import os
import urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the Runtime API is never behind a proxy

while True:
    with OPENER.open(API + "/invocation/next") as reply:
        request_id = reply.headers["Lambda-Runtime-Aws-Request-Id"]
        raw = reply.read()
    try:
        event = json.loads(raw)
    except ValueError:
        event = raw.decode("utf-8", "replace")
    body = json.dumps({"image": "custom", "echo": event}).encode()
    request = urllib.request.Request(API + "/invocation/" + request_id + "/response", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    OPENER.open(request).close()
EOF
chmod 0755 "$custom/var/task/bootstrap"
layer "$custom" "$work/custom.tar"

# An extension in the image, as a Dockerfile's `COPY extensions /opt/extensions` puts it there.
log "staging /opt/extensions (python-extensions)"
ext="$work/extensions"
mkdir -p "$ext/opt/extensions"
cp "$root/Examples/extensions/layer/extensions/events-extension" "$ext/opt/extensions/"
chmod 0755 "$ext/opt/extensions/events-extension"
layer "$ext" "$work/extensions.tar"

# --- The images ------------------------------------------------------------------------------------
log "assembling ${tags[*]} in ${layout#"$root"/}"
new="$work/layout"
umoci init --layout "$new"
umoci new --image "$new:base"
umoci raw add-layer --image "$new:base" --history.created_by "mmdebstrap --variant=minbase bookworm (scripts/test-images.sh)" "$base_tar"
umoci raw add-layer --image "$new:base" --tag lang --history.created_by "/var/lang: CPython $(basename "$prefix") (scripts/test-images.sh)" "$work/lang.tar"
umoci raw add-layer --image "$new:lang" --tag python-base --history.created_by "/var/runtime, /lambda-entrypoint.sh, /var/task/app.py (scripts/test-images.sh)" "$work/runtime.tar"
umoci raw add-layer --image "$new:lang" --tag custom-norestore --history.created_by "/var/task/bootstrap: custom runtime (scripts/test-images.sh)" "$work/custom.tar"
umoci rm --image "$new:base"
umoci rm --image "$new:lang"

path_env="PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
umoci config --image "$new:python-base" --no-history --architecture amd64 --os linux --clear=config.env \
  --config.entrypoint /lambda-entrypoint.sh --config.cmd app.handler --config.workingdir /var/task \
  --config.env LANG=en_US.UTF-8 --config.env TZ=:/etc/localtime --config.env "$path_env" \
  --config.env LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib \
  --config.env LAMBDA_TASK_ROOT=/var/task --config.env LAMBDA_RUNTIME_DIR=/var/runtime
umoci config --image "$new:custom-norestore" --no-history --architecture amd64 --os linux --clear=config.env \
  --config.entrypoint /var/task/bootstrap --clear=config.cmd --config.workingdir /var/task \
  --config.env "$path_env" --config.env LANG=en_US.UTF-8
umoci config --image "$new:custom-norestore" --tag custom-allow --no-history \
  --config.label com.amazonaws.lambda.feature.snapstart=Allow
umoci raw add-layer --image "$new:python-base" --tag python-extensions \
  --history.created_by "/opt/extensions/events-extension (scripts/test-images.sh)" "$work/extensions.tar"
umoci gc --layout "$new"

# --- Checks: each image unpacked and run in a chroot with its own environment ----------------------
for tag in "${tags[@]}"; do
  umoci raw unpack --image "$new:$tag" "$work/check-$tag" >"$work/unpack.log" 2>&1 \
    || { cat "$work/unpack.log" >&2; die "umoci could not unpack $tag (its reason is above)"; }
done
check() { # TAG ENV... -- COMMAND...: runs COMMAND in TAG's root with only ENV
  local dir="$work/check-$1" env=(); shift
  while [ "$1" != -- ]; do env+=("$1"); shift; done; shift
  chroot "$dir" /usr/bin/env -i "${env[@]}" "$@"
}
base_env=(LANG=en_US.UTF-8 "$path_env" LD_LIBRARY_PATH=/var/lang/lib LAMBDA_TASK_ROOT=/var/task)
log "checking python-base"
missing_libs=$(check python-base "${base_env[@]}" -- /bin/sh -c \
  "ldd /var/lang/bin/python$pyver /var/lang/$pylib/lib-dynload/*.so /var/runtime/*.so" | grep 'not found' || true)
[ -z "$missing_libs" ] || die "python-base lacks libraries its Python needs (add their packages to base_pkgs): $missing_libs"
check python-base "${base_env[@]}" -- /var/lang/bin/python3 -c \
  'import ssl, sqlite3, ctypes, zlib, bz2, lzma, uuid, decimal, json, readline, curses, dbm, zoneinfo' \
  || die "python-base's Python cannot import its standard library's extension modules (its error is above)"
check python-base "${base_env[@]}" PYTHONPATH=/var/runtime -- /var/lang/bin/python3 -c \
  'import awslambdaric, snapshot_restore_py, runtime_client, simplejson' \
  || die "python-base's /var/runtime does not import (its error is above)"
rc=0; check python-base "${base_env[@]}" -- /lambda-entrypoint.sh 2>/dev/null || rc=$?
[ "$rc" = 142 ] || die "python-base's /lambda-entrypoint.sh without a handler exited $rc, not 142"
for tag in custom-norestore custom-allow; do
  log "checking $tag"
  check "$tag" LANG=en_US.UTF-8 "$path_env" -- /bin/sh -c \
    'test -x /var/task/bootstrap && /var/lang/bin/python3 -c "import json, urllib.request"' \
    || die "$tag: /var/task/bootstrap is not executable or its Python does not start (its error is above)"
done

# --- Outputs ---------------------------------------------------------------------------------------
log "writing ${oci_tar#"$root"/} and ${docker_tar#"$root"/}"
skopeo --insecure-policy copy --quiet "oci:$new:python-base" "oci-archive:$work/python-base.oci.tar:python-base"
skopeo --insecure-policy copy --quiet "oci:$new:python-base" "docker-archive:$work/python-base.docker.tar:snapharness/python-base:latest"
rm -rf "$layout" "$oci_tar" "$docker_tar"
mv "$new" "$layout"
mv "$work/python-base.oci.tar" "$oci_tar"
mv "$work/python-base.docker.tar" "$docker_tar"
echo "$inputs_key" > "$images/.stamp"
log "built ${tags[*]} in ${layout#"$root"/} ($(du -sh "$layout" | cut -f1)), ${oci_tar#"$root"/}, ${docker_tar#"$root"/}"
