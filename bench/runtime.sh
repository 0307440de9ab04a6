#!/usr/bin/env bash
# Runtime benchmarks of docs/benchmarks.md, one after the other on an otherwise idle machine.
# Set BASELINE_CMD to run another engine on the same synth GGUF in the same run (the doc used
# mukel/llama3.java); it is called with the GGUF path as its only argument.
set -u
cd "$(dirname "$0")/.."
ref=${REFMODEL:-../shared/refmodel}
synth=${SYNTH:-bench-out/synth-1b-q8_0.gguf}
[ -f "$synth" ] || bin/kvstream synth --shape 1b --quant q8_0 --out "$synth"
lscpu | grep -E 'Model name|^CPU\(s\)|L3'; java -version 2>&1 | head -1; date
bin/kvstream bench --model "$ref/refmodel-q8_0.gguf" --batch 1,8 --prompt-len 256 --gen 64
bin/kvstream bench --model "$ref/refmodel-f16.gguf" --batch 1,8 --prompt-len 256 --gen 64 --no-bandwidth
bin/kvstream bench --model "$synth" --batch 1,8 --prompt-len 16 --gen 32
if [ -n "${BASELINE_CMD:-}" ]; then for i in 1 2 3; do $BASELINE_CMD "$synth"; done; fi
bin/kvstream bench --model "$synth" --batch 1,8 --prompt-len 128 --gen 16 --no-bandwidth
