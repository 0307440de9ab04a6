#!/usr/bin/env bash
# Compiles LayerMatMul beside the kvstream jar and runs it.
# Usage: bench/kernels/layer-matmul/run.sh MODEL.gguf [TOKENS] [THREADS] [f32|q8_0]
# Environment: JAVA_HOME (default: the java on PATH), KVSTREAM_JAR (default: the built jar).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
jar=${KVSTREAM_JAR:-$here/../../../pipeline-jobs/target/kvstream.jar}
bin=${JAVA_HOME:+$JAVA_HOME/bin/}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"${bin}javac" -nowarn --add-modules jdk.incubator.vector -cp "$jar" -d "$out" "$here/LayerMatMul.java" 2>&1 | grep -v "^warning\|incubat" || true
"${bin}java" --add-modules jdk.incubator.vector -Xmx12g -XX:+UseTransparentHugePages -cp "$out:$jar" \
    io.kvstream.runtime.cpu.LayerMatMul "$1" "${2:-128}" "${3:-2}" "${4:-f32}" 2>&1 | grep -v "WARNING"
