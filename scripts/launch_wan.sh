#!/usr/bin/env bash
# Wan2.1 text-to-video on 1, 2, 4 or 8 GPUs of one node (sequence parallelism, docs/parallelism.md).
#
#   scripts/launch_wan.sh 8 --task t2v-14B --size 1280*720 --ckpt_dir ./Wan2.1-T2V-14B --prompt "..." --delta_cache
#
# 1 GPU runs plain `python generate.py` (upstream's single-GPU command); N > 1 runs
# `torchrun --nproc_per_node=N generate.py --ulysses_size U --ring_size R [--dit_fsdp --t5_fsdp] ...`.
# U defaults to N, halved until it divides the model's heads (t2v-1.3B has 12 heads: 8 GPUs -> 4 x 2).
# Override with ULYSSES=.. RING=..; FSDP=1/0 forces the weight sharding on/off (default: on when a GPU is seen).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)  # outputs stay relative to the caller's directory

n=${1:-}
case "$n" in
  1|2|4|8) shift ;;
  *) echo "usage: $0 {1|2|4|8} [generate.py flags]  (got '${n}')" >&2; exit 2 ;;
esac

if [ "$n" = 1 ]; then
  exec python "$root/Wan2.1/generate.py" "$@"
fi

# The task as generate.py resolves it (t2v-14B with --ckpt_dir, the shipped t2v-tiny without), for its head count.
task=t2v-tiny
for ((i = 1; i <= $#; i++)); do
  j=$((i + 1))
  case "${!i}" in
    --ckpt_dir) [ "$task" = t2v-tiny ] && task=t2v-14B ;;
    --task) task=${!j:-}; break ;;
  esac
done
heads=$(PYTHONPATH="$root/Wan2.1" python -c "import sys; from wan.configs import WAN_CONFIGS; c = WAN_CONFIGS.get(sys.argv[1]); \
print(c.num_heads if c else 1)" "$task")
ulysses=${ULYSSES:-$n}
while (( heads % ulysses )); do ulysses=$((ulysses / 2)); done
ring=${RING:-$((n / ulysses))}

fsdp=${FSDP:-auto}
if [ "$fsdp" = auto ]; then
  if command -v nvidia-smi >/dev/null 2>&1; then fsdp=1; else fsdp=0; fi
fi
extra=()
[ "$fsdp" = 1 ] && extra=(--dit_fsdp --t5_fsdp)

echo "launch_wan: $n processes, ulysses $ulysses x ring $ring${extra:+, FSDP}" >&2
exec torchrun --standalone --nproc_per_node="$n" "$root/Wan2.1/generate.py" \
  --ulysses_size "$ulysses" --ring_size "$ring" "${extra[@]}" "$@"
