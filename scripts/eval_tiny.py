"""Prompt adherence of the tiny trained models on held-out scenes, and full-compute vs cached fidelity.

    python scripts/eval_tiny.py                              # tiny Wan, 64 held-out prompts, default sampler
    python scripts/eval_tiny.py --model hunyuanvideo         # tiny HunyuanVideo (HYVideo-tiny)
    python scripts/eval_tiny.py --delta_cache                # + the same prompts cached: PSNR/SSIM vs full
    python scripts/eval_tiny.py --split train --num_prompts 32 --reference

Each model takes its own command's flags (generate.py's for Wan, sample_video.py's for HunyuanVideo: sampler,
checkpoint folder, `--delta_cache` and the peer methods), defaulting to the shipped tiny model. For each prompt
one video is generated (seed base + i, the base from --base_seed / --seed, 0 if unset) and measured from its
decoded frames alone (scenes.metrics): the foreground's colour, the direction its centroid travels, and whether
the background stays static. `--reference` also measures the VAE reconstruction of a true rendering of each
prompt, the ceiling the VAE allows. Prints a table and writes JSON; `--strip` also writes a PNG frame strip.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from loguru import logger

REPO = Path(__file__).resolve().parents[1]
for sub in ("HunyuanVideo", "Wan2.1", ""):
    sys.path.insert(0, str(REPO / sub))

from evaluation.targets import model_parser, select_target  # noqa: E402
from scenes import Scene, held_out_combos, render_scene, training_combos  # noqa: E402
from scenes.metrics import adherence, psnr, ssim  # noqa: E402


def build_parser(cls):
    p = model_parser(cls, "Evaluate a tiny trained model's prompt adherence on held-out scenes.")
    # the tiny model is the default here even with a checkpoint folder (a retrained copy elsewhere)
    p.set_defaults(**cls.tiny_defaults)
    g = p.add_argument_group("evaluation")
    g.add_argument("--split", choices=("heldout", "train"), default="heldout")
    g.add_argument("--num_prompts", type=int, default=None, help="first N prompts of the split (default: 64)")
    g.add_argument("--reference", action="store_true", help="also measure VAE reconstructions of true renderings")
    g.add_argument("--out", type=Path, default=REPO / "outputs" / f"eval_tiny_{cls.name}.json", help="JSON report")
    g.add_argument("--quiet", action="store_true", help="no per-prompt table")
    g.add_argument("--strip", type=Path, default=None, help="also write a PNG frame strip of the first 4 prompts")
    return p


def prompts_for(split: str, n: int | None) -> list[Scene]:
    if split == "heldout":
        scenes = held_out_combos()
    else:  # a fixed spread over the training combinations
        pool = training_combos()
        scenes = [pool[i] for i in np.random.default_rng(1).permutation(len(pool))]
    return scenes[: n or 64]


def summarise(rows: list[dict], key: str) -> dict:
    n = len(rows)
    return {
        "prompts": n,
        "colour": sum(r[key]["colour_ok"] for r in rows) / n,
        "direction": sum(r[key]["direction_ok"] for r in rows) / n,
        "both": sum(r[key]["colour_ok"] and r[key]["direction_ok"] for r in rows) / n,
        "static_background": sum(r[key]["background_ok"] for r in rows) / n,
    }


def write_strip(path: Path, videos: list[np.ndarray], cached: list[np.ndarray] | None, scale: int = 2) -> None:
    """Frames 0, 4, 8, 12, 16 of each video side by side, one row per prompt (cached copy to the right)."""
    import imageio.v3 as iio

    rows = []
    for i, v in enumerate(videos):
        parts = [np.concatenate(list(v[::4]), axis=1)]
        if cached:
            gap = np.ones((v.shape[1], 8, 3), np.float32)
            parts += [gap, np.concatenate(list(cached[i][::4]), axis=1)]
        rows.append(np.concatenate(parts, axis=1))
        rows.append(np.ones((4, rows[-1].shape[1], 3), np.float32))
    grid = (np.concatenate(rows[:-1], axis=0) * 255).round().astype(np.uint8)
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial.png")
    iio.imwrite(tmp, grid)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    cls, argv = select_target(argv, "eval_tiny.py")
    parser = build_parser(cls)
    args = cls.validate(parser, parser.parse_args(argv))
    if args.num_prompts is not None and not 1 <= args.num_prompts <= 64:
        parser.error(f"--num_prompts must be in 1..64, got {args.num_prompts}")
    if args.out.suffix != ".json":
        parser.error(f"--out must end with .json, got {args.out}")
    if args.strip is not None and args.strip.suffix != ".png":
        parser.error(f"--strip must end with .png, got {args.strip}")
    from usp import unwritable_reason

    for flag, path in (("--out", args.out), ("--strip", args.strip)):  # checked now, not after the evaluation
        if path is not None and path.is_dir():
            parser.error(f"{flag} {path} is a directory; give a file name")
        reason = None if path is None else unwritable_reason(path.parent)
        if reason:
            parser.error(f"{flag} {path}: {reason}")
    target = cls(args)
    if not target.tiny:
        parser.error("eval_tiny.py measures the tiny trained models (t2v-tiny, HYVideo-tiny): their prompts are scenes")
    cache_config = args.cache_config

    from delta_cache import apply_cache, cache_dtype_for
    from usp import rank_device

    target.load(rank_device(args.device), None)
    scenes = prompts_for(args.split, args.num_prompts)
    seed0 = max(0, target.seed or 0)
    frames, (h, w) = target.frames, target.pixels

    def generate(scene: Scene, i: int, handle=None) -> np.ndarray:
        return target.decode(target.generate(scene.prompt, seed0 + i, handle))

    rows, full_videos = [], []
    t0 = time.perf_counter()
    for i, scene in enumerate(scenes):
        frames_full = generate(scene, i)
        full_videos.append(frames_full)
        row = {"prompt": scene.prompt, "seed": seed0 + i, "full": adherence(frames_full, scene).as_dict()}
        if args.reference:
            truth = render_scene(scene, frames, h, w, seed=10_000 + i).video
            recon = target.reconstruct(truth)
            row["reference"] = adherence(recon, scene).as_dict()
        rows.append(row)
    full_seconds = time.perf_counter() - t0

    cached_seconds, cached_videos = None, []
    if cache_config is not None:
        dtype = cache_dtype_for(args.cache_dtype, next(target.model.parameters()).device)
        handle = apply_cache(target.model, target.spec, cache_config, target.steps, dtype)
        t0 = time.perf_counter()
        for i, (scene, row) in enumerate(zip(scenes, rows, strict=True)):
            cached = generate(scene, i, handle)  # the pipeline starts the handle afresh for each video
            cached_videos.append(cached)
            row["cached"] = adherence(cached, scene).as_dict()
            row["psnr"], row["ssim"] = psnr(cached, full_videos[i]), ssim(cached, full_videos[i])
        cached_seconds = time.perf_counter() - t0
        stats = handle.stats()

    keys = ["full"] + (["reference"] if args.reference else []) + (["cached"] if cache_config else [])
    report = {
        "model": target.identity(),
        "split": args.split,
        "base_seed": seed0,
        "summary": {k: summarise(rows, k) for k in keys},
        "generate_seconds": {"full": round(full_seconds, 2)},
        "rows": rows,
    }
    if cache_config is not None:
        report["cache"] = {
            "name": cache_config.name,
            "cached_blocks": {stack: list(blocks) for stack, blocks in handle.cached.items()},
            "psnr_mean": float(np.mean([r["psnr"] for r in rows])),
            "ssim_mean": float(np.mean([r["ssim"] for r in rows])),
            "block_evals_per_video": stats,
        }
        report["generate_seconds"]["cached"] = round(cached_seconds, 2)

    if not args.quiet:
        print(f"{'prompt':<62} " + " ".join(f"{k:>17}" for k in keys) + ("   PSNR   SSIM" if cache_config else ""))
        for r in rows:
            marks = " ".join(
                f"{r[k]['colour'][:6]:>6}{'+' if r[k]['colour_ok'] else '-'} {r[k]['direction'][:6]:>6}"
                f"{'+' if r[k]['direction_ok'] else '-'} "
                for k in keys
            )
            tail = f" {r['psnr']:6.2f} {r['ssim']:6.4f}" if cache_config else ""
            print(f"{r['prompt'][:62]:<62} {marks}{tail}")
    for k in keys:
        s = report["summary"][k]
        print(
            f"{k:>9}: colour {s['colour']:.1%}, direction {s['direction']:.1%}, both {s['both']:.1%}, "
            f"static background {s['static_background']:.1%} over {s['prompts']} prompts"
        )
    if cache_config is not None:
        c = report["cache"]
        print(
            f"    cache: {c['name']}, cached {c['cached_blocks'] or 'the model output'}: PSNR {c['psnr_mean']:.2f} dB, "
            f"SSIM {c['ssim_mean']:.4f} vs full; {full_seconds:.1f}s full, {cached_seconds:.1f}s cached"
        )
    if args.strip is not None:
        write_strip(args.strip, full_videos[:4], cached_videos[:4] if cache_config else None)
        logger.info(f"wrote {args.strip}")
    tmp = args.out.with_name(f".{args.out.name}.partial")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(report, indent=2))
        tmp.replace(args.out)
    except OSError as err:  # e.g. a full disk: no half-written report is left behind
        tmp.unlink(missing_ok=True)
        print(f"eval_tiny.py: error: could not write --out {args.out}: {err.strerror or err}", file=sys.stderr)
        return 1
    logger.info(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
