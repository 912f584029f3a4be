#!/usr/bin/env bash
# HunyuanVideo text-to-video on 1, 2, 4 or 8 GPUs of one node (sequence parallelism, docs/parallelism.md).
#
#   scripts/launch_hyvideo.sh 8 --video-size 720 1280 --video-length 129 --infer-steps 50 --prompt "..." \
#       --flow-reverse --seed 42 --delta_cache
#
# 1 GPU runs plain `python sample_video.py` (add --use-cpu-offload there if memory is short); N > 1 runs
# `torchrun --nproc_per_node=N sample_video.py --ulysses-degree N --ring-degree 1 ...` as upstream's README
# (24 heads divide by 2, 4 and 8). Override with ULYSSES=.. RING=.. (their product must be N).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)  # outputs stay relative to the caller's directory

n=${1:-}
case "$n" in
  1|2|4|8) shift ;;
  *) echo "usage: $0 {1|2|4|8} [sample_video.py flags]  (got '${n}')" >&2; exit 2 ;;
esac

if [ "$n" = 1 ]; then
  exec python "$root/HunyuanVideo/sample_video.py" "$@"
fi

ulysses=${ULYSSES:-$n}
ring=${RING:-$((n / ulysses))}
echo "launch_hyvideo: $n processes, ulysses $ulysses x ring $ring" >&2
exec torchrun --standalone --nproc_per_node="$n" "$root/HunyuanVideo/sample_video.py" \
  --ulysses-degree "$ulysses" --ring-degree "$ring" "$@"
