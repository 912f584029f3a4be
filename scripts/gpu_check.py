"""Every check only a GPU can make, in one command that fits in 10 minutes on one H100/H200 (random weights).

    python scripts/gpu_check.py                       # all parts, appended to docs/gpu_results.md
    python scripts/gpu_check.py --parts attention,memory --out $OUT/gpu_results.md
    python scripts/gpu_check.py --smoke --out /tmp/check.md   # the same code paths at toy sizes, on CPU

Parts, each appended to --out as soon as it finishes (a timeout keeps what was done):
  env        GPU name, torch, CUDA, flash-attn / xfuser availability, GPU count
  attention  flash-attn against SDPA on the real shapes of Wan2.1-14B 480p x 81 frames and HunyuanVideo 720p
             (unpadded and padded keys): max error and kernel time
  bench      scripts/bench_cache.py at real model sizes, fewer frames and 20 steps (to fit): achieved against
             theoretical speedup, wrapper overhead, delta memory in fp32 and bf16, step time with --compile;
             written as two parts, bench_wan and bench_hyvideo (each kept if a timeout stops the other)
  memory     peak GPU memory of a cached Wan2.1-14B 480p x 81 frames denoising step (bf16 weights), without
             the cache and with its deltas in fp32 and bf16
  nccl       with 2+ GPUs: tests/sp_worker.py under torchrun on NCCL (Ulysses 2 and FSDP2 against one process)
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "Wan2.1"), str(REPO / "HunyuanVideo"), str(REPO), str(REPO / "scripts")]
PARTS = ("env", "attention", "bench_wan", "bench_hyvideo", "memory", "nccl")
ALIASES = {"bench": ("bench_wan", "bench_hyvideo")}
GIB = 1024**3


def gpu_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke run)"


def part_env(device: torch.device, smoke: bool) -> dict:
    from usp import xfuser_available
    from wan.modules.attention import flash_available

    return {
        "gpu": gpu_name(device),
        "gpus": torch.cuda.device_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "flash_attn": flash_available(device),
        "xfuser": xfuser_available(),
    }


def _kernel_time(fn, device: torch.device, repeats: int = 3) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / repeats


def _sdpa_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_lens: torch.Tensor | None) -> torch.Tensor:
    mask = None
    if k_lens is not None:
        mask = (torch.arange(k.shape[1], device=q.device)[None, :] < k_lens[:, None])[:, None, None, :]
    out = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
    )
    return out.transpose(1, 2)


@torch.inference_mode()
def part_attention(device: torch.device, smoke: bool) -> dict:
    """flash-attn (the models' own `_flash`) against torch SDPA with the same key mask, on the real shapes."""
    from hyvideo.modules import attention as hy_attention
    from wan.modules import attention as wan_attention

    if not wan_attention.flash_available(device):
        return {"skipped": "flash-attn is not installed (or no CUDA): nothing to compare"}
    # Wan 14B 832x480x81: 21 x 30 x 52 tokens, 40 heads; HY 720p x 129 frames: 33 x 45 x 80 image + 256 text
    # tokens, 24 heads. Padded: Wan's last 100 tokens; HY's text with 40 valid tokens of 256.
    cases = [
        ("wan2.1-14B 480p", wan_attention, 21 * 30 * 52, 40, (None, 21 * 30 * 52 - 100)),
        ("hunyuanvideo 720p", hy_attention, 33 * 45 * 80 + 256, 24, (33 * 45 * 80 + 256, 33 * 45 * 80 + 40)),
    ]
    out = {}
    g = torch.Generator(device).manual_seed(0)
    for name, mod, n, heads, valid_counts in cases:
        q, k, v = (torch.randn(1, n, heads, 128, generator=g, device=device, dtype=torch.bfloat16) for _ in range(3))
        for valid in valid_counts:
            k_lens = None if valid is None else torch.tensor([valid], device=device)

            flash = functools.partial(mod._flash, q, k, v, k_lens, torch.bfloat16)
            sdpa = functools.partial(_sdpa_reference, q, k, v, None if valid in (None, n) else k_lens)
            key = f"{name}, {'all' if valid in (None, n) else valid} of {n} keys"
            try:
                err = (flash().float() - sdpa().float()).abs()
                out[key] = {
                    "max_abs_err": float(err.max()),
                    "mean_abs_err": float(err.mean()),
                    "flash_ms": round(1000 * _kernel_time(flash, device), 2),
                    "sdpa_ms": round(1000 * _kernel_time(sdpa, device), 2),
                }
            except torch.OutOfMemoryError as err:  # SDPA's masked kernels at 119k tokens: record and go on
                out[key] = {"error": f"out of memory: {str(err)[:200]}"}
                torch.cuda.empty_cache()
    return out


def part_bench(name: str, device: torch.device, smoke: bool) -> dict:
    from bench_cache import bench

    scale, steps = ("smoke", 8) if smoke else ("real", 20)
    frames = {"wan": 1 if smoke else 21, "hyvideo": 1 if smoke else 17}[name]
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    return bench(name, scale, device, dtype, steps, 1, frames, ("fp32", "bf16"), compile_too=True)


@torch.inference_mode()
def part_memory(device: torch.device, smoke: bool) -> dict:
    """Peak memory over three steps (refresh, reuse, refresh; cond and uncond) of the 14B at 480p x 81."""
    from delta_cache import CacheConfig, apply_cache
    from wan.cache_spec import T2V_14B_RELEASED, WAN_CACHE_SPEC
    from wan.configs import SIZE_CONFIGS, WAN_CONFIGS
    from wan.modules.model import WanModel
    from wan.schedulers import make_scheduler
    from wan.text2video import denoise, latent_shape, sequence_length

    cfg = WAN_CONFIGS["t2v-14B"]
    size, frames = SIZE_CONFIGS["832*480"], 81
    if smoke:
        cfg = dataclasses.replace(cfg, dim=64, ffn_dim=128, num_heads=2)
        size, frames = (64, 64), 5
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    with torch.device(device):
        model = WanModel(**cfg.model_kwargs()).to(dtype).eval().requires_grad_(False)
    shape = latent_shape(cfg, size, frames)
    seq_len = sequence_length(cfg, shape)
    g = torch.Generator(device).manual_seed(0)
    noise = torch.randn(shape, generator=g, device=device)
    ctx = [torch.randn(40, cfg.text_dim, generator=g, device=device)]
    null = [torch.randn(60, cfg.text_dim, generator=g, device=device)]
    preset = CacheConfig(
        stacks={"blocks": dataclasses.replace(T2V_14B_RELEASED.stacks["blocks"], warmup=0, interval=2)}
    )
    out = {
        "tokens": seq_len,
        "weights_gib": round(sum(p.numel() * p.element_size() for p in model.parameters()) / GIB, 2),
    }
    for variant, storage in (("no cache", None), ("deltas fp32", torch.float32), ("deltas bf16", torch.bfloat16)):
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        sched = make_scheduler("unipc", 3, 5.0, device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=device.type == "cuda"):
            if storage is None:
                denoise(model, noise, sched, ctx, null, 5.0, seq_len, progress=False)
                cache = 0
            else:
                with apply_cache(model, WAN_CACHE_SPEC, preset, 3, cache_dtype=storage) as handle:
                    denoise(model, noise, sched, ctx, null, 5.0, seq_len, branch=handle.branch, progress=False)
                    cache = handle.bytes_peak
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
        out[variant] = {
            "peak_gib": round(peak / GIB, 2),
            "cache_peak_gib": round(cache / GIB, 3),
            "seconds_3_steps": round(time.perf_counter() - t0, 2),
        }
    return out


def part_nccl(device: torch.device, smoke: bool) -> dict:
    if device.type != "cuda" or torch.cuda.device_count() < 2:
        return {"skipped": f"needs 2 GPUs, found {torch.cuda.device_count()}"}
    out = {}
    for model in ("wan", "hyvideo", "wan_fsdp"):
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"gpu_check_{model}.json"
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(REPO / "tests" / "sp_worker.py"),
            "--models",
            model,
            "--out",
            str(path),
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        # one model per run: a failure of one leaves the others' results
        out[model] = json.loads(path.read_text())[model] if res.returncode == 0 else {"error": res.stderr[-600:]}
    return out


RUNNERS = {
    "env": part_env,
    "attention": part_attention,
    "bench_wan": functools.partial(part_bench, "wan"),
    "bench_hyvideo": functools.partial(part_bench, "hyvideo"),
    "memory": part_memory,
    "nccl": part_nccl,
}


def append(out: Path, text: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        f.write(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    accepted = ", ".join([*PARTS, *ALIASES])
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {accepted} (bench: both)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "gpu_results.md", help="markdown file to append to")
    p.add_argument("--smoke", action="store_true", help="toy sizes on any device (checks the script itself)")
    args = p.parse_args(argv)
    parts = [y for x in args.parts.split(",") for y in ALIASES.get(x.strip(), (x.strip(),))]
    unknown = [x for x in parts if x not in PARTS]
    if unknown:
        p.error(f"--parts: unknown {unknown}; accepted: {accepted}")
    if not args.smoke and not torch.cuda.is_available():
        p.error("no CUDA device: run this on a GPU, or add --smoke to check the script at toy sizes")
    if args.out.exists() and args.out.is_dir():
        p.error(f"--out is a directory: {args.out}")
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = "python scripts/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:])
    append(args.out, f"\n## {gpu_name(device)}, {stamp}\n\n`{command.strip()}`\n")
    failed = 0
    for part in parts:
        t0 = time.perf_counter()
        try:
            result = RUNNERS[part](device, args.smoke)
        except Exception as err:  # keep going: the other parts' figures are still worth having
            failed += 1
            result = {"error": f"{type(err).__name__}: {err}"[:800]}
        took = time.perf_counter() - t0
        append(args.out, f"\n### {part} ({took:.0f} s)\n\n```json\n{json.dumps(result, indent=1)}\n```\n")
        print(f"{part}: {took:.0f} s{' (error)' if 'error' in result else ''}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
