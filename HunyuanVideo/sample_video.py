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
from dataclasses import replace

import torch
from loguru import logger

from hyvideo.configs import HYVideoConfig


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

    from hyvideo.utils.checkpoint import CheckpointError
    from usp import init_sequence_parallel, quiet_other_ranks, rank_device, run_on_group, world_from_env

    world = world_from_env()[2]
    quiet_other_ranks()
    device = rank_device(args.device)
    cfg = model_config(args)
    with tempfile.TemporaryDirectory(prefix="hyvideo-debug-") as tmp:
        if args.random_weights:
            from hyvideo.debug import write_random_checkpoint

            logger.warning(f"{cfg.name}: random weights, no trained model: the video is noise-like")
            # Each rank writes its own copy, before the process group exists: transformers' save_pretrained
            # writes nothing on ranks other than 0 once torch.distributed is initialised.
            args.model_base = str(write_random_checkpoint(tmp, cfg, seed=0))
        group = init_sequence_parallel(args.ulysses_degree, args.ring_degree, device) if world > 1 else None
        expected = (CheckpointError, OSError, ValueError)  # OSError: a full disk when the outputs are written
        return run_on_group(lambda: _run(args, cfg, device, group), group, expected)


def model_config(args) -> HYVideoConfig:
    """The --model config with the text and RoPE flags applied."""
    from hyvideo.configs import HUNYUAN_VIDEO_CONFIG

    return replace(
        HUNYUAN_VIDEO_CONFIG[args.model],
        text_len=args.text_len,
        text_len_2=args.text_len_2,
        hidden_state_skip_layer=args.hidden_state_skip_layer,
        rope_theta=float(args.rope_theta),
    )


def _run(args, cfg, device: torch.device, group) -> int:
    from delta_cache import full_compute_stats, reduce_stats, run_report, write_report
    from hyvideo.inference import BRANCH_CFG_BATCH, BRANCH_COND, HunyuanVideoSampler, align_to
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
    logger.info(f"model {cfg.name}, {height}x{width}, {args.video_length} frames, device {device}{sp}")
    text_kw = dict(
        prompt_template=args.prompt_template,
        prompt_template_video=args.prompt_template_video,
        apply_final_norm=args.apply_final_norm,
    )
    sampler = HunyuanVideoSampler.from_checkpoint(
        cfg,
        args.model_base,
        args.dit_weight,
        args.load_key,
        device=device,
        precision=args.precision,
        vae_precision=args.vae_precision,
        text_encoder_precision=args.text_encoder_precision,
        vae_tiling=args.vae_tiling,
        cpu_offload=args.use_cpu_offload,
        disable_autocast=args.disable_autocast,
        text_encoder_kwargs=text_kw,
    )
    if group is not None:
        from hyvideo.parallel import parallelize

        parallelize(sampler.model, group)
    from delta_cache import apply_cache, cache_dtype_for, compile_blocks
    from hyvideo.cache_spec import HY_CACHE_SPEC

    if args.compile:
        compile_blocks(sampler.model, HY_CACHE_SPEC)
    handle = None
    if args.cache_config is not None:
        dtype = cache_dtype_for(args.cache_dtype, device)
        handle = apply_cache(sampler.model, HY_CACHE_SPEC, args.cache_config, args.infer_steps, dtype)
        cached = handle.cached or "the whole model output"
        logger.info(f"delta_cache: {args.cache_config.name}, cached {cached}, deltas in {dtype or 'the stream dtype'}")
    videos, seeds = sampler.predict(
        args.prompt,
        height,
        width,
        args.video_length,
        seed=args.seed,
        negative_prompt=args.neg_prompt,
        infer_steps=args.infer_steps,
        guidance_scale=args.cfg_scale,
        flow_shift=args.flow_shift,
        embedded_guidance_scale=args.embedded_cfg_scale,
        num_videos_per_prompt=args.num_videos,
        batch_size=args.batch_size,
        flow_reverse=args.flow_reverse,
        cache=handle,
        progress=main_rank,
        decode=main_rank,
    )
    stats = reduce_stats(handle) if handle is not None and group is not None else None
    if not main_rank:
        return 0
    s = sampler.stats
    logger.info(f"denoise {s.denoise_seconds:.2f}s, encode {s.encode_seconds:.2f}s, decode {s.decode_seconds:.2f}s")
    args.save_dir.mkdir(parents=True, exist_ok=True)
    batches = -(-args.num_videos // args.batch_size)
    branch = BRANCH_CFG_BATCH if args.cfg_scale > 1.0 else BRANCH_COND  # the sampler's name for its one pass
    depths = {"double_blocks": cfg.mm_double_blocks_depth, "single_blocks": cfg.mm_single_blocks_depth}
    full = full_compute_stats({branch: batches * args.infer_steps}, depths)
    report = run_report(handle, full, sampler.stats.denoise_seconds, stats)
    report["sequence_parallel"] = [group.ulysses_degree, group.ring_degree] if group else [1, 1]
    logger.info(
        f"blocks computed {report['block_evals_computed']} of {report['block_evals_total']} "
        f"(theoretical {report['theoretical_speedup']:.2f}x), denoise {report['denoise_seconds']:.2f}s"
    )
    for video, seed in zip(videos, seeds, strict=True):
        out = unique_path(args.save_dir / video_name(seed, args.prompt, args.name_suffix))
        save_video(video, out, fps=cfg.fps)
        try:
            write_report(report, out)
        except OSError:
            out.unlink()  # a video without its stats file is not a finished run: publish both or neither
            raise
        logger.info(f"saved {out} ({video.shape[1]} frames, {video.shape[3]}x{video.shape[2]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
