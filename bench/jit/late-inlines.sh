#!/usr/bin/env bash
# Runs `kvstream bench` with C2's compilation log and lists, per C2 compile of a kvstream method,
# the Vector API calls C2 inlined late and the intrinsics that failed (late-inlines.py says why).
# Deterministic for a given JDK, jar and workload, where the slow JVMs it explains are not.
#
#   bench/jit/late-inlines.sh MODEL [METHOD_REGEX]     (JAVA_HOME picks the JDK)
#
# EXTRA_JAVA_OPTS adds JVM options: -XX:-UseTypeProfile, for one, makes every profile-bound call
# fail, which is how to check that a kernel does not depend on the profile (give it a smaller
# BENCH_ARGS, such a run is slow). BENCH_ARGS replaces the workload's shape.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
model=${1:?usage: bench/jit/late-inlines.sh MODEL [METHOD_REGEX]}
regex=${2:-'io\.kvstream\.(model\.tensor|runtime\.cpu)\.'}
log=$(mktemp --suffix=.xml)
trap 'rm -f "$log"' EXIT
KVSTREAM_JAVA_OPTS="${EXTRA_JAVA_OPTS:-} -Xmx8g -XX:+UseTransparentHugePages -XX:+UnlockDiagnosticVMOptions -XX:+LogCompilation -XX:LogFile=$log" \
  "$here/bin/kvstream" bench --model "$model" --device cpu --threads 2 \
  ${BENCH_ARGS:---batch 1,8 --prompt-len 128 --gen 4 --repeat 1} --no-bandwidth | grep -E '^ +(batch|[0-9]+ )' || true
python3 "$here/bench/jit/late-inlines.py" "$log" "$regex"
