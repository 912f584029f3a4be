"""Wan2.1 text-to-video, upstream's command line: `python generate.py --task t2v-14B --ckpt_dir ... --prompt ...`.

Without --ckpt_dir it runs t2v-tiny, the small model trained on synthetic scenes and shipped in
Wan2.1/Wan2.1-T2V-tiny: a trained video in seconds on any CPU (it follows the prompt's colour and background,
not yet its direction; docs/tiny_model.md). `--task t2v-debug` runs random weights instead (written to a
temporary official-format directory, same loaders).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch
from loguru import logger


def default_save_file(args) -> Path:
    prompt = args.prompt.replace(" ", "_").replace("/", "_")[:50]
    stamp = time.strftime("%Y%m%d_%H%M%S")
    return Path(f"{args.task}_{args.size.replace('*', 'x')}_{args.ulysses_size}_{args.ring_size}_{prompt}_{stamp}.mp4")


def main(argv: list[str] | None = None) -> int:
    from wan.cli import DEBUG_TASK, build_parser, validate

    parser = build_parser()
    args = validate(parser, parser.parse_args(argv))

    from delta_cache import run_report, write_report
    from wan import WanT2V
    from wan.configs import WAN_CONFIGS
    from wan.debug import write_random_checkpoint
    from wan.utils.checkpoint import CheckpointError
    from wan.utils.video import save_video, unique_path

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    offload = (device.type == "cuda") if args.offload_model is None else args.offload_model
    cfg = WAN_CONFIGS[args.task]
    logger.info(f"task {args.task}, size {args.size}, {args.frame_num} frames, device {device}")
    try:
        with tempfile.TemporaryDirectory(prefix="wan-debug-") as tmp:
            ckpt_dir = args.ckpt_dir
            if ckpt_dir is None:
                logger.warning(f"{DEBUG_TASK}: random weights, no trained model: the video is noise-like")
                ckpt_dir = write_random_checkpoint(tmp, cfg, seed=0)
            pipe = WanT2V.from_checkpoint(cfg, ckpt_dir, device=device, t5_cpu=args.t5_cpu)
            handle = None
            if args.cache_config is not None:
                from delta_cache import apply_cache
                from wan.cache_spec import WAN_CACHE_SPEC

                handle = apply_cache(pipe.model, WAN_CACHE_SPEC, args.cache_config, args.sample_steps)
                logger.info(
                    f"delta_cache: {args.cache_config.name}, cached blocks {args.cache_config.stacks['blocks'].cached}"
                )
            video = pipe.generate(
                args.prompt,
                size=args.size_wh,
                frame_num=args.frame_num,
                shift=args.sample_shift,
                sample_solver=args.sample_solver,
                sampling_steps=args.sample_steps,
                guide_scale=args.sample_guide_scale,
                seed=args.base_seed,
                offload_model=offload,
                branch=handle.branch if handle else None,
            )
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    s = pipe.stats
    logger.info(f"denoise {s.denoise_seconds:.2f}s, encode {s.encode_seconds:.2f}s, decode {s.decode_seconds:.2f}s")
    out = Path(args.save_file) if args.save_file else unique_path(default_save_file(args))
    save_video(video, out, fps=cfg.sample_fps)
    report = run_report(handle, 2 * args.sample_steps * cfg.num_layers, pipe.stats.denoise_seconds)
    write_report(report, out)
    logger.info(
        f"blocks computed {report['block_evals_computed']} of {report['block_evals_total']} "
        f"(theoretical {report['theoretical_speedup']:.2f}x), denoise {report['denoise_seconds']:.2f}s"
    )
    logger.info(f"saved {out} ({video.shape[1]} frames, {video.shape[3]}x{video.shape[2]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
