#!/usr/bin/env bash
# Compiles every kernel source here to PTX, into the resources that the jar carries, so that a
# machine without nvcc still builds and runs the CUDA backend. Each PTX starts with a line naming
# the SHA-256 of its sources (the .cu, then every .cuh in name order); a source whose PTX already
# carries its hash is skipped, so builds leave the committed PTX alone unless a kernel changed.
# PtxResourcesTest checks the same hashes.
#
# usage: build-ptx.sh NVCC OUT_DIR [force]
set -euo pipefail
nvcc=$1
out=$2
force=${3:-false}
arch=compute_80
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
export LC_ALL=C
headers=$(cd "$here" && ls ./*.cuh 2>/dev/null | sort || true)
for cu in "$here"/*.cu; do
    name=$(basename "$cu" .cu)
    hash=$(cd "$here" && cat "$(basename "$cu")" $headers | sha256sum | cut -d' ' -f1)
    ptx="$out/$name.ptx"
    header="// kvstream-ptx source-sha256=$hash arch=$arch"
    if [ "$force" != true ] && [ -f "$ptx" ] && [ "$(head -n 1 "$ptx")" = "$header" ]; then
        continue
    fi
    tmp=$(mktemp)
    "$nvcc" -ptx -arch=$arch -o "$tmp" "$cu"
    { echo "$header"; cat "$tmp"; } > "$ptx"
    rm -f "$tmp"
    echo "build-ptx: $name.cu -> $ptx"
done
