"""Benchmark the delta cache: the denoising loop with and without it, side by side in one process.

    python scripts/bench_cache.py --model wan --scale moderate          # CPU-sized, release depth (40 blocks)
    python scripts/bench_cache.py --model hyvideo --scale real          # HYVideo-T/2 at 720p x 129 frames (CUDA)

Weights are random (speed does not depend on their values). Three runs of the same loop per model:
  baseline   no wrappers (the exact code path without --delta_cache)
  wrapped    wrappers installed but every step computed (their overhead)
  cached     the release preset
Printed and appended to --out as JSON lines: seconds, achieved vs theoretical speedup, cache bytes, peak memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from delta_cache import CacheConfig, StackSchedule, apply_cache

# (model, scale) -> what to build: config overrides, video size, frames
SCALES = {
    ("wan", "moderate"): dict(overrides=dict(dim=256, ffn_dim=1024, num_heads=4), size=(192, 192), frames=9),
    ("wan", "real"): dict(overrides={}, size=(832, 480), frames=81),
    ("hyvideo", "moderate"): dict(
        overrides=dict(
            hidden_size=256,
            heads_num=4,
            rope_dim_list=(16, 24, 24),
            text_states_dim=64,
            text_states_dim_2=32,
            text_len=32,
        ),
        size=(256, 256),
        frames=17,
    ),
    ("hyvideo", "real"): dict(overrides={}, size=(720, 1280), frames=129),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def wan_loop(scale: str, device: torch.device, dtype: torch.dtype, steps: int):
    """(model, spec, preset, run(branch) -> latent) for Wan T2V-14B geometry."""
    from wan.cache_spec import T2V_14B_RELEASED, WAN_CACHE_SPEC
    from wan.configs import WAN_CONFIGS
    from wan.modules.model import WanModel
    from wan.schedulers import make_scheduler
    from wan.text2video import denoise, latent_shape, sequence_length

    s = SCALES[("wan", scale)]
    cfg = dataclasses.replace(WAN_CONFIGS["t2v-14B"], **s["overrides"])
    with torch.device(device):
        model = WanModel(**cfg.model_kwargs()).to(dtype).eval().requires_grad_(False)
    shape = latent_shape(cfg, s["size"], s["frames"])
    seq_len = sequence_length(cfg, shape)
    g = torch.Generator(device).manual_seed(0)
    noise = torch.randn(shape, generator=g, device=device)
    ctx = [torch.randn(40, cfg.text_dim, generator=g, device=device)]
    null = [torch.randn(60, cfg.text_dim, generator=g, device=device)]

    def run(branch):
        sched = make_scheduler("unipc", steps, 5.0, device)
        with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
            return denoise(model, noise, sched, ctx, null, 5.0, seq_len, branch=branch, progress=False)

    return model, WAN_CACHE_SPEC, T2V_14B_RELEASED, run, f"{seq_len} tokens"


def hy_loop(scale: str, device: torch.device, dtype: torch.dtype, steps: int):
    from hyvideo.cache_spec import HY_CACHE_SPEC, HY_T2V_RELEASED
    from hyvideo.configs import HUNYUAN_VIDEO_CONFIG
    from hyvideo.inference import TextConditioning, denoise, latent_shape
    from hyvideo.modules.models import HYVideoDiffusionTransformer
    from hyvideo.modules.posemb_layers import get_nd_rotary_pos_embed, rope_grid
    from hyvideo.schedulers import get_sigmas

    s = SCALES[("hyvideo", scale)]
    cfg = dataclasses.replace(HUNYUAN_VIDEO_CONFIG["HYVideo-T/2-cfgdistill"], **s["overrides"])
    with torch.device(device):
        model = HYVideoDiffusionTransformer(**cfg.model_kwargs()).to(dtype).eval().requires_grad_(False)
    w, h = s["size"]
    shape = latent_shape(cfg, h, w, s["frames"])
    g = torch.Generator(device).manual_seed(0)
    noise = torch.randn((1, *shape), generator=g, device=device)
    mask = torch.zeros(1, cfg.text_len, dtype=torch.int64, device=device)
    mask[:, : cfg.text_len // 4] = 1
    cond = TextConditioning(
        torch.randn(1, cfg.text_len, cfg.text_states_dim, generator=g, device=device),
        mask,
        torch.randn(1, cfg.text_states_dim_2, generator=g, device=device),
    )
    freqs = tuple(
        f.to(device) for f in get_nd_rotary_pos_embed(cfg.rope_dim_list, rope_grid(shape[1:], cfg.patch_size))
    )
    guidance = torch.tensor([6016.0], device=device)

    def run(branch):
        with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
            return denoise(
                model, noise, get_sigmas(steps, 7.0).to(device), cond, freqs, 1.0, guidance, branch, progress=False
            )

    tokens = shape[1] * (shape[2] // 2) * (shape[3] // 2)
    return model, HY_CACHE_SPEC, HY_T2V_RELEASED, run, f"{tokens} image + {cfg.text_len} text tokens"


def timed(run, branch, device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    run(branch)
    sync(device)
    return time.perf_counter() - t0


@torch.inference_mode()
def bench(model_name: str, scale: str, device: torch.device, dtype: torch.dtype, steps: int, repeats: int) -> dict:
    build = wan_loop if model_name == "wan" else hy_loop
    model, spec, preset, run, tokens = build(scale, device, dtype, steps)
    never = CacheConfig(
        name="never-reuse",
        stacks={k: StackSchedule(cached=v.cached, warmup=steps, interval=1) for k, v in preset.stacks.items()},
    )
    run(lambda name, step: nullcontext())  # warm-up (kernels, allocator)
    times: dict[str, list[float]] = {"baseline": [], "wrapped": [], "cached": []}
    stats = None
    peak = {}
    for _ in range(repeats):  # interleaved so that drift hits every variant alike
        for variant in times:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            if variant == "baseline":
                times[variant].append(timed(run, lambda name, step: nullcontext(), device))
            else:
                handle = apply_cache(model, spec, never if variant == "wrapped" else preset, steps)
                times[variant].append(timed(run, handle.branch, device))
                if variant == "cached":
                    stats = handle.stats()
                handle.remove()
            if device.type == "cuda":
                peak[variant] = torch.cuda.max_memory_allocated(device)
    best = {k: min(v) for k, v in times.items()}
    achieved = best["baseline"] / best["cached"]
    return {
        "model": model_name,
        "scale": scale,
        "tokens": tokens,
        "steps": steps,
        "device": device_name(device),
        "dtype": str(dtype).removeprefix("torch."),
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "theoretical_speedup": round(stats["theoretical_speedup"], 3),
        "achieved_speedup": round(achieved, 3),
        "achieved_over_theoretical": round(achieved / stats["theoretical_speedup"], 3),
        "wrapper_overhead_pct": round(100 * (best["wrapped"] / best["baseline"] - 1), 2),
        "block_evals": f"{stats['block_evals_computed']}/{stats['block_evals_total']}",
        "cache_bytes_peak": stats["cache_bytes_peak"],
        "peak_memory_bytes": peak or None,
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["wan", "hyvideo", "both"], default="both")
    p.add_argument("--scale", choices=["moderate", "real"], default="moderate")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", type=Path, default=None, help="append results as JSON lines")
    args = p.parse_args()
    device = torch.device(args.device)
    if args.scale == "real" and device.type != "cuda":
        p.error("--scale real needs a CUDA device (random 14B/13B weights in bf16)")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    for name in ["wan", "hyvideo"] if args.model == "both" else [args.model]:
        result = bench(name, args.scale, device, dtype, args.steps, args.repeats)
        print(json.dumps(result))
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
