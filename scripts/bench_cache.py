"""Benchmark the delta cache: the denoising loop with and without it, side by side in one process.

    python scripts/bench_cache.py --model wan --scale moderate          # CPU-sized, release depth (40 blocks)
    python scripts/bench_cache.py --model hyvideo --scale real          # HYVideo-T/2 at 720p x 129 frames (CUDA)
    python scripts/bench_cache.py --scale real --frames 21 --steps 20 --cache_dtypes fp32,bf16 --compile

Weights are random (speed does not depend on their values). Runs of the same loop per model:
  baseline        no wrappers (the exact code path without --delta_cache)
  wrapped         wrappers installed but every step computed (their overhead)
  cached_<dtype>  the release preset, deltas stored in <dtype> (one run per --cache_dtypes entry)
  *_compiled      with --compile: baseline and the first cached run again, every block compiled once
Printed and appended to --out as JSON lines: seconds, achieved vs theoretical speedup, cache bytes per delta
dtype, peak memory per run (CUDA).
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

from delta_cache import CACHE_DTYPES, CacheConfig, StackSchedule, apply_cache, compile_blocks

# (model, scale) -> what to build: config overrides, video size, frames
SCALES = {
    # smoke: the code paths at the release depth in seconds on a CPU (gpu_check --smoke, the tests), no timing
    ("wan", "smoke"): dict(overrides=dict(dim=64, ffn_dim=128, num_heads=2), size=(64, 64), frames=1),
    ("hyvideo", "smoke"): dict(
        overrides=dict(
            hidden_size=64,
            heads_num=2,
            rope_dim_list=(8, 12, 12),
            text_states_dim=32,
            text_states_dim_2=16,
            text_len=8,
        ),
        size=(64, 64),
        frames=1,
    ),
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


def wan_loop(scale: str, device: torch.device, dtype: torch.dtype, steps: int, frames: int | None):
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
    shape = latent_shape(cfg, s["size"], frames or s["frames"])
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


def hy_loop(scale: str, device: torch.device, dtype: torch.dtype, steps: int, frames: int | None):
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
    shape = latent_shape(cfg, h, w, frames or s["frames"])
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


LOOPS = {"wan": wan_loop, "hyvideo": hy_loop}  # each model's denoising loop, built around random weights


def timed(run, branch, device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    run(branch)
    sync(device)
    return time.perf_counter() - t0


@torch.inference_mode()
def bench(
    model_name: str,
    scale: str,
    device: torch.device,
    dtype: torch.dtype,
    steps: int,
    repeats: int,
    frames: int | None = None,
    cache_dtypes: tuple[str, ...] = ("auto",),
    compile_too: bool = False,
) -> dict:
    model, spec, preset, run, tokens = LOOPS[model_name](scale, device, dtype, steps, frames)
    never = CacheConfig(
        name="never-reuse",
        stacks={k: StackSchedule(cached=v.cached, warmup=steps, interval=1) for k, v in preset.stacks.items()},
    )
    storage = {name: None if name == "auto" else CACHE_DTYPES[name] for name in cache_dtypes}
    configs = {"baseline": None, "wrapped": (never, None)} | {f"cached_{n}": (preset, d) for n, d in storage.items()}
    times: dict[str, list[float]] = {k: [] for k in configs}
    stats: dict[str, dict] = {}
    peak: dict[str, int] = {}

    def measure(variant: str, config) -> None:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        if config is None:
            times[variant].append(timed(run, lambda name, step: nullcontext(), device))
        else:
            with apply_cache(model, spec, config[0], steps, cache_dtype=config[1]) as handle:
                times[variant].append(timed(run, handle.branch, device))
                stats[variant] = handle.stats()
        if device.type == "cuda":
            peak[variant] = torch.cuda.max_memory_allocated(device)

    run(lambda name, step: nullcontext())  # warm-up (kernels, allocator)
    for _ in range(repeats):  # interleaved so that drift hits every variant alike
        for variant, config in configs.items():
            measure(variant, config)
    if compile_too:
        first_cached = next(k for k in configs if k.startswith("cached_"))
        compile_blocks(model, spec)
        t0 = time.perf_counter()
        run(lambda name, step: nullcontext())  # compiles every block shape once
        compile_seconds = time.perf_counter() - t0
        times |= {"baseline_compiled": [], f"{first_cached}_compiled": []}
        for _ in range(repeats):
            measure("baseline_compiled", None)
            measure(f"{first_cached}_compiled", configs[first_cached])
    best = {k: min(v) for k, v in times.items()}
    cached = next(k for k in configs if k.startswith("cached_"))
    achieved = best["baseline"] / best[cached]
    theory = stats[cached]["theoretical_speedup"]
    result = {
        "model": model_name,
        "scale": scale,
        "tokens": tokens,
        "steps": steps,
        "device": device_name(device),
        "dtype": str(dtype).removeprefix("torch."),
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "theoretical_speedup": round(theory, 3),
        "achieved_speedup": round(achieved, 3),
        "achieved_over_theoretical": round(achieved / theory, 3),
        "wrapper_overhead_pct": round(100 * (best["wrapped"] / best["baseline"] - 1), 2),
        "block_evals": f"{stats[cached]['block_evals_computed']}/{stats[cached]['block_evals_total']}",
        "cache_bytes_peak": {
            k.removeprefix("cached_"): v["cache_bytes_peak"]
            for k, v in stats.items()
            if k.startswith("cached_") and not k.endswith("_compiled")
        },
        "peak_memory_bytes": peak or None,
    }
    if compile_too:
        result["compile_seconds"] = round(compile_seconds, 1)
        result["compiled_speedup"] = {
            "baseline": round(best["baseline"] / best["baseline_compiled"], 3),
            cached: round(best[cached] / best[f"{cached}_compiled"], 3),
        }
    return result


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=[*LOOPS, "both"], default="both")
    p.add_argument("--scale", choices=sorted({scale for _, scale in SCALES}), default="moderate")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--frames", type=int, default=None, help="frames, 4n+1 (default: the scale's)")
    p.add_argument("--cache_dtypes", default="auto", help='delta dtypes to run the cached loop with, e.g. "fp32,bf16"')
    p.add_argument("--compile", action="store_true", help="also time baseline and cached with every block compiled")
    p.add_argument("--out", type=Path, default=None, help="append results as JSON lines")
    args = p.parse_args()
    device = torch.device(args.device)
    if args.scale == "real" and device.type != "cuda":
        p.error("--scale real needs a CUDA device (random 14B/13B weights in bf16)")
    if args.frames is not None and (args.frames < 1 or (args.frames - 1) % 4):
        p.error(f"--frames must be 4n+1, got {args.frames}")
    cache_dtypes = tuple(d.strip() for d in args.cache_dtypes.split(","))
    bad = [d for d in cache_dtypes if d != "auto" and d not in CACHE_DTYPES]
    if bad:
        p.error(f"--cache_dtypes: unknown {bad}; accepted: auto, {', '.join(CACHE_DTYPES)}")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    for name in list(LOOPS) if args.model == "both" else [args.model]:
        result = bench(
            name, args.scale, device, dtype, args.steps, args.repeats, args.frames, cache_dtypes, args.compile
        )
        print(json.dumps(result))
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
