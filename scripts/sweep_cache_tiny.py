"""Choose the tiny model's delta_cache preset by measurement: fidelity to full compute vs theoretical speedup.

    python scripts/sweep_cache_tiny.py                  # 8 training-split prompts, writes outputs/sweep_cache_tiny.json

Prompts come from the training split so that the held-out prompts of eval_tiny.py stay untouched by the
choice. Three passes, every video compared with the full-compute video of the same prompt and seed:
1. sensitivity: cache one block at a time (schedule below) -> mean PSNR per block;
2. nested sets: cache the k least sensitive blocks, k = 1 .. L-1 -> PSNR, SSIM, theoretical speedup;
3. schedules: for the chosen set, warm-up and refresh interval variants.
The rule printed at the end (largest speedup with mean PSNR >= --min_psnr) is how the shipped preset was
picked; docs/tiny_model.md records the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from loguru import logger

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Wan2.1"))
sys.path.insert(0, str(REPO))

from scenes import training_combos  # noqa: E402
from scenes.metrics import psnr, ssim, to_frames  # noqa: E402
from wan.cli import TINY_CKPT_DIR, TINY_TASK  # noqa: E402
from wan.configs import WAN_CONFIGS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    cfg = WAN_CONFIGS[TINY_TASK]
    p = argparse.ArgumentParser(description="Measure delta_cache choices on the tiny Wan model.")
    p.add_argument("--ckpt_dir", type=Path, default=TINY_CKPT_DIR)
    p.add_argument("--num_prompts", type=int, default=8)
    p.add_argument("--warmup", type=int, default=3, help="warm-up steps of passes 1 and 2")
    p.add_argument("--interval", type=int, default=3, help="refresh interval of passes 1 and 2")
    p.add_argument("--min_psnr", type=float, default=30.0, help="fidelity floor of the selection rule (dB)")
    p.add_argument("--out", type=Path, default=REPO / "outputs" / "sweep_cache_tiny.json")
    args = p.parse_args(argv)
    if not args.ckpt_dir.is_dir():
        p.error(f"--ckpt_dir not found: {args.ckpt_dir}")
    if not 1 <= args.num_prompts <= 64:
        p.error(f"--num_prompts must be in 1..64, got {args.num_prompts}")

    from delta_cache import CacheConfig, StackSchedule, apply_cache
    from wan import WanT2V
    from wan.cache_spec import WAN_CACHE_SPEC

    pipe = WanT2V.from_checkpoint(cfg, args.ckpt_dir)
    pool = training_combos()
    scenes = [pool[i] for i in np.random.default_rng(2).permutation(len(pool))[: args.num_prompts]]
    steps = cfg.sample_steps

    def generate(i: int, handle=None) -> np.ndarray:
        video = pipe.generate(
            scenes[i].prompt,
            size=(64, 64),
            frame_num=cfg.frame_num,
            shift=cfg.sample_shift,
            sampling_steps=steps,
            guide_scale=cfg.sample_guide_scale,
            seed=i,
            offload_model=False,
            cache=handle,
            progress=False,
        )
        return to_frames(video)

    full = [generate(i) for i in range(len(scenes))]

    def measure(cached: tuple[int, ...], warmup: int, interval: int) -> dict:
        config = CacheConfig(
            name="sweep", stacks={"blocks": StackSchedule(cached=cached, warmup=warmup, interval=interval)}
        )
        handle = apply_cache(pipe.model, WAN_CACHE_SPEC, config, steps)
        try:
            videos = []
            for i in range(len(scenes)):
                videos.append(generate(i, handle))  # the pipeline starts the handle afresh for each video
            speedup = handle.stats()["theoretical_speedup"]
        finally:
            handle.remove()
        return {
            "cached": list(cached),
            "warmup": warmup,
            "interval": interval,
            "psnr": float(np.mean([psnr(v, f) for v, f in zip(videos, full, strict=True)])),
            "ssim": float(np.mean([ssim(v, f) for v, f in zip(videos, full, strict=True)])),
            "theoretical_speedup": float(speedup),
        }

    t0 = time.perf_counter()
    single = [measure((b,), args.warmup, args.interval) for b in range(cfg.num_layers)]
    order = [r["cached"][0] for r in sorted(single, key=lambda r: -r["psnr"])]
    logger.info("per-block PSNR (higher = safer to cache): " + ", ".join(f"{r['psnr']:.1f}" for r in single))
    nested = [measure(tuple(sorted(order[:k])), args.warmup, args.interval) for k in range(1, cfg.num_layers)]
    ok = [r for r in nested if r["psnr"] >= args.min_psnr] or nested[:1]
    chosen = max(ok, key=lambda r: r["theoretical_speedup"])
    schedules = [
        measure(tuple(chosen["cached"]), w, k) for w, k in [(2, 2), (3, 2), (3, 3), (3, 4), (4, 4), (5, 5), (3, 6)]
    ]
    report = {
        "prompts": [s.prompt for s in scenes],
        "steps": steps,
        "min_psnr": args.min_psnr,
        "single_block": single,
        "sensitivity_order": order,
        "nested": nested,
        "chosen_blocks": chosen["cached"],
        "schedules": schedules,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(f"{'cached blocks':<28} {'warmup':>6} {'int':>4} {'PSNR':>7} {'SSIM':>7} {'speedup':>8}")
    for r in [*single, *nested, *schedules]:
        blocks = ",".join(map(str, r["cached"]))
        print(
            f"{blocks:<28} {r['warmup']:>6} {r['interval']:>4} {r['psnr']:7.2f} {r['ssim']:7.4f} "
            f"{r['theoretical_speedup']:7.2f}x"
        )
    print(
        f"chosen set (largest speedup with PSNR >= {args.min_psnr} dB at warm-up {args.warmup}, interval "
        f"{args.interval}): {chosen['cached']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    logger.info(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
