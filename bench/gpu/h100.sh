#!/usr/bin/env bash
# The GPU benchmark of issue #5, one device-tool command per call (docs/gpu.md, "Measuring on the
# H100"). Runs in the repository root with .gpu carried (bench/gpu-pack.sh builds it):
#
#   bench/gpu/h100.sh PHASE...        phases run in the order given:
#     smoke    tiny shape, every step below at toy sizes (a minute): the plumbing works
#     1b       synth 1B f16 (+ the same weights for transformers) and q8_0; kvstream decode at
#              batch 1,8,64,256 and prefill at 512 and 2048 tokens; transformers eager and sdpa
#     kv       1B f16: --kv fp16 beside kivi2, batch 64, 2000-token prompts
#     8b-f16   synth 8B f16 (+ transformers' copy); kvstream f16; transformers eager and sdpa
#     8b-q8    synth 8B q8_0; kvstream q8_0 (its transformers row is 8b-f16's: no Q8_0 there)
#
# Every command also measures the device's ceilings first (copy bandwidth, fp16/bf16 matmul), so
# the ratios in its summary come from one run. Writes $OUT/log.txt (everything, timestamped) and
# $OUT/summary.json (rewritten after each step: a command cut off keeps what it measured) and
# prints the markdown tables last (bench/gpu/table.py). Each step has a time limit inside the
# command's budget; a failed step is recorded and the rest go on.
#
# Environment: OUT (default .gpu-out), H100_WORK (models and raw results, default
# /tmp/kvstream-bench), H100_BUDGET_S (seconds for the whole command, default 560: the device
# tool stops a command at 600), H100_DEVICE (cuda; cpu checks this script on a machine without a
# GPU), KVSTREAM_RUN (default .gpu/run), H100_TOKENIZER (default .gpu/models/tokenizer.json, for
# kvstream reading a safetensors folder), H100_DRY_RUN=1 (print the steps, run nothing),
# H100_KEEP_MODELS=1 (leave the generated models in H100_WORK).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
out=${OUT:-$root/.gpu-out}
work=${H100_WORK:-/tmp/kvstream-bench}
budget=${H100_BUDGET_S:-560}
device=${H100_DEVICE:-cuda}
run=${KVSTREAM_RUN:-$root/.gpu/run}
dry=${H100_DRY_RUN:-0}
raw=$work/results
tokenizer=${H100_TOKENIZER:-$root/.gpu/models/tokenizer.json}
# Seconds kept back at the end for the last summary and the tables.
reserve=15
# kvstream's bench keeps every sequence's KV on the host as fp32 too: 8B at batch 256 holds about
# 20 GB there (and 1B with 64 x 2000-token contexts about 17 GB); the machine has 128 GB.
bench_java_opts=${KVSTREAM_JAVA_OPTS:--Xmx64g}

usage() {
    sed -n '2,13p' "$0" >&2
    exit 2
}
[[ $# -gt 0 ]] || usage
for phase in "$@"; do
    case $phase in
        smoke | 1b | kv | 8b-f16 | 8b-q8) ;;
        *) echo "h100.sh: unknown phase '$phase'" >&2; usage ;;
    esac
done
phases="$*"

