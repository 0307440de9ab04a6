#!/usr/bin/env bash
# Runs `kvstream bench` in N fresh JVMs, as bench/cpu-peer.sh does (bandwidth and peak measured
# first), and prints per JVM the prefill figure and whether C2 took a class-check trap at the cast
# in VectorOperators.opCode, the Vector API's one shared operator profile: on Java 17 without
# OperatorProfile every slow prefill JVM had that trap and no fast one did (docs/benchmarks.md,
# seventeenth stop). Reads the trap from -XX:+PrintMethodData, printed at exit.
#
#   bench/jit/operator-trap.sh MODEL [N]       (JAVA_HOME picks the JDK; N defaults to 10)
#
# BENCH_ARGS replaces the workload's shape; KVSTREAM_JAR picks another build, as for bin/kvstream.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
model=${1:?usage: bench/jit/operator-trap.sh MODEL [N]}
runs=${2:-10}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
printf '%4s %14s %8s %s\n' jvm "prefill tok/s" "of peak" "opCode trap"
for i in $(seq 1 "$runs"); do
  KVSTREAM_JAVA_OPTS="-Xmx8g -XX:+UseTransparentHugePages -XX:+UnlockDiagnosticVMOptions -XX:+PrintMethodData" \
    "$here/bin/kvstream" bench --model "$model" --device cpu --threads 2 \
    ${BENCH_ARGS:---batch 1 --prompt-len 128 --gen 2 --repeat 2} > "$out" 2>&1 || { tail -5 "$out"; exit 1; }
  row=$(awk '$1 == 1 && $2 ~ /^[0-9]+$/ {print $3, $4; exit}' "$out")
  # The method's block runs from its header to the next dashed line; the cast is at bci 1.
  trapped=$(awk '/^static jdk\.incubator\.vector\.VectorOperators::opCode/ {p = 1}
                 p && /^-+$/ {p = 0}
                 p && /bci: 1 / && /trap\(class_check/ {t = 1}
                 END {print t ? "yes" : "no"}' "$out")
  printf '%4d %14s %8s %s\n' "$i" ${row:-- -} "$trapped"
done
