"""Calibrate the peer methods for a model without published constants (the tiny models), as their authors did.

    python scripts/calibrate_peers.py --overwrite   # shipped t2v-tiny: Wan2.1/Wan2.1-T2V-tiny/cache_peers.json
    python scripts/calibrate_peers.py --task t2v-1.3B --ckpt_dir ./Wan2.1-T2V-1.3B --prompts p.txt --out my.json
    python scripts/calibrate_peers.py --model HYVideo-debug --out hy_debug.json    # random weights (a path check)

Full-compute generations (tiny: N prompts of the scenes' training split, never the held-out ones) with every
pass recorded (delta_cache/calibration.py): TeaCache's 4th-degree polynomial of output change against each
indicator's change, per indicator mode, over all steps; MagCache's magnitude-ratio table (mean over the prompts;
its authors use one). The file also carries the settings that have no calibration: the thresholds of the
model family's published defaults (Wan: T2V-1.3B's; HunyuanVideo: its own), every count of steps scaled by
steps / 50 (docs/delta_cache.md, "Step counts"), and DBCache at cache-dit's F1B0 example where the published F8
leaves no middle block. generate.py / sample_video.py / reproduce.py read a `cache_peers.json` in the
checkpoint folder in place of the published constants; an existing file is replaced only with --overwrite.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
for sub in ("Wan2.1", "HunyuanVideo", ""):
    sys.path.insert(0, str(REPO / sub))

from evaluation.targets import model_parser, read_prompt_file, select_target  # noqa: E402


def build_parser(cls):
    p = model_parser(cls, "Calibrate TeaCache and MagCache for this model and write a cache_peers.json.")
    g = p.add_argument_group("calibration")
    g.add_argument("--num_prompts", type=int, default=None, help="tiny: N training-split prompts (default 6)")
    g.add_argument("--prompts", type=Path, default=None, help="text file, one prompt per line")
    g.add_argument("--out", type=Path, default=None, help="output JSON (default: <ckpt folder>/cache_peers.json)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing --out (e.g. a shipped calibration)")
    return p


def _prompts(p, args, target) -> list[str]:
    if args.prompts is not None:
        return read_prompt_file(p, args)
    n = 6 if args.num_prompts is None else args.num_prompts
    if target.tiny:
        from scenes import training_combos

        pool = training_combos()
        if not 1 <= n <= len(pool):
            p.error(f"--num_prompts must be in 1..{len(pool)}, got {n}")
        return [pool[i].prompt for i in np.random.default_rng(5).permutation(len(pool))[:n]]
    if args.num_prompts not in (None, 1):
        p.error("--num_prompts N needs the tiny model's scenes; give --prompts FILE for this model")
    return [args.prompt]


PUBLISHED_STEPS = 50  # the step count the borrowed constants were published for (Wan T2V and HunyuanVideo)


def _uncalibrated(target) -> tuple[dict, dict, dict]:
    """The settings no calibration run fixes: the family's published ones, every count of steps scaled.

    One rule for every method (docs/delta_cache.md, "Step counts"): a count of steps (forced first steps,
    warm-ups, the most consecutive reuses) stands for a share of the sampling trajectory, so it is scaled by
    steps / 50, rounded, at least 1 where the published count is; a count of 0 stays 0. Thresholds and ratios
    (MagCache's retention) are kept.
    """

    def scaled(count: int) -> int:
        return 0 if count == 0 else max(1, round(count * target.steps / PUBLISHED_STEPS))

    tea, out = target.borrowed_peer_settings(scaled)
    fn = 8 if min(target.depths.values()) > 8 else 1  # F8B0 needs more than 8 blocks; cache-dit's example is F1B0
    db = {"threshold": 0.08 if fn == 8 else 0.12, "Fn": fn, "Bn": 0, "max_warmup_steps": scaled(8)}
    if fn == 1:
        db["max_continuous_cached_steps"] = scaled(3)
    out["dbcache"] = db
    # TeaCache's forced steps per indicator mode: e computes the first and the last step, e0 the first 5
    forced = {False: (scaled(1), scaled(1)), True: (scaled(5), 0)}
    return tea, forced, out


def main(argv: list[str] | None = None) -> int:
    cls, argv = select_target(argv, "calibrate_peers.py")
    p = build_parser(cls)
    target = cls(cls.validate(p, p.parse_args(argv)))
    args = target.args
    prompts = _prompts(p, args, target)
    if target.random_weights and args.out is None:
        p.error("--out is needed: this model's weights are random and written to a temporary folder")
    import tempfile

    from usp import rank_device, unwritable_reason

    with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:
        target.prepare(tmp)
        out = args.out or target.calibration_file()
        if out.suffix != ".json":
            p.error(f"--out must end with .json, got {out}")
        if out.exists() and not args.overwrite:  # the tiny models' calibrations are shipped and tracked
            p.error(f"{out} exists; pass --overwrite to replace it, or --out elsewhere")
        reason = unwritable_reason(out.parent)
        if reason:
            p.error(f"--out {out}: {reason}")
        from delta_cache.calibration import CalibrationRecorder, fit_polynomial, mag_table

        target.load(rank_device(args.device), None)
        modes = target.calibration_signals
        t0 = time.perf_counter()
        recorder = CalibrationRecorder(target.model, target.spec, tuple(modes.values()))
        try:
            for i, prompt in enumerate(tqdm(prompts, desc="calibration", unit="prompt")):
                with torch.no_grad():
                    target.generate(prompt, 1000 + i, cache=recorder)
        finally:
            recorder.remove()
        rows = [r for r in recorder.rows if "output_rel_l1" in r]
        thresholds, forced, methods = _uncalibrated(target)
        tea_modes, fits = [], {}
        for ret, signal in modes.items():
            x = [r[f"{signal}_rel_l1"] for r in rows]
            y = [r["output_rel_l1"] for r in rows]
            coefficients = fit_polynomial(x, y)
            residual = np.asarray(y) - np.polyval(coefficients, x)
            fits[signal] = {"points": len(x), "rms_residual": float(np.sqrt(np.mean(residual**2)))}
            (ret_steps, last_forced), (slow, fast) = forced[ret], thresholds[ret]
            tea_modes.append(
                dict(
                    use_ret_steps=ret,
                    indicator=signal,
                    coefficients=coefficients,
                    ret_steps=ret_steps,
                    last_forced=last_forced,
                    slow=slow,
                    fast=fast,
                )
            )
        branches = tuple(dict.fromkeys(r["branch"] for r in recorder.rows))
        methods["teacache"] = {"modes": tea_modes}
        methods["magcache"]["ratios"] = mag_table(rows, branches, target.steps)
        methods["magcache"]["branches"] = list(branches) if target.magcache_per_branch else None
        record = {
            "model": target.identity(),
            "prompts": prompts,
            "seeds": [1000 + i for i in range(len(prompts))],
            "teacache_fit": fits,
            "seconds": round(time.perf_counter() - t0, 1),
            "methods": methods,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out.with_name(f".{out.name}.partial")
        tmp_out.write_text(json.dumps(record, indent=1) + "\n")
        tmp_out.replace(out)
    print(f"wrote {out}: TeaCache fits {fits}; MagCache {len(methods['magcache']['ratios'])} ratios")
    return 0


if __name__ == "__main__":
    sys.exit(main())