mkdir -p "$out" "$raw" || exit 2
rm -f "$raw"/*.json "$raw"/*.part "$raw"/steps.tsv  # results of an earlier command on a warm machine
exec > >(tee -a "$out/log.txt") 2>&1
tee_pid=$!
export PYTHONUNBUFFERED=1

log() { printf '[%s %4ds] %s\n' "$(date -u +%H:%M:%S)" "$SECONDS" "$*"; }
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$raw/steps.tsv"; }
collect() {
    python3 bench/gpu/table.py collect "$raw" --out "$out/summary.json" --phases "$phases" || log "table.py collect failed"
}

# step NAME LIMIT_S MIN_S CMD...: CMD with at most LIMIT_S seconds and no more than the budget has
# left; skipped when less than MIN_S is left. Returns CMD's status (124: it ran out of time).
step() {
    local name=$1 limit=$2 min=$3
    shift 3
    local left=$((budget - SECONDS - reserve))
    if ((left < min)); then
        log "SKIP $name: ${left}s left of the budget, it needs ${min}s"
        record "$name" skipped 0
        return 1
    fi
    ((limit > left)) && limit=$left
    log "START $name (limit ${limit}s): $*"
    if [[ $dry == 1 ]]; then
        record "$name" dry 0
        return 0
    fi
    local t0=$SECONDS rc
    timeout --kill-after=10 "$limit" "$@"
    rc=$?
    log "END $name: rc=$rc in $((SECONDS - t0))s"
    record "$name" "$rc" $((SECONDS - t0))
    collect
    return "$rc"
}

# ------------------------------------------------------------------------------------- models

# Model names: SHAPE-f16 (GGUF), SHAPE-hf (the same f16 weights as model.safetensors + config.json),
# SHAPE-q8_0 (GGUF, quantized from the same seed's values). Sizes in GB, for the disk check.
declare -A size_gb=([tiny-f16]=1 [tiny-hf]=1 [tiny-q8_0]=1 [1b-f16]=3 [1b-hf]=3 [1b-q8_0]=2
    [8b-f16]=17 [8b-hf]=17 [8b-q8_0]=9)
declare -A synth_pid=() synth_t0=()

phase_models() {
    case $1 in
        smoke) echo tiny-f16 tiny-hf tiny-q8_0 ;;
        1b) echo 1b-f16 1b-hf 1b-q8_0 ;;
        kv) echo 1b-f16 ;;
        8b-f16) echo 8b-hf 8b-f16 ;;  # transformers' copy first: kvstream can read it too
        8b-q8) echo 8b-q8_0 ;;
    esac
}

model_path() {
    case $1 in
        *-hf) echo "$work/$1" ;;
        *) echo "$work/$1.gguf" ;;
    esac
}

free_gb() { df -P -B1G "$work" | awk 'NR == 2 { print $4 }'; }

# synth_start MODEL: generates MODEL in the background (one thread each: several run side by side),
# unless a finished one is there. A marker file says it finished; a killed writer leaves none.
synth_start() {
    local model=$1 shape=${1%%-*} kind=${1#*-} args
    [[ -e $work/$model.done || -n ${synth_pid[$model]:-} ]] && return 0
    case $kind in
        f16) args=(--quant f16 --out "$(model_path "$model")") ;;
        hf) args=(--quant f16 --hf "$(model_path "$model")") ;;
        q8_0) args=(--quant q8_0 --out "$(model_path "$model")") ;;
    esac
    local cmd=("$run" synth --shape "$shape" --seed 1 "${args[@]}")
    log "synth $model in the background (${size_gb[$model]} GB; $(free_gb) GB free): ${cmd[*]}"
    if [[ $dry == 1 ]]; then
        synth_pid[$model]=dry
        return 0
    fi
    synth_t0[$model]=$SECONDS
    (
        KVSTREAM_JAVA_OPTS=-Xmx4g timeout --kill-after=10 $((budget - SECONDS)) "${cmd[@]}" \
            > "$work/synth-$model.log" 2>&1 && touch "$work/$model.done"
        rc=$?
        echo $((SECONDS - synth_t0[$model])) > "$work/synth-$model.seconds"
        exit $rc
    ) &
    synth_pid[$model]=$!
}

# synth_wait MODEL: 0 once MODEL is on disk.
synth_wait() {
    local model=$1
    local pid=${synth_pid[$model]:-} rc=0
    if [[ $pid == dry* ]]; then
        synth_pid[$model]="dry-done"  # a dry run's writer "finishes" when waited for
        return 0
    fi
    if [[ -n $pid ]]; then
        wait "$pid"
        rc=$?
        # The writer reports progress with carriage returns: keep its log to the last lines.
        tr '\r' '\n' < "$work/synth-$model.log" | grep -v '%' | grep -v '^$' | tail -n 3 | sed "s/^/  synth $model: /"
        record "synth-$model" "$rc" "$(cat "$work/synth-$model.seconds" 2> /dev/null || echo 0)"
        synth_pid[$model]=
    fi
    [[ -e $work/$model.done ]] && return 0
    log "synth $model: ${pid:+failed (rc=$rc)}${pid:-never started}"
    return 1
}

# Deletes the models no later phase needs (the 8B files do not fit the disk together with others).
prune_models() {
    [[ ${H100_KEEP_MODELS:-0} == 1 || $dry == 1 ]] && return 0
    local keep=" $* " model
    for model in tiny-f16 tiny-hf tiny-q8_0 1b-f16 1b-hf 1b-q8_0 8b-f16 8b-hf 8b-q8_0; do
        if [[ $keep != *" $model "* && -e $(model_path "$model") && -z ${synth_pid[$model]:-} ]]; then
            rm -rf "$(model_path "$model")" "$work/$model.done"
        fi
    done
}

# ------------------------------------------------------------------------------------- steps

# Sizes per phase: the smoke phase runs each step at toy sizes.
set_sizes() {
    if [[ $1 == smoke ]]; then
        batches=1,8 prompt=32 gen=8 prefill_lens=64,256 kv_batch=4 kv_prompt=512 kv_prefill_batch=2
    else
        batches=1,8,64,256 prompt=128 gen=32 prefill_lens=512,2048 kv_batch=64 kv_prompt=2000 kv_prefill_batch=16
    fi
}

calibrate() {
    local sizes=()
    [[ $device == cpu ]] && sizes=(--copy-mib 64 --matmul-n 512)
    step calibrate 90 30 python3 bench/gpu/hf_baseline.py --calibrate --device "$device" "${sizes[@]}" \
        --json "$raw/device.json"
}

# kvstream MODEL: decode at every batch size, then prefill at batch 1 (median of 5, the step is short).
kvstream() {
    local model=$1 path
    path=(--model "$(model_path "$model")")
    # Without room for the f16 GGUF, kvstream reads the f16 weights from transformers' folder, which
    # has no tokenizer (the bench feeds token ids; the engine still wants one).
    if [[ $model == *-f16 && ! -e $work/$model.done && -e $work/${model%-f16}-hf.done ]]; then
        path=(--model "$(model_path "${model%-f16}-hf")" --tokenizer "$tokenizer")
    fi
    KVSTREAM_JAVA_OPTS=$bench_java_opts step "ks-$model-decode" 240 60 "$run" bench --device "$device" \
        "${path[@]}" --batch "$batches" --prompt-len "$prompt" --gen "$gen" --warmup 4 --no-bandwidth \
        --json "$raw/ks-$model-decode.json"
    KVSTREAM_JAVA_OPTS=$bench_java_opts step "ks-$model-prefill" 120 30 "$run" bench --device "$device" \
        "${path[@]}" --batch 1 --prompt-len "$prefill_lens" --gen 4 --warmup 2 --repeat 5 --no-bandwidth \
        --json "$raw/ks-$model-prefill.json"
}

# hf SHAPE: transformers on SHAPE-hf, labelled SHAPE-f16 (the kvstream model it sits beside).
hf() {
    local shape=$1 left=$((budget - SECONDS - reserve - 20))
    step "hf-$shape-f16" 300 60 python3 bench/gpu/hf_baseline.py --model "$(model_path "$shape-hf")" \
        --label "$shape-f16" --device "$device" --batch "$batches" --prompt-len "$prompt" --gen "$gen" \
        --prefill-len "$prefill_lens" --repeat 3 --budget-s "$((left > 60 ? left - 40 : 20))" \
        --json "$raw/hf-$shape-f16.json"
}

# kv MODEL: the same batch under fp16 and kivi2 caches.
kv() {
    local model=$1 spec
    for spec in fp16 kivi2; do
        KVSTREAM_JAVA_OPTS=$bench_java_opts step "kv-$model-$spec" 180 60 "$run" bench --device "$device" \
            --model "$(model_path "$model")" --batch "$kv_batch" --prompt-len "$kv_prompt" --gen "$gen" \
            --warmup 2 --prefill-batch "$kv_prefill_batch" --kv "$spec" --no-bandwidth \
            --json "$raw/kv-$model-$spec.json"
    done
}

run_phase() {
    local phase=$1 shape
    set_sizes "$phase"
    case $phase in
        smoke | 1b)
            shape=tiny
            [[ $phase == 1b ]] && shape=1b
            synth_wait "$shape-f16" && kvstream "$shape-f16"
            synth_wait "$shape-q8_0" && kvstream "$shape-q8_0"
            synth_wait "$shape-hf" && hf "$shape"
            if [[ $phase == smoke ]]; then
                kv tiny-f16
            fi
            ;;
        kv)
            synth_wait 1b-f16 && kv 1b-f16
            ;;
        8b-f16)
            # Both writers started together; the GGUF may have been left out for disk space.
            synth_wait 8b-hf
            if synth_wait 8b-f16 || [[ -e $work/8b-hf.done || $dry == 1 ]]; then
                kvstream 8b-f16
            fi
            [[ -e $work/8b-hf.done || $dry == 1 ]] && hf 8b
            ;;
        8b-q8)
            synth_wait 8b-q8_0 && kvstream 8b-q8_0
            ;;
    esac
}

# ------------------------------------------------------------------------------------- main

log "h100.sh $phases: budget ${budget}s, device $device, work $work ($(free_gb) GB free), out $out"
gpu=""
if command -v nvidia-smi > /dev/null; then
    gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit \
        --format=csv,noheader 2> /dev/null | head -n 1)
    log "GPU: $gpu"
fi
log "host: $(nproc) cores, $(free -g 2> /dev/null | awk '/^Mem:/ { print $2 " GB memory, " $7 " GB available" }')"
python3 - "$raw/meta.json" "$phases" "$(git rev-parse --short HEAD 2> /dev/null || echo unknown)" "$gpu" "$device" "$budget" << 'PY'
import json, sys
path, phases, git, gpu, device, budget = sys.argv[1:]
json.dump({"phases": phases.split(), "git": git, "gpu": gpu or None, "device": device, "budget_s": int(budget)},
          open(path, "w"), indent=1)
PY

if [[ $dry != 1 && ! -x $run ]]; then
    log "no $run: build the pack with bench/gpu-pack.sh and carry .gpu"
    exit 2
fi
# The first use of the pack unpacks its Java runtime; do it once before several synth run at once.
[[ $dry == 1 ]] || "$run" --help > /dev/null || { log "$run does not start"; exit 2; }

# Start every model the phases need, as far as the disk allows: they are written on the CPU while
# the GPU measures. What does not fit now starts when its phase comes, after pruning.
all_models=()
for phase in "$@"; do
    for model in $(phase_models "$phase"); do
        [[ " ${all_models[*]} " == *" $model "* ]] || all_models+=("$model")
    done
done
start_models() {
    local model need=2
    # Writers still running count in full: their files are not yet their size.
    for model in "${!synth_pid[@]}"; do
        [[ -n ${synth_pid[$model]} && ${synth_pid[$model]} != dry-done ]] && need=$((need + size_gb[$model]))
    done
    for model in "$@"; do
        [[ -e $work/$model.done || -n ${synth_pid[$model]:-} ]] && continue
        need=$((need + size_gb[$model]))
        if ((need > $(free_gb))); then
            if [[ $model == 8b-f16 ]]; then
                log "no room for the 8B f16 GGUF beside its safetensors: kvstream reads the f16 weights from 8b-hf"
                need=$((need - size_gb[$model]))
                continue
            fi
            log "no room yet for $model ($(free_gb) GB free); it starts with its phase"
            return 0
        fi
        synth_start "$model"
    done
}
start_models "${all_models[@]}"
calibrate

remaining=("$@")
for phase in "$@"; do
    remaining=("${remaining[@]:1}")
    log "=== phase $phase"
    # shellcheck disable=SC2046 # word splitting of the model lists is meant
    start_models $(phase_models "$phase")
    run_phase "$phase"
    later=()
    for p in "${remaining[@]}"; do
        # shellcheck disable=SC2207
        later+=($(phase_models "$p"))
    done
    prune_models "${later[@]}"
    # shellcheck disable=SC2046
    start_models $(for p in "${remaining[@]}"; do phase_models "$p"; done)
done

# Writers of phases that never came (the budget ran out): the subshell, its timeout and the JVM.
running=" $(jobs -pr | tr '\n' ' ') "
for model in "${!synth_pid[@]}"; do
    pid=${synth_pid[$model]}
    if [[ -n $pid && $running == *" $pid "* ]]; then
        pkill -TERM -P "$pid" 2> /dev/null
        kill "$pid" 2> /dev/null
    fi
done
prune_models
collect
log "done: $out/summary.json"
python3 bench/gpu/table.py markdown "$out/summary.json"
# Let tee write the last lines before the device tool takes $OUT.
exec 1>&- 2>&-
wait "$tee_pid"
