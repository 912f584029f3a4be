"""Our pipeline against diffusers' on the same model, prompt, seed and cache (docs/diffusers.md).

For each prompt and cache configuration: the video of our own stack (`Target.run`) and the video of diffusers'
pipeline loaded from the folder `scripts/to_diffusers.py` wrote, with the same cache object put on it by
`enable_delta_cache`; their PSNR, both theoretical speedups and both end-to-end times (text encoding, denoising
and decoding: the pipeline call against our generate + decode).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass
class Pair:
    label: str
    prompt: int
    psnr: float  # diffusers' video against ours
    ours_speedup: float
    diffusers_speedup: float
    ours_seconds: float
    diffusers_seconds: float


def compare(target, folder, prompts: list[str], configs: dict) -> list[Pair]:
    """`configs`: label -> None (full compute), a CacheConfig or a policy factory (a fresh policy per run)."""
    import torch
    from diffusers import DiffusionPipeline

    from delta_cache.diffusers import enable_delta_cache
    from delta_cache.diffusers.convert import read_call
    from scenes.metrics import psnr

    pipe = DiffusionPipeline.from_pretrained(str(folder))
    call = read_call(folder)
    # one untimed generation each: the first call of either pays its lazy set-up
    target.decode(target.generate(prompts[0], 0))
    pipe(prompts[0], output_type="np", generator=torch.Generator().manual_seed(0), **call)
    rows = []
    for label, make in configs.items():
        for i, prompt in enumerate(prompts):
            config = make() if callable(make) else make
            t0 = time.perf_counter()
            latent, report = target.run(prompt, i, config)
            ours = target.decode(latent)
            ours_seconds = time.perf_counter() - t0
            cache = None
            if config is not None:
                again = make() if callable(make) else make
                cache = enable_delta_cache(pipe, method=again) if callable(make) else enable_delta_cache(pipe, again)
            try:
                t0 = time.perf_counter()
                g = torch.Generator().manual_seed(i)
                theirs = pipe(prompt, output_type="np", generator=g, **call).frames[0]
                seconds = time.perf_counter() - t0
                speedup = cache.stats()["theoretical_speedup"] if cache is not None else 1.0
            finally:
                if cache is not None:
                    cache.remove()
            value = psnr(np.asarray(theirs, np.float32), np.asarray(ours, np.float32))
            rows.append(Pair(label, i, value, report["theoretical_speedup"], speedup, ours_seconds, seconds))
    return rows


def table(rows: list[Pair]) -> str:
    """Means per configuration, as a markdown table."""
    out = [
        "| Cache | PSNR diffusers vs ours (dB) | Theoretical: ours / diffusers | Seconds: ours / diffusers |",
        "|---|---|---|---|",
    ]
    for label in dict.fromkeys(r.label for r in rows):
        mine = [r for r in rows if r.label == label]

        def mean(key: str, mine: list[Pair] = mine) -> float:
            return float(np.mean([getattr(r, key) for r in mine]))

        out.append(
            f"| {label} | {mean('psnr'):.2f} (min {min(r.psnr for r in mine):.2f}) | "
            f"{mean('ours_speedup'):.2f}x / {mean('diffusers_speedup'):.2f}x | "
            f"{mean('ours_seconds'):.2f} / {mean('diffusers_seconds'):.2f} |"
        )
    return "\n".join(out)
