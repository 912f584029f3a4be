"""HunyuanVideo text-to-video, upstream's command line:
`python sample_video.py --video-size 720 1280 --video-length 129 --infer-steps 50 --prompt ... --flow-reverse`.

Without --model-base (and --model) it runs the small debug model on random weights (written to a temporary
official-format folder and loaded through the same loaders), so the whole pipeline runs on any CPU in seconds.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace

import torch
from loguru import logger


def video_name(seed: int, prompt: str, suffix: str) -> str:
    """Upstream's `{time}_seed{seed}_{prompt[:100]}.mp4`, made filesystem-safe."""
    stamp = time.strftime("%Y-%m-%d-%H:%M:%S").replace(":", "")
    safe = prompt[:100].replace("/", "").replace(" ", "_")
    return f"{stamp}_seed{seed}_{safe}{suffix}.mp4"


def main(argv: list[str] | None = None) -> int:
    from hyvideo.cli import build_parser, validate

    parser = build_parser()
    args = validate(parser, parser.parse_args(argv))

    from delta_cache import run_report, write_report
    from hyvideo.configs import HUNYUAN_VIDEO_CONFIG
    from hyvideo.debug import write_random_checkpoint
    from hyvideo.inference import HunyuanVideoSampler, align_to
    from hyvideo.utils.checkpoint import CheckpointError
    from hyvideo.utils.video import save_video, unique_path

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.use_cpu_offload and device.type != "cuda":
        logger.info("--use-cpu-offload: no GPU, nothing to offload; running on the CPU")
    if args.reproduce:
        torch.use_deterministic_algorithms(True)
    cfg = replace(
        HUNYUAN_VIDEO_CONFIG[args.model], text_len=args.text_len, text_len_2=args.text_len_2,
        hidden_state_skip_layer=args.hidden_state_skip_layer, rope_theta=float(args.rope_theta),
    )  # fmt: skip
    height, width = args.video_size
    if (align_to(height), align_to(width)) != (height, width):
        logger.warning(f"--video-size {height} {width} rounded up to {align_to(height)} {align_to(width)} (16 px)")
    if args.use_linear_quadratic_schedule:
        logger.warning("--use-linear-quadratic-schedule is unused at inference (as upstream)")
    logger.info(f"model {cfg.name}, {height}x{width}, {args.video_length} frames, device {device}")
    text_kw = dict(prompt_template=args.prompt_template, prompt_template_video=args.prompt_template_video,
                   apply_final_norm=args.apply_final_norm)  # fmt: skip
    try:
        with tempfile.TemporaryDirectory(prefix="hyvideo-debug-") as tmp:
            base, dit_weight = args.model_base, args.dit_weight
            if args.random_weights:
                logger.warning(f"{cfg.name}: random weights, no trained model: the video is noise-like")
                base = write_random_checkpoint(tmp, cfg, seed=0)
            sampler = HunyuanVideoSampler.from_checkpoint(
                cfg, base, dit_weight, args.load_key, device=device, precision=args.precision,
                vae_precision=args.vae_precision, text_encoder_precision=args.text_encoder_precision,
                vae_tiling=args.vae_tiling, cpu_offload=args.use_cpu_offload,
                disable_autocast=args.disable_autocast, text_encoder_kwargs=text_kw,
            )  # fmt: skip
            handle = None
            if args.cache_config is not None:
                from delta_cache import apply_cache
                from hyvideo.cache_spec import HY_CACHE_SPEC

                handle = apply_cache(sampler.model, HY_CACHE_SPEC, args.cache_config, args.infer_steps)
                cached = {k: v.cached for k, v in args.cache_config.stacks.items()}
                logger.info(f"delta_cache: {args.cache_config.name}, cached {cached}")
            videos, seeds = sampler.predict(
                args.prompt, height, width, args.video_length, seed=args.seed, negative_prompt=args.neg_prompt,
                infer_steps=args.infer_steps, guidance_scale=args.cfg_scale, flow_shift=args.flow_shift,
                embedded_guidance_scale=args.embedded_cfg_scale, num_videos_per_prompt=args.num_videos,
                batch_size=args.batch_size, flow_reverse=args.flow_reverse,
                branch=handle.branch if handle else None, on_batch_start=handle.clear_deltas if handle else None,
            )  # fmt: skip
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    s = sampler.stats
    logger.info(f"denoise {s.denoise_seconds:.2f}s, encode {s.encode_seconds:.2f}s, decode {s.decode_seconds:.2f}s")
    args.save_dir.mkdir(parents=True, exist_ok=True)
    batches = -(-args.num_videos // args.batch_size)
    passes = batches * args.infer_steps
    report = run_report(handle, passes * (cfg.mm_double_blocks_depth + cfg.mm_single_blocks_depth),
                        sampler.stats.denoise_seconds)  # fmt: skip
    logger.info(
        f"blocks computed {report['block_evals_computed']} of {report['block_evals_total']} "
        f"(theoretical {report['theoretical_speedup']:.2f}x), denoise {report['denoise_seconds']:.2f}s"
    )
    for video, seed in zip(videos, seeds, strict=True):
        out = unique_path(args.save_dir / video_name(seed, args.prompt, args.name_suffix))
        save_video(video, out, fps=cfg.fps)
        write_report(report, out)
        logger.info(f"saved {out} ({video.shape[1]} frames, {video.shape[3]}x{video.shape[2]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
