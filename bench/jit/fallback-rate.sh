#!/usr/bin/env bash
# Runs `kvstream bench` in N fresh JVMs and counts those whose prefill allocated like a kernel on
# the Vector API's Java fallback (more than 1 MB per token; the KV cache takes ~70 KB). A kernel
# compiled with a failed intrinsic runs that way for the life of its JVM, and only some JVMs
# compile it so: a rate over many JVMs is the measure, one run proves nothing. Each JVM records
# JFR (default settings); for the ones that allocated, the top allocation sites in kvstream code
# are printed.
#
#   bench/jit/fallback-rate.sh N MODEL [OUT_DIR]      (JAVA_HOME picks the JDK)
#
# BENCH_ARGS replaces the workload's shape. bench/jit/late-inlines.sh says why a kernel allocates.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs=${1:?usage: bench/jit/fallback-rate.sh N MODEL [OUT_DIR]}
model=${2:?usage: bench/jit/fallback-rate.sh N MODEL [OUT_DIR]}
out=${3:-$(mktemp -d)}
java_home=${JAVA_HOME:?set JAVA_HOME to the JDK to measure}
mkdir -p "$out"
echo "fallback-rate: $runs JVMs of $("$java_home/bin/java" -version 2>&1 | head -1), output in $out"
slow=0
for i in $(seq 1 "$runs"); do
  run="$out/jvm-$i"
  mkdir -p "$run"
  KVSTREAM_JAVA_OPTS="-Xmx8g -XX:+UseTransparentHugePages -XX:StartFlightRecording=filename=$run/recording.jfr" \
    "$here/bin/kvstream" bench --model "$model" --device cpu --threads 2 \
    ${BENCH_ARGS:---batch 1 --prompt-len 128 --gen 8 --repeat 1} --json "$run/bench.json" > "$run/bench.log" 2>&1
  line=$(python3 - "$run/bench.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
worst = 0
cells = []
for row in report["rows"]:
    per_token = max(row["prefill_allocated_bytes_runs"]) / (row["batch"] * row["prompt_len"])
    worst = max(worst, per_token)
    cells.append(f"batch {row['batch']}: prefill {row['prefill_tok_s']:.1f} tok/s, decode {row['decode_tok_s']:.1f}, "
                 f"{per_token / 1000:.0f} KB per prefill token")
print(("FALLBACK " if worst > 1e6 else "ok ") + "; ".join(cells))
EOF
)
  echo "jvm $i/$runs: $line"
  if [[ $line == FALLBACK* ]]; then
    slow=$((slow + 1))
    "$java_home/bin/jfr" print --events jdk.ObjectAllocationSample "$run/recording.jfr" > "$run/allocations.txt"
    python3 - "$run/allocations.txt" <<'EOF'
import collections, re, sys
units = {"bytes": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}
sites = collections.Counter()
for event in open(sys.argv[1]).read().split("jdk.ObjectAllocationSample")[1:]:
    weight = re.search(r"weight = ([\d.]+) (\w+)", event)
    frames = re.findall(r"^\s+(io\.kvstream\.\S+\(.*?\) line: \d+)", event, re.M)
    if weight and frames:
        sites[frames[0]] += float(weight.group(1)) * units.get(weight.group(2), 1)
for site, weight in sites.most_common(5):
    print(f"    {weight / 1e6:10.1f} MB sampled at {site}")
EOF
  fi
done
echo "fallback-rate: $slow of $runs JVMs allocated more than 1 MB per prefill token"
