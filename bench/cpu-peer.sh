#!/usr/bin/env bash
# kvstream against llama.cpp on the CPU: the same GGUF files, shapes and thread count, one run
# after the other, then a Markdown table of the ratios (docs/benchmarks.md, "Against llama.cpp").
#
#   bench/cpu-peer.sh [--models A.gguf,B.gguf] [--jdk JAVA_HOME[,JAVA_HOME]] [--threads N]
#                     [--prompt-len N] [--gen N] [--repeat N] [--peer DIR] [--out DIR]
#
# llama.cpp runs through node-llama-cpp's prebuilt CPU binaries (../shared/peers/README.md), set
# up once outside the repository in --peer; nothing of it is built or kept here.
set -uo pipefail
cd "$(dirname "$0")/.."

models=/work/models/synth-1b-q8_0.gguf,/work/models/synth-1b-q4_0.gguf
jdks=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
threads=2
prompt=128
gen=32
repeat=3
peer=/tmp/peer
peer_script=../shared/peers/llamacpp-bench.mjs
out=bench-out/cpu-peer/$(date -u +%Y%m%dT%H%M%SZ)

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --models) models=$2; shift 2 ;;
    --jdk) jdks=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --prompt-len) prompt=$2; shift 2 ;;
    --gen) gen=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --peer) peer=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "cpu-peer: unknown argument $1" >&2; usage ;;
  esac
done

if [[ ! -d "$peer/node_modules/node-llama-cpp" ]]; then
  cat >&2 <<EOF
cpu-peer: no node-llama-cpp in $peer. Set it up once (Node.js 20+, npm registry access):
  mkdir -p $peer && cd $peer && npm init -y >/dev/null && npm i -E node-llama-cpp@3.21.1
EOF
  exit 2
fi
# node resolves the script's import from the script's own folder.
cp "$peer_script" "$peer/llamacpp-bench.mjs" || exit 2
[[ -f pipeline-jobs/target/kvstream.jar ]] || { echo "cpu-peer: build first: ./mvnw -B -DskipTests package" >&2; exit 2; }
IFS=, read -r -a model_list <<< "$models"
IFS=, read -r -a jdk_list <<< "$jdks"
for m in "${model_list[@]}"; do
  [[ -f "$m" ]] || { echo "cpu-peer: $m not found (bin/kvstream synth --shape 1b --quant q8_0|q4_0 --out $m)" >&2; exit 2; }
done
mkdir -p "$out"

load() { cut -d' ' -f1-3 /proc/loadavg; }
{
  echo "date: $(date -u +%FT%TZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs online"
  echo "cpu flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512bw|avx512_vnni|avx512_bf16|amx_bf16)$' | tr '\n' ' ')"
  echo "threads: $threads, prompt: $prompt, gen: $gen, kvstream --repeat: $repeat"
  echo "llama.cpp: node-llama-cpp $(node -p "require('$peer/node_modules/node-llama-cpp/package.json').version"), node $(node --version)"
} | tee "$out/machine.txt"

for m in "${model_list[@]}"; do
  name=$(basename "$m" .gguf)
  for jdk in "${jdk_list[@]}"; do
    version=$("$jdk/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.version = //p')
    echo "== kvstream, $name, Java $version ($jdk), load before: $(load)"
    JAVA_HOME=$jdk bin/kvstream bench --model "$m" --device cpu --threads "$threads" --batch 1,8 \
        --prompt-len "$prompt" --gen "$gen" --repeat "$repeat" --json "$out/kvstream-$name-java$version.json" \
      || echo "cpu-peer: kvstream on Java $version failed" | tee -a "$out/failures.txt"
    echo "load after: $(load)" | tee "$out/kvstream-$name-java$version.load"
  done
  for b in 1 8; do
    echo "== llama.cpp, $name, batch $b, load before: $(load)"
    node "$peer/llamacpp-bench.mjs" "$(readlink -f "$m")" "$prompt" "$gen" "$threads" "$b" \
        | tee "$out/llamacpp-$name-b$b.jsonl" \
      || echo "cpu-peer: llama.cpp on $name batch $b failed" | tee -a "$out/failures.txt"
  done
done

python3 bench/cpu-peer-table.py "$out" | tee "$out/table.md"
