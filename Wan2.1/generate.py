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
    from delta_cache import full_compute_stats, reduce_stats, run_report, write_report
    from wan import WanI2V, WanT2V
    from wan.configs import MAX_AREA_CONFIGS, WAN_CONFIGS
    from wan.debug import write_random_checkpoint
    from wan.utils.video import save_video, unique_path

    main_rank = group is None or group.rank == 0
    cfg = WAN_CONFIGS[args.task]
    seed = args.base_seed if args.base_seed >= 0 else random.randint(0, sys.maxsize)
    if group is not None:
        seed = group.broadcast_object(seed)  # every rank draws the same noise
    sp = f", sequence parallel {group.ulysses_degree}x{group.ring_degree} ({group.engine})" if group else ""
    logger.info(f"task {args.task}, size {args.size}, {args.frame_num} frames, device {device}{sp}")
    with tempfile.TemporaryDirectory(prefix="wan-debug-") as tmp:
        ckpt_dir = args.ckpt_dir
        if ckpt_dir is None:
            logger.warning(f"{args.task}: random weights, no trained model: the video is noise-like")
            ckpt_dir = write_random_checkpoint(tmp, cfg, seed=0)
        sharded = ("dit",) * args.dit_fsdp + ("t5",) * args.t5_fsdp  # loaded on the CPU, sharded onto the device
        i2v = cfg.model_type == "i2v"
        pipeline = WanI2V if i2v else WanT2V
        pipe = pipeline.from_checkpoint(cfg, ckpt_dir, device=device, t5_cpu=args.t5_cpu, load_for_sharding=sharded)
        if group is not None:
            from wan.parallel import apply_fsdp, parallelize

            parallelize(pipe.model, group)
            if args.dit_fsdp:  # all-gathered in bf16 on CUDA, as upstream
                apply_fsdp(pipe.model, pipe.model.blocks, device, torch.bfloat16 if device.type == "cuda" else None)
            if args.t5_fsdp:
                apply_fsdp(pipe.text_encoder.model, pipe.text_encoder.model.encoder.block, device)
        from delta_cache import apply_cache, cache_dtype_for, compile_blocks
        from wan.cache_spec import WAN_CACHE_SPEC

        if args.compile:
            compile_blocks(pipe.model, WAN_CACHE_SPEC)
        handle = None
        if args.cache_config is not None:
            dtype = cache_dtype_for(args.cache_dtype, device)
            handle = apply_cache(pipe.model, WAN_CACHE_SPEC, args.cache_config, args.sample_steps, dtype)
            logger.info(
                f"delta_cache: {args.cache_config.name}, cached blocks {handle.cached.get('blocks', 'none')}"
                f"{' (the whole model output)' if handle.policy.level == 'model' else ''}, "
                f"deltas in {dtype or 'the stream dtype'}"
            )
        # I2V: the image and the size's pixel count (the image sets the aspect ratio); T2V: the size
        target = dict(img=args.image_tensor, max_area=MAX_AREA_CONFIGS[args.size]) if i2v else dict(size=args.size_wh)
        video = pipe.generate(
            args.prompt,
            **target,
            frame_num=args.frame_num,
            shift=args.sample_shift,
            sample_solver=args.sample_solver,
            sampling_steps=args.sample_steps,
            guide_scale=args.sample_guide_scale,
            seed=seed,
            offload_model=args.offload_model,
            cache=handle,
            progress=main_rank,
            decode=main_rank,
        )
    stats = reduce_stats(handle) if handle is not None and group is not None else None
    if not main_rank:
        return 0
    s = pipe.stats
    logger.info(f"denoise {s.denoise_seconds:.2f}s, encode {s.encode_seconds:.2f}s, decode {s.decode_seconds:.2f}s")
    out = Path(args.save_file) if args.save_file else unique_path(default_save_file(args))
    full = full_compute_stats({"cond": args.sample_steps, "uncond": args.sample_steps}, {"blocks": cfg.num_layers})
    report = run_report(handle, full, pipe.stats.denoise_seconds, stats)
    report["sequence_parallel"] = [group.ulysses_degree, group.ring_degree] if group else [1, 1]
    save_video(video, out, fps=cfg.sample_fps)
    try:
        write_report(report, out)
    except OSError:
        out.unlink()  # a video without its stats file is not a finished run: publish both or neither
        raise
    logger.info(
        f"blocks computed {report['block_evals_computed']} of {report['block_evals_total']} "
        f"(theoretical {report['theoretical_speedup']:.2f}x), denoise {report['denoise_seconds']:.2f}s"
    )
    logger.info(f"saved {out} ({video.shape[1]} frames, {video.shape[3]}x{video.shape[2]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
