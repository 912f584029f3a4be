"""HunyuanVideo text-to-video, upstream's command line:
`python sample_video.py --video-size 720 1280 --video-length 129 --infer-steps 50 --prompt ... --flow-reverse`.

Without --model-base (and --model) it runs the shipped tiny model (`HYVideo-tiny` in ckpts-tiny/, the
release's 20 + 40 blocks at width 64, trained on synthetic scenes: prompts like the default, see
docs/tiny_hyvideo.md) through the same loaders as the official weights, in seconds on any CPU.
`--model HYVideo-debug` runs random weights (written to a temporary official-format folder).

Several GPUs: `torchrun --nproc_per_node=N sample_video.py ... --ulysses-degree N --ring-degree 1`
(scripts/launch_hyvideo.sh); every rank computes its slab of the image tokens, rank 0 writes the files.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time

import torch
from loguru import logger


def video_name(seed: int, prompt: str, suffix: str) -> str:
    """Upstream's `{time}_seed{seed}_{prompt[:100]}{suffix}.mp4`, the prompt made safe and cut in bytes."""
    from hyvideo.utils.video import MAX_STEM_BYTES, name_part

    head = f"{time.strftime('%Y-%m-%d-%H%M%S')}_seed{seed}_"
    prompt = name_part(prompt[:100], MAX_STEM_BYTES - len(head.encode()) - len(suffix.encode()))
    return f"{head}{prompt}{suffix}.mp4"


def main(argv: list[str] | None = None) -> int:
    from hyvideo.cli import build_parser, validate

    parser = build_parser()
    args = validate(parser, parser.parse_args(argv))

    from hyvideo.target import HunyuanTarget
    from hyvideo.utils.checkpoint import CheckpointError
    from usp import init_sequence_parallel, quiet_other_ranks, rank_device, run_on_group, world_from_env

    world = world_from_env()[2]
    quiet_other_ranks()
    device = rank_device(args.device)
    target = HunyuanTarget(args)
    with tempfile.TemporaryDirectory(prefix="hyvideo-debug-") as tmp:
        # Each rank writes its own copy of random weights, before the process group exists: transformers'
        # save_pretrained writes nothing on ranks other than 0 once torch.distributed is initialised.
        target.prepare(tmp)
        group = init_sequence_parallel(args.ulysses_degree, args.ring_degree, device) if world > 1 else None
        expected = (CheckpointError, OSError, ValueError)  # OSError: a full disk when the outputs are written
        return run_on_group(lambda: _run(args, target, device, group), group, expected)


def _run(args, target, device: torch.device, group) -> int:
    from delta_cache import cache_dtype_for, save_with_report
    from hyvideo.inference import align_to
    from hyvideo.utils.video import save_video, unique_path

    main_rank = group is None or group.rank == 0
    if args.seed is None:
        args.seed = random.randint(0, 1_000_000)
    if group is not None:
        args.seed = group.broadcast_object(args.seed)  # every rank draws the same noise
    if args.use_cpu_offload and device.type != "cuda":
        logger.info("--use-cpu-offload: no GPU, nothing to offload; running on the CPU")
    if args.reproduce:
        torch.use_deterministic_algorithms(True)
    height, width = args.video_size
    if (align_to(height), align_to(width)) != (height, width):
        logger.warning(f"--video-size {height} {width} rounded up to {align_to(height)} {align_to(width)} (16 px)")
    if args.use_linear_quadratic_schedule:
        logger.warning("--use-linear-quadratic-schedule is unused at inference (as upstream)")
    sp = f", sequence parallel {group.ulysses_degree}x{group.ring_degree} ({group.engine})" if group else ""
    logger.info(f"model {target.cfg.name}, {height}x{width}, {args.video_length} frames, device {device}{sp}")
    target.load(device, group)
    videos, report = target.run(
        args.prompt,
        args.seed,
        args.cache_config,
        cache_dtype=cache_dtype_for(args.cache_dtype, device),
        group=group,
        progress=main_rank,
        decode=main_rank,
        videos=args.num_videos,
    )
    if not main_rank:
        return 0
    s = target.sampler.stats
    logger.info(f"denoise {s.denoise_seconds:.2f}s, encode {s.encode_seconds:.2f}s, decode {s.decode_seconds:.2f}s")
    args.save_dir.mkdir(parents=True, exist_ok=True)
    report["sequence_parallel"] = [group.ulysses_degree, group.ring_degree] if group else [1, 1]
    logger.info(
        f"blocks computed {report['block_evals_computed']} of {report['block_evals_total']} "
        f"(theoretical {report['theoretical_speedup']:.2f}x), denoise {report['denoise_seconds']:.2f}s"
    )
    for i, video in enumerate(videos):
        seed = args.seed + i  # the sampler's seed of video i
        out = unique_path(args.save_dir / video_name(seed, args.prompt, args.name_suffix))
        save_with_report(lambda path, v=video: save_video(v, path, fps=target.fps), out, report)
        logger.info(f"saved {out} ({video.shape[1]} frames, {video.shape[3]}x{video.shape[2]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
