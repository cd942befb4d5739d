#!/usr/bin/env bash
# `make bench`: cold start vs restore for the handlers in Examples/bench, with the CRIU and memory floors.
# Usage: scripts/bench.sh SNAPHARNESS_BINARY RESULTS_DIR
# Writes RESULTS_DIR/<name>.{txt,json,csv,svg} and prints a closing summary with the issue's targets.
# BENCH_ITERATIONS scales the small handlers' iterations (default 20); the large heaps run fewer.
# BENCH_BASELINE=/path/to/another/snapharness also measures the minimal handler with that build, side by side with
# this one in alternating rounds of the same run (e.g. a build of the previous commit), and prints both p50s.
set -euo pipefail

bin=$1
out=$2
root=$(cd "$(dirname "$0")/.." && pwd)
examples="$root/Examples/bench"
iterations=${BENCH_ITERATIONS:-20}
python=${PYTHON:-python3}
# The handlers here are this repository's own examples: run them as root so they get the same interpreter as
# `python3` on PATH (a pyenv Python under /root is out of reach of an unprivileged user). A restore's cost does
# not depend on the uid. Set SNAPHARNESS_USER to measure another user.
export SNAPHARNESS_USER=${SNAPHARNESS_USER:-root}
mkdir -p "$out"
rm -f "$out"/*.txt "$out"/*.json "$out"/*.csv "$out"/*.svg

log() { printf '[bench] %s\n' "$*" >&2; }

# boto3 is bundled into the example's own folder, as in a Lambda deployment package (git-ignored there).
if [ ! -d "$examples/boto3/boto3" ] || [ ! -d "$examples/boto3/botocore" ]; then
  log "installing boto3 into Examples/bench/boto3 (pip install --target, as for a Lambda zip)"
  "$python" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --target "$examples/boto3" boto3 >&2
fi
# A zip built for the function's runtime carries bytecode for it; /var/task is read-only, so without it every cold
# start would compile botocore again. The runtime is the newest Python installed unless --python says otherwise.
# (the places snapharness looks for runtimes: pyenv's versions, /usr/local/bin, /usr/bin).
for py in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/*/bin/python3.1[2-9] /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
  if [ -x "$py" ]; then "$py" -m compileall -q -j 0 "$examples/boto3" >/dev/null 2>&1 || true; fi
done

run() { # name dir iterations warmup [extra flags...]
  local name=$1 dir=$2 n=$3 w=$4
  shift 4
  log "$name: $n iterations + $w warm-up"
  local start=$SECONDS
  "$bin" bench "$dir" --iterations "$n" --warmup "$w" --json "$out/$name.json" --csv "$out/$name.csv" \
    --chart "$out/$name.svg" "$@" | tee "$out/$name.txt"
  log "$name: done in $((SECONDS - start)) s"
  echo
}

# Side by side with a baseline build: rounds alternate so both see the same machine state.
if [ -n "${BENCH_BASELINE:-}" ]; then
  [ -x "$BENCH_BASELINE" ] || { log "BENCH_BASELINE=$BENCH_BASELINE is not an executable"; exit 1; }
  rounds=${BENCH_BASELINE_ROUNDS:-4}
  for round in $(seq "$rounds"); do
    for side in baseline current; do
      b=$bin; [ "$side" = baseline ] && b=$BENCH_BASELINE
      log "minimal, $side build, round $round/$rounds"
      "$b" bench "$examples/minimal" --iterations 10 --warmup 1 --json "$out/side-$side-$round.json" >/dev/null
    done
  done
  "$python" - "$out" "$rounds" > "$out/side-by-side.txt" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def samples(side, key):
    values = []
    for r in range(1, rounds + 1):
        report = json.load(open("%s/side-%s-%d.json" % (out, side, r)))
        variant, metric = key.split(".")
        values += [s["metrics"][metric] for s in report["samples"]
                   if s["variant"] == variant and metric in s["metrics"]]
    return values
print("side by side, minimal handler, %d alternating rounds of 10 iterations (p50 of every sample, ms):" % rounds)
for key in ("restore.firstResponse", "criu.firstResponse", "cold.firstResponse", "snapshot.checkpoint"):
    base, cur = statistics.median(samples("baseline", key)), statistics.median(samples("current", key))
    print("  %-24s baseline %8.2f   this build %8.2f   (%+.2f ms, %.2fx)" % (key, base, cur, cur - base, cur / base))
base, cur = (statistics.median(samples(s, "restore.firstResponse")) for s in ("baseline", "current"))
print("summary: minimal restore -> first response, this build vs baseline: %.2f ms vs %.2f ms" % (cur, base))
print("    %s: no slower than the baseline (within 0.5 ms of noise)" % ("met" if cur <= base + 0.5 else "NOT MET"))
PY
  cat "$out/side-by-side.txt"
fi

run minimal "$examples/minimal" "$iterations" 2 --breakdown --target-fill-ratio 3
run boto3 "$examples/boto3" "$iterations" 2 --breakdown --target-speedup 10
if "$python" -c 'import numpy' 2>/dev/null; then
  run numpy "$examples/numpy" "$iterations" 2 --python "$python" # the interpreter that has numpy
else
  log "numpy is not importable by $python: skipping the numpy handler"
fi
# /tmp written during Init: the same handler with an empty /tmp and with 200 MB in it (opened and mapped).
run tmp-0mb "$examples/tmp" 10 1 --no-lazy --function-name tmp-0mb --env TMP_MB=0
run tmp-200mb "$examples/tmp" 10 1 --no-lazy --function-name tmp-200mb --env TMP_MB=200 --target-checkpoint-ms 2000
"$python" - "$out/tmp-0mb.json" "$out/tmp-200mb.json" > "$out/tmp-compare.txt" <<'PY'
import json, sys
def p50(path, key):
    report = json.load(open(path))
    return next(s["summary"]["p50"] for s in report["summaries"] if s["key"] == key)
empty, full = (p50(f, "restore.firstResponse") for f in sys.argv[1:3])
diff = full - empty
print("summary: tmp-200mb vs tmp-0mb: restore -> first response %.1f ms vs %.1f ms (%+.1f ms)" % (full, empty, diff))
print("    %s: a 200 MB /tmp restores within +15 ms of an empty one" % ("met" if diff <= 15 else "NOT MET"))
PY
cat "$out/tmp-compare.txt"
run heap-500mb "$examples/heap" 8 1 --memory 3008 --function-name heap-500mb --env HEAP_MB=500
run heap-2gb "$examples/heap" 4 1 --memory 10240 --function-name heap-2gb --env HEAP_MB=2048 --target-lazy-ms 25

# serve last: its 32-client phase leaves 32 environments' network namespaces and cgroups for the kernel to tear
# down in the background, which no handler's numbers should carry. It measures its round trip against an HTTP floor of the same stack, its CPU per invoke, freezing, throughput, a
# burst.
log "serve (bench --serve on the minimal handler)"
"$bin" bench "$examples/minimal" --serve --iterations "$iterations" --json "$out/serve.json" | tee "$out/serve.txt"
echo

echo "== summary (p50; full tables in $out/*.txt, charts in $out/*.svg) =="
for f in "$out"/*.txt; do
  sed -n 's/^summary: //p; /^    \(met\|NOT MET\)/p' "$f"
done
