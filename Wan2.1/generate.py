"""Wan2.1 text-to-video and image-to-video, upstream's command line: `python generate.py --task t2v-14B
--ckpt_dir ... --prompt ...`, `--task i2v-14B --ckpt_dir ./Wan2.1-I2V-14B-480P --size 832*480 --image IMG`.

Without --ckpt_dir it runs t2v-tiny, the small model trained on synthetic scenes and shipped in
Wan2.1/Wan2.1-T2V-tiny: a trained video in seconds on any CPU that follows the prompt's colour, direction and
background (docs/tiny_model.md). `--task t2v-debug` / `i2v-debug` run random weights instead (written to a
temporary official-format directory, same loaders).

Several GPUs: `torchrun --nproc_per_node=N generate.py ... --ulysses_size N [--ring_size R] [--dit_fsdp --t5_fsdp]`
(scripts/launch_wan.sh); every rank computes its shard of the sequence, rank 0 writes the files.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

import torch
from loguru import logger


def default_save_file(args) -> Path:
    """Upstream's `{task}_{size}_{ulysses}_{ring}_{prompt[:50]}_{time}.mp4`, the prompt made safe and cut in bytes."""
    from wan.utils.video import MAX_STEM_BYTES, name_part

    head = f"{args.task}_{args.size.replace('*', 'x')}_{args.ulysses_size}_{args.ring_size}_"
    tail = f"_{time.strftime('%Y%m%d_%H%M%S')}"
    prompt = name_part(args.prompt[:50], MAX_STEM_BYTES - len(head.encode()) - len(tail.encode()))
    return Path(f"{head}{prompt}{tail}.mp4")


def main(argv: list[str] | None = None) -> int:
    from wan.cli import build_parser, validate

    parser = build_parser()
    args = validate(parser, parser.parse_args(argv))

    from usp import init_sequence_parallel, quiet_other_ranks, rank_device, run_on_group, world_from_env
    from wan.utils.checkpoint import CheckpointError

    world = world_from_env()[2]
    quiet_other_ranks()
    device = rank_device(args.device)
    group = init_sequence_parallel(args.ulysses_size, args.ring_size, device) if world > 1 else None
    expected = (CheckpointError, OSError, ValueError)  # OSError: a full disk when the outputs are written
    return run_on_group(lambda: _run(args, device, group), group, expected)


def _run(args, device: torch.device, group) -> int:
    from delta_cache import cache_dtype_for, save_with_report
    from wan.target import WanTarget
    from wan.utils.video import save_video, unique_path

    main_rank = group is None or group.rank == 0
    target = WanTarget(args)
    seed = args.base_seed if args.base_seed >= 0 else random.randint(0, sys.maxsize)
    if group is not None:
        seed = group.broadcast_object(seed)  # every rank draws the same noise
    sp = f", sequence parallel {group.ulysses_degree}x{group.ring_degree} ({group.engine})" if group else ""
    logger.info(f"task {args.task}, size {args.size}, {args.frame_num} frames, device {device}{sp}")
    with tempfile.TemporaryDirectory(prefix="wan-debug-") as tmp:
        target.prepare(tmp)
        target.load(device, group)
        video, report = target.run(
            args.prompt,
            seed,
            args.cache_config,
            cache_dtype=cache_dtype_for(args.cache_dtype, device),
            group=group,
            progress=main_rank,
            decode=main_rank,
            offload=args.offload_model,
        )
    if not main_rank:
        return 0
    s = target.pipe.stats
    logger.info(f"denoise {s.denoise_seconds:.2f}s, encode {s.encode_seconds:.2f}s, decode {s.decode_seconds:.2f}s")
    out = Path(args.save_file) if args.save_file else unique_path(default_save_file(args))
    report["sequence_parallel"] = [group.ulysses_degree, group.ring_degree] if group else [1, 1]
    save_with_report(lambda path: save_video(video, path, fps=target.fps), out, report)
    logger.info(
        f"blocks computed {report['block_evals_computed']} of {report['block_evals_total']} "
        f"(theoretical {report['theoretical_speedup']:.2f}x), denoise {report['denoise_seconds']:.2f}s"
    )
    logger.info(f"saved {out} ({video.shape[1]} frames, {video.shape[3]}x{video.shape[2]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
