"""`python scripts/profile_model.py`: profile a video DiT and write the delta_cache preset it reveals.

    python scripts/profile_model.py                                      # shipped t2v-tiny, scene masks, 1.96x
    python scripts/profile_model.py --target_speedup 2.2                 # rerun: statistics come from the cache
    python scripts/profile_model.py --task t2v-1.3B --ckpt_dir ./Wan2.1-T2V-1.3B --size 832*480 --mask motion \\
        --prompts prompts.txt --target_speedup 2 --out wan1.3b.json     # then: generate.py --cache_preset wan1.3b.json
    python scripts/profile_model.py --model hunyuanvideo                 # the shipped HYVideo-tiny

Per prompt: one full-compute generation with every self-attention observed (ā per block and step, the step
statistic per CFG branch, the final latent for `motion` masks); with `--mask scene` (tiny model) also the
model's passes on a true rendering noised to each sampler sigma, whose foreground is known exactly. Then
R_attn per block, the background/foreground split, the schedule from the step statistic, the sensitivity of
caching each block (and each run of background blocks) alone, a selection for the target, its validation
against full compute, the preset file and the figures. Statistics are stored under --stats_dir keyed by
everything they depend on, so a rerun with another target, threshold or τ recomputes nothing but the choice.
Memory model and measurements: docs/profiler.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for sub in ("Wan2.1", "HunyuanVideo", ""):
    sys.path.insert(0, str(REPO / sub))

from delta_cache.masks import MASK_SOURCES, check_mask_grid  # noqa: E402
from delta_cache.preset_file import load_preset  # noqa: E402
from delta_cache.profiling import ProfileConfig, add_adaptive, profile  # noqa: E402
from delta_cache.r_attn import DEFAULT_VALUES, THRESHOLDS  # noqa: E402
from delta_cache.selection import max_speedup  # noqa: E402
from evaluation.targets import model_parser, read_prompt_file, select_target  # noqa: E402
from scenes import training_combos  # noqa: E402
from usp import finite_float  # noqa: E402


def build_parser(cls) -> argparse.ArgumentParser:
    p = model_parser(cls, "Profile the model's attention and write the delta_cache preset it reveals.")
    g = p.add_argument_group("profiler")
    g.add_argument("--prompts", type=Path, default=None, help="text file, one prompt per line")
    g.add_argument("--num_prompts", type=int, default=None, help="profile N prompts (tiny: training split; 4)")
    g.add_argument("--mask", choices=MASK_SOURCES, default=None, help="foreground source (tiny: scene; motion)")
    g.add_argument("--mask_file", type=Path, default=None, help="--mask file: .npy/.npz [F,H,W] or [P,F,H,W]")
    g.add_argument(
        "--mask_area", type=finite_float, default=0.5, help="share of a token's pixels that makes it foreground (0, 1]"
    )
    g.add_argument("--sam2_checkpoint", default=None)
    g.add_argument("--sam2_config", default=None)
    g.add_argument("--queries", default="auto", help="scored queries: all, N, or auto (all up to 4096 tokens, 1024)")
    g.add_argument("--threshold", choices=THRESHOLDS, default="quantile", help="high-attention rule per frame")
    g.add_argument(
        "--threshold_value", type=finite_float, default=None, help=f"rule parameter (defaults {DEFAULT_VALUES})"
    )
    g.add_argument("--tau", default="otsu", help="R_attn split: otsu (largest gap) or a share in (0, 1]")
    g.add_argument("--from_step", type=int, default=None, help="pool R_attn over steps >= this (default: warm-up)")
    g.add_argument(
        "--target_speedup", type=finite_float, default=None, help="theoretical speedup to reach (tiny: 1.96)"
    )
    g.add_argument("--block_budget", type=int, default=None, help="or: block evaluations per generation")
    g.add_argument("--warmup", type=int, default=None, help="warm-up steps (default: from the step statistic)")
    g.add_argument("--sensitivity", choices=["runs", "blocks", "none"], default="runs")
    g.add_argument("--validate", type=int, default=3, help="candidates measured against full compute (0: none)")
    g.add_argument("--out", type=Path, default=None, help="preset file .json (default outputs/profile/<model>.json)")
    g.add_argument("--figures", type=Path, default=None, help="directory for the PNGs (default: beside --out)")
    g.add_argument("--stats_dir", type=Path, default=REPO / "outputs" / "profile_cache")
    g.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    g.add_argument(
        "--no_adaptive",
        action="store_true",
        help="skip the adaptive method's step costs and plans (steps-1 generations per prompt and the plans' "
        "validation): the file serves the static preset; add them later with --adaptive_only",
    )
    g.add_argument(
        "--adaptive_only",
        action="store_true",
        help="only measure the adaptive method's step costs into the existing preset file --out (its blocks)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    cls, argv = select_target(argv, "profile_model.py", diffusers=True)
    p = build_parser(cls)
    target = cls(cls.validate(p, p.parse_args(argv)))
    config = profile_config(p, target.args, target)

    import tempfile

    from usp import init_sequence_parallel, quiet_other_ranks, rank_device, run_on_group, world_from_env

    world = world_from_env()[2]
    quiet_other_ranks()
    device = rank_device(target.args.device)
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        target.prepare(tmp)
        group = init_sequence_parallel(*target.sp_degrees, device) if world > 1 else None
        main_rank = group is None or group.rank == 0
        step = add_adaptive if target.args.adaptive_only else profile
        run = lambda: step(target, config, device, group, main_rank)  # noqa: E731
        return run_on_group(run, group, (ValueError, FileNotFoundError))


def profile_config(p: argparse.ArgumentParser, args: argparse.Namespace, target) -> ProfileConfig:
    """Every profiler check, before any model loads (p.error: one line, exit 2, nothing written)."""
    mask = args.mask or ("scene" if target.tiny else "motion")
    if mask == "scene" and not target.tiny:
        p.error(
            "--mask scene needs a tiny trained model (t2v-tiny, HYVideo-tiny: its scenes have ground truth); "
            "use motion or file"
        )
    if mask == "file":
        if args.mask_file is None:
            p.error("--mask file needs --mask_file PATH (.npy/.npz of [F, H, W] or [P, F, H, W])")
    elif args.mask_file is not None:
        p.error(f"--mask_file is only read with --mask file (got --mask {mask})")
    if not 0 < args.mask_area <= 1:
        p.error(f"--mask_area must be in (0, 1], got {args.mask_area}")
    prompts, scenes = _prompts(p, args, target, mask)
    masks = None
    if mask == "file":
        from delta_cache.masks import load_mask_file

        try:  # masks are small: read and check them whole, before any model
            masks = load_mask_file(args.mask_file, len(prompts))
            check_mask_grid(masks.shape, target.grid, "--mask_file")
        except ValueError as err:
            p.error(str(err).replace("--mask_file:", f"--mask_file {args.mask_file}:"))
    if args.queries != "auto" and args.queries != "all":
        if not args.queries.isdigit() or int(args.queries) < 1:
            p.error(f"--queries must be all, auto or a positive count, got {args.queries!r}")
    tokens = int(np.prod(target.grid))
    queries = (
        None
        if args.queries == "all" or (args.queries == "auto" and tokens <= 4096)
        else (1024 if args.queries == "auto" else int(args.queries))
    )
    tau = args.tau
    if tau != "otsu":
        try:
            tau = float(args.tau)
        except ValueError:
            p.error(f"--tau must be otsu or a number, got {args.tau!r}")
        # R_attn is a share of foreground tokens, in [0, 1]: a tau above 1 would call every block background,
        # one at or below 0 every block foreground, both silently
        if not 0 < tau <= 1:
            p.error(f"--tau must be otsu or a share in (0, 1] (R_attn >= tau is foreground), got {args.tau}")
    try:
        from delta_cache.r_attn import RAttnRule

        rule = RAttnRule(threshold=args.threshold, value=args.threshold_value, from_step=args.from_step)
    except ValueError as err:
        p.error(str(err))
    speedup = _target_speedup(p, args, target)
    if args.warmup is not None and not 1 <= args.warmup < target.steps - 1:
        p.error(f"--warmup must be in 1..{target.steps - 2}, got {args.warmup}")
    out = args.out or REPO / "outputs" / "profile" / f"{target.name}-{target.profile_name()}.json"
    if out.suffix != ".json":
        p.error(f"--out must end with .json, got {out}")
    if args.adaptive_only:
        if args.no_adaptive:
            p.error("--adaptive_only measures what --no_adaptive skips; give one of them")
        if args.out is None or not out.is_file():
            p.error(f"--adaptive_only adds to an existing preset file: give it as --out (not found: {out})")
        try:
            load_preset(out, target.depths)
        except ValueError as err:
            p.error(str(err))
    elif out.exists() and not args.overwrite:
        p.error(f"--out {out} exists; pass --overwrite to replace it or choose another name")
    from usp import unwritable_reason

    for d in (out.parent, args.figures or out.parent, args.stats_dir):
        existing = next(q for q in (d, *d.parents) if q.exists())  # created later, where it can be
        reason = unwritable_reason(existing) if existing.is_dir() else f"{existing} is not a directory"
        if reason:
            p.error(f"cannot write the profile to {d}: {reason}")
    return ProfileConfig(
        prompts=tuple(prompts),
        seed=target.seed,
        mask=mask,
        mask_area=args.mask_area,
        rule=rule,
        tau=tau,
        target_speedup=speedup,
        out=out,
        figures=args.figures or out.with_name(out.stem + "_figures"),
        stats_dir=args.stats_dir,
        scenes=tuple(scenes) if scenes is not None else None,
        mask_file=args.mask_file,
        masks=masks,
        sam2_checkpoint=args.sam2_checkpoint,
        sam2_config=args.sam2_config,
        queries=queries,
        warmup=args.warmup,
        sensitivity=args.sensitivity,
        validate=args.validate,
        adaptive=not args.no_adaptive,
    )


def _prompts(p: argparse.ArgumentParser, args: argparse.Namespace, target, mask: str) -> tuple[list[str], list | None]:
    """(the profiled prompts, their scenes or None): --prompts FILE, else the tiny model's training scenes."""
    if args.prompts is not None:
        prompts = read_prompt_file(p, args)
        if mask == "scene":
            p.error("--mask scene draws its prompts from the scenes' training split; use --num_prompts")
        return prompts, None
    n = 4 if args.num_prompts is None else args.num_prompts
    if target.tiny:
        pool = training_combos()
        if not 1 <= n <= len(pool):
            p.error(f"--num_prompts must be in 1..{len(pool)}, got {n}")
        scenes = [pool[i] for i in np.random.default_rng(2).permutation(len(pool))[:n]]
        return [s.prompt for s in scenes], scenes
    if n != 1 and args.num_prompts is not None:
        p.error("--num_prompts N needs the tiny model's scenes; give --prompts FILE for this model")
    return [args.prompt], None


def _target_speedup(p: argparse.ArgumentParser, args: argparse.Namespace, target) -> float:
    """--target_speedup, or --block_budget as one; the default: the tiny model's built-in preset's, else 2."""
    total = target.full_compute()["block_evals_total"]
    if args.target_speedup is not None and args.block_budget is not None:
        p.error("give --target_speedup or --block_budget, not both")
    speedup = args.target_speedup
    if args.block_budget is not None:
        if not 0 < args.block_budget <= total:
            p.error(f"--block_budget must be in 1..{total} (block evaluations of a full-compute generation)")
        speedup = total / args.block_budget
    if speedup is None:
        speedup = target.tiny_target_speedup if target.tiny else 2.0
    bound = max_speedup(target.depths, target.steps, warmup=args.warmup or 1)
    if not 1 < speedup <= bound:
        p.error(
            f"--target_speedup {speedup:.3g} cannot be reached: {target.steps} steps allow at most "
            f"{bound:.2f}x (every block cached, one refresh); give a target in (1, {bound:.2f}]"
        )
    return speedup


if __name__ == "__main__":
    sys.exit(main())
