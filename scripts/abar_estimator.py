"""How good is the query-sampled ā? Sampled against exact on a mid-size case, and what it does to R_attn.

    python scripts/abar_estimator.py            # shipped t2v-tiny at 256x256, 17 frames: 5 x 32 x 32 = 5120 tokens

One full-compute generation of a training-split prompt with the profiler attached twice per step would double
the passes; instead the q and k of every block are captured at three steps (early, middle, late) of one
generation and ā is computed from them exactly and with S sampled queries (several seeds). Reported: the
relative L1 error of ā, the rank correlation of the per-token values, and the change in R_attn (quantile
rule) against a mask of the central quarter of each frame (any fixed mask shows the estimator's effect).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Wan2.1"))
sys.path.insert(0, str(REPO))

from delta_cache.attention_stats import received_attention  # noqa: E402
from delta_cache.r_attn import RAttnRule, r_attn  # noqa: E402


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = a.argsort().argsort().double(), b.argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="square frame size in pixels (tiny model: 8 px per token)")
    p.add_argument("--queries", default="256,1024", help="sampled query counts to measure")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", type=Path, default=REPO / "outputs" / "abar_estimator.json")
    args = p.parse_args(argv)
    counts = [int(c) for c in args.queries.split(",")]

    from scenes import training_combos
    from wan import WanT2V
    from wan.cli import TINY_CKPT_DIR, TINY_TASK
    from wan.configs import WAN_CONFIGS

    cfg = WAN_CONFIGS[TINY_TASK]
    pipe = WanT2V.from_checkpoint(cfg, TINY_CKPT_DIR)
    captured: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
    state = {"step": None}
    steps = (2, 12, 22)

    class Capture:  # a StepCache that only notes the step; the seams keep q and k at the chosen steps
        def start(self, n):
            pass

        def branch(self, name, step):
            import contextlib

            state["step"] = step if name == "cond" else None
            return contextlib.nullcontext()

    def observer(i):
        def observe(q, k, k_lens, joint_len):
            if state["step"] in steps:
                captured[(state["step"], i)] = (q.clone(), k.clone())

        return observe

    for i, block in enumerate(pipe.model.blocks):
        block.self_attn.observe = observer(i)
    pipe.generate(
        training_combos()[0].prompt,
        size=(args.size, args.size),
        frame_num=cfg.frame_num,
        shift=cfg.sample_shift,
        sampling_steps=cfg.sample_steps,
        guide_scale=cfg.sample_guide_scale,
        seed=0,
        offload_model=False,
        cache=Capture(),
        progress=False,
        decode=False,
    )
    for block in pipe.model.blocks:
        block.self_attn.observe = None

    f, h, w = (cfg.frame_num - 1) // 4 + 1, args.size // 8, args.size // 8
    mask = torch.zeros(f, h, w, dtype=torch.bool)
    mask[:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
    rule = RAttnRule()
    rows = {c: {"rel_l1": [], "spearman": [], "r_attn_abs_diff": []} for c in counts}
    t_exact, t_sampled = 0.0, {c: 0.0 for c in counts}
    for q, k in captured.values():
        t0 = time.perf_counter()
        exact = received_attention(q, k)[0]
        t_exact += time.perf_counter() - t0
        r_exact = r_attn(exact.view(f, h, w), mask, rule).item()
        for c in counts:
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                est = received_attention(q, k, queries=c, seed=seed)[0]
                t_sampled[c] += time.perf_counter() - t0
                rows[c]["rel_l1"].append(float((est - exact).abs().sum() / exact.abs().sum()))
                rows[c]["spearman"].append(spearman(est, exact))
                rows[c]["r_attn_abs_diff"].append(abs(r_attn(est.view(f, h, w), mask, rule).item() - r_exact))
    report = {
        "tokens": f * h * w,
        "cases": len(captured),
        "seeds": args.seeds,
        "exact_seconds_per_call": t_exact / len(captured),
        "sampled": {
            c: {
                **{k: float(np.mean(v)) for k, v in r.items()},
                "r_attn_abs_diff_max": float(np.max(r["r_attn_abs_diff"])),
                "seconds_per_call": t_sampled[c] / (len(captured) * args.seeds),
            }
            for c, r in rows.items()
        },
    }
    print(json.dumps(report, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
