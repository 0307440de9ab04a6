#!/usr/bin/env bash
# The KV compression matrix of docs/kv-compression.md: every --kv spec on all samples of the eval set.
# Usage: bench/kv-matrix.sh [EVAL.jsonl] [OUT_DIR]   (skips specs whose JSON is already there)
# EVAL.jsonl may be a fresh set from bench/make-eval.py (no reference answers: agreement is n/a).
set -u
cd "$(dirname "$0")/.."
data=${1:-../shared/refmodel/eval-shared.jsonl}
out=${2:-bench-out/kv}
mkdir -p "$out"
# kivi4 and kivi2 are today's defaults; residual=fp16 keeps KIVI's fp16 residual (the defaults before issue #11;
# for kivi2 with its 2-bit values and fp16 key grids, vbits=2,kmeta=fp16).
specs=(full fp16 int8 kivi4 "kivi4:residual=fp16" "kivi4:group=32,residual=fp16" "kivi4:group=32,vgroup=32,residual=fp16"
       kivi2 "kivi2:residual=fp16,vbits=2,kmeta=fp16" "kivi2:vgroup=32,residual=fp16,vbits=2,kmeta=fp16"
       "full+dtd:threshold=8" "kivi2+dtd:threshold=8")
for pol in "window:sink=4,recent=0.5" "window:sink=4,recent=0.25" "window:sink=4,recent=124" \
           "h2o:budget=0.5" "h2o:budget=0.25" "h2o:budget=128" \
           "snapkv:budget=0.5" "snapkv:budget=0.25" "snapkv:budget=128"; do
  specs+=("full+$pol" "kivi2+$pol")
done
for spec in "${specs[@]}"; do
  name=$(echo "$spec" | sed 's/[^A-Za-z0-9]/_/g')
  [ -f "$out/$name.json" ] && continue
  echo "== $spec" >> "$out/log"
  bin/kvstream eval --data "$data" --kv "$spec" --json "$out/$name.json" --answers "$out/$name.answers.jsonl" >> "$out/log" 2>&1
done
python3 bench/kv-table.py "$out"
