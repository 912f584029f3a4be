"""Per-rank memory of the DiT under sequence parallelism, with and without delta_cache, from the configs.

    python scripts/sp_memory.py            # markdown table for docs/parallelism.md

Counted, not measured: parameters (built on the meta device), one hidden state of the residual stream for this
rank's tokens, and the cached deltas of the shipped presets (one tensor per run of cached blocks, per CFG
branch, per stream). Wan keeps fp32 weights and an fp32 residual stream (as upstream; `--dit_fsdp` shards the
weights); HunyuanVideo runs bf16 and replicates its weights on every rank (as upstream). Activations inside a
block (attention, MLP) and the text encoders and VAE come on top. The counts are checked on CPU in
tests/test_parallel.py, where each of two ranks reports half of the single-process cache bytes (Wan).
"""

from __future__ import annotations

import torch

GIB = 1024**3


def wan_rows(task: str, size: str, frames: int, ranks: list[int]) -> list[list[str]]:
    from delta_cache import runs_of
    from wan.cache_spec import T2V_14B_RELEASED
    from wan.configs import SIZE_CONFIGS, WAN_CONFIGS
    from wan.modules.model import WanModel
    from wan.text2video import latent_shape, sequence_length

    cfg = WAN_CONFIGS[task]
    with torch.device("meta"):
        params = sum(p.numel() for p in WanModel(**cfg.model_kwargs()).parameters())
    runs = len(runs_of(T2V_14B_RELEASED.stacks["blocks"].cached)) if task == "t2v-14B" else 0
    shape = latent_shape(cfg, SIZE_CONFIGS[size], frames)
    rows = []
    for n in ranks:
        local = sequence_length(cfg, shape, n) // n
        hidden = local * cfg.dim * 4
        cache = runs * 2 * hidden  # cond and uncond
        weights = params * 4 / (n if n > 1 else 1)
        rows.append(
            [
                f"Wan2.1 {task}",
                f"{size} x {frames}",
                str(n),
                f"{local:,}",
                f"{weights / GIB:.1f} (FSDP)" if n > 1 else f"{weights / GIB:.1f}",
                f"{hidden / GIB:.3f}",
                f"{runs * 2}",
                f"{cache / GIB:.2f}",
            ]
        )
    return rows


def hyvideo_rows(height: int, width: int, frames: int, ranks: list[int]) -> list[list[str]]:
    from delta_cache import runs_of
    from hyvideo.cache_spec import HY_T2V_RELEASED
    from hyvideo.configs import HUNYUAN_VIDEO_CONFIG
    from hyvideo.inference import latent_shape
    from hyvideo.modules.models import HYVideoDiffusionTransformer

    cfg = HUNYUAN_VIDEO_CONFIG["HYVideo-T/2-cfgdistill"]
    with torch.device("meta"):
        params = sum(p.numel() for p in HYVideoDiffusionTransformer(**cfg.model_kwargs()).parameters())
    _, f, h, w = latent_shape(cfg, height, width, frames)
    img = f * (h // 2) * (w // 2)
    double_runs = len(runs_of(HY_T2V_RELEASED.stacks["double_blocks"].cached))
    single_runs = len(runs_of(HY_T2V_RELEASED.stacks["single_blocks"].cached))
    rows = []
    for n in ranks:
        local = img // n
        hidden = (local + cfg.text_len) * cfg.hidden_size * 2  # img shard + replicated text, bf16
        cache = (double_runs + single_runs) * hidden  # one branch (guidance-distilled)
        rows.append(
            [
                f"HunyuanVideo {cfg.name}",
                f"{height}x{width} x {frames}",
                str(n),
                f"{local:,} + {cfg.text_len} text",
                f"{params * 2 / GIB:.1f}",
                f"{hidden / GIB:.3f}",
                f"{double_runs + single_runs}",
                f"{cache / GIB:.2f}",
            ]
        )
    return rows


def main() -> None:
    head = [
        "model",
        "video",
        "ranks",
        "tokens per rank",
        "DiT weights GiB",
        "hidden state GiB",
        "cached deltas",
        "cache GiB per rank",
    ]
    rows = wan_rows("t2v-14B", "1280*720", 81, [1, 2, 4, 8]) + hyvideo_rows(720, 1280, 129, [1, 2, 4, 8])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
