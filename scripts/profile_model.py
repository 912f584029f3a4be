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
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from loguru import logger
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
for sub in ("Wan2.1", "HunyuanVideo", ""):
    sys.path.insert(0, str(REPO / sub))

from delta_cache.masks import MASK_SOURCES, check_mask_grid  # noqa: E402
from delta_cache.r_attn import DEFAULT_VALUES, THRESHOLDS  # noqa: E402
from delta_cache.selection import max_speedup  # noqa: E402
from evaluation.targets import (  # noqa: E402
    HunyuanTarget,
    WanTarget,
    model_family,
    model_parser,
    read_prompt_file,
    validate_model_args,
)
from scenes import training_combos  # noqa: E402
from usp import finite_float  # noqa: E402

STATS_VERSION = 2  # 2: ā kept in fp32


# ---------------------------------------------------------------------------------------------------
# Arguments


def build_parser(family: str) -> argparse.ArgumentParser:
    p = model_parser(family, "Profile the model's attention and write the delta_cache preset it reveals.")
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
    return p


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    family, argv = model_family(argv, "profile_model.py")
    p = build_parser(family)
    return validate_model_args(p, p.parse_args(argv), family), p


def validate_profile(p: argparse.ArgumentParser, args: argparse.Namespace, target) -> None:
    """Every profiler check, before any model loads (p.error: one line, exit 2, nothing written)."""
    if args.mask is None:
        args.mask = "scene" if target.tiny else "motion"
    if args.mask == "scene" and not target.tiny:
        p.error(
            "--mask scene needs a tiny trained model (t2v-tiny, HYVideo-tiny: its scenes have ground truth); "
            "use motion or file"
        )
    if args.mask == "file":
        if args.mask_file is None:
            p.error("--mask file needs --mask_file PATH (.npy/.npz of [F, H, W] or [P, F, H, W])")
    elif args.mask_file is not None:
        p.error(f"--mask_file is only read with --mask file (got --mask {args.mask})")
    if not 0 < args.mask_area <= 1:
        p.error(f"--mask_area must be in (0, 1], got {args.mask_area}")
    if args.prompts is not None:
        args.prompt_list = read_prompt_file(p, args)
        if args.mask == "scene":
            p.error("--mask scene draws its prompts from the scenes' training split; use --num_prompts")
        args.scenes = None
    else:
        n = 4 if args.num_prompts is None else args.num_prompts
        if target.tiny:
            pool = training_combos()
            if not 1 <= n <= len(pool):
                p.error(f"--num_prompts must be in 1..{len(pool)}, got {n}")
            args.scenes = [pool[i] for i in np.random.default_rng(2).permutation(len(pool))[:n]]
            args.prompt_list = [s.prompt for s in args.scenes]
        else:
            if n != 1 and args.num_prompts is not None:
                p.error("--num_prompts N needs the tiny model's scenes; give --prompts FILE for this model")
            args.prompt_list, args.scenes = [args.prompt], None
    if args.mask == "file":
        from delta_cache.masks import load_mask_file

        try:  # masks are small: read and check them whole, before any model
            args.mask_files = load_mask_file(args.mask_file, len(args.prompt_list))  # kept for collect()
            check_mask_grid(args.mask_files.shape, target.grid, "--mask_file")
        except ValueError as err:
            p.error(str(err).replace("--mask_file:", f"--mask_file {args.mask_file}:"))
    if args.queries != "auto" and args.queries != "all":
        if not args.queries.isdigit() or int(args.queries) < 1:
            p.error(f"--queries must be all, auto or a positive count, got {args.queries!r}")
    tokens = int(np.prod(target.grid))
    args.query_count = (
        None
        if args.queries == "all" or (args.queries == "auto" and tokens <= 4096)
        else (1024 if args.queries == "auto" else int(args.queries))
    )
    if args.tau != "otsu":
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

        args.rule = RAttnRule(threshold=args.threshold, value=args.threshold_value, from_step=args.from_step)
    except ValueError as err:
        p.error(str(err))
    total = target.steps * sum(target.depths.values()) * (2 if target.family == "wan" else 1)
    if args.target_speedup is not None and args.block_budget is not None:
        p.error("give --target_speedup or --block_budget, not both")
    if args.block_budget is not None:
        if not 0 < args.block_budget <= total:
            p.error(f"--block_budget must be in 1..{total} (block evaluations of a full-compute generation)")
        args.target_speedup = total / args.block_budget
    if args.target_speedup is None:
        # the tiny models' built-in presets: Wan's 204 of 400 block evaluations; HunyuanVideo's the release's
        args.target_speedup = (400 / 204 if target.family == "wan" else 3000 / 1632) if target.tiny else 2.0
    bound = max_speedup(target.depths, target.steps, warmup=args.warmup or 1)
    if not 1 < args.target_speedup <= bound:
        p.error(
            f"--target_speedup {args.target_speedup:.3g} cannot be reached: {target.steps} steps allow at most "
            f"{bound:.2f}x (every block cached, one refresh); give a target in (1, {bound:.2f}]"
        )
    if args.warmup is not None and not 1 <= args.warmup < target.steps - 1:
        p.error(f"--warmup must be in 1..{target.steps - 2}, got {args.warmup}")
    if args.out is None:
        name = target.identity().get("task") or target.cfg.name.replace("/", "-")
        args.out = REPO / "outputs" / "profile" / f"{target.family}-{name}.json"
    if args.out.suffix != ".json":
        p.error(f"--out must end with .json, got {args.out}")
    if args.out.exists() and not args.overwrite:
        p.error(f"--out {args.out} exists; pass --overwrite to replace it or choose another name")
    from usp import unwritable_reason

    for d in (args.out.parent, args.figures or args.out.parent, args.stats_dir):
        existing = next(q for q in (d, *d.parents) if q.exists())  # created later, where it can be
        reason = unwritable_reason(existing) if existing.is_dir() else f"{existing} is not a directory"
        if reason:
            p.error(f"cannot write the profile to {d}: {reason}")
    if args.figures is None:
        args.figures = args.out.with_name(args.out.stem + "_figures")


# ---------------------------------------------------------------------------------------------------
# Statistics (cached)


def stats_key(args: argparse.Namespace, target) -> str:
    what = {
        "version": STATS_VERSION,
        "identity": target.identity(),
        "prompts": args.prompt_list,
        "seed": args.base_seed if target.family == "wan" else args.seed,
        "mask": args.mask,
        "mask_file": str(args.mask_file) if args.mask_file else None,
        "mask_area": args.mask_area,  # the masks are pooled to tokens when measured
        "queries": args.query_count,
        "sensitivity": args.sensitivity,
        "warmup": args.warmup,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def collect(args: argparse.Namespace, target, group=None) -> dict:
    """Run the model: ā, masks, step statistic and latents per prompt (the expensive part)."""
    from delta_cache.masks import motion_mask, sam2_mask, to_token_grid
    from delta_cache.profiler import AttentionProfiler

    seed0 = max(0, (args.base_seed if target.family == "wan" else args.seed) or 0)
    files = args.mask_files if args.mask == "file" else None  # read and checked by validate_profile
    out: dict = {"prompts": [], "grid": list(target.grid)}
    profiler = AttentionProfiler(
        target.model,
        target.spec,
        target.grid,
        queries=args.query_count,
        seed=0,
        group=group,
        token_order=target.token_order,
    )
    try:
        for i, prompt in enumerate(tqdm(args.prompt_list, desc="profile", unit="prompt", disable=not args.main_rank)):
            seed = seed0 + i
            latent = target.generate(prompt, seed, cache=profiler)
            generated = profiler.finish()
            entry = {"prompt": prompt, "seed": seed, "latent": latent, "drift": generated.drift}
            if args.mask == "scene":
                pixel_mask, entry["frames"] = target.teacher_forced(args.scenes[i], seed, profiler)
                entry["scores"] = profiler.finish().scores
                entry["mask"] = to_token_grid(pixel_mask, target.grid, args.mask_area)
                entry["motion_iou"] = motion_ious(target, entry["mask"], target.true_latent, latent, args.mask_area)
            else:
                entry["scores"] = generated.scores
                if args.mask == "motion":
                    entry["mask"] = to_token_grid(motion_mask(latent), target.grid, args.mask_area)
                elif args.mask == "file":
                    entry["mask"] = to_token_grid(torch.from_numpy(files[i]), target.grid, args.mask_area)
                else:
                    from delta_cache.masks import pca3

                    rgb = pca3(latent)
                    rgb = ((rgb - rgb.amin()) / (rgb.amax() - rgb.amin() + 1e-8)).permute(1, 2, 3, 0).numpy()
                    m = sam2_mask(rgb, args.sam2_checkpoint, args.sam2_config)
                    entry["mask"] = to_token_grid(m, target.grid, args.mask_area)
            out["prompts"].append(entry)
        if not any(e["mask"].any() for e in out["prompts"]):  # R_attn would be undefined (no foreground)
            raise ValueError(
                f"the {args.mask} masks cover no token at --mask_area {args.mask_area} on the "
                f"{'x'.join(map(str, target.grid))} token grid; give a smaller --mask_area"
            )
    finally:
        profiler.remove()
    return out


def motion_ious(target, truth: torch.Tensor, true_latent: torch.Tensor, generated: torch.Tensor, area: float) -> dict:
    """IoU of the `motion` rule's variants against the ground truth (true clip), and on the generated clip
    against the scene metric's pixel foreground (frames farther than 0.25 from their temporal median)."""
    from delta_cache.masks import iou, motion_mask, to_token_grid
    from scenes.metrics import foreground_masks

    out = {}
    for reduce in ("pca", "none"):
        for standardise in (False, True):
            m = to_token_grid(motion_mask(true_latent, reduce, standardise), target.grid, area)
            out[f"true/{reduce}/{'standardised' if standardise else 'raw'}"] = iou(m, truth)
    pixel = torch.from_numpy(foreground_masks(target.decode(generated))[0])
    out["generated/none/standardised"] = iou(
        to_token_grid(motion_mask(generated), target.grid, area), to_token_grid(pixel, target.grid, area)
    )
    return out


class FullCompute:
    """The profiled prompts' full-compute results, and the error of a cache config against them."""

    def __init__(self, target, stats: dict, progress: bool = True):
        self.target, self.prompts, self.progress = target, stats["prompts"], progress
        self.latents = [e["latent"] for e in self.prompts]
        self.frames = [target.decode(z) for z in self.latents]

    def error(self, config) -> tuple[float, float]:
        """(decoded PSNR, latent relative L2), means over the prompts, of generating with `config`."""
        from delta_cache import apply_cache
        from scenes.metrics import psnr

        t = self.target
        rel, ps = [], []
        with apply_cache(t.model, t.spec, config, t.steps) as handle:
            for e, z_full, f_full in zip(self.prompts, self.latents, self.frames, strict=True):
                z = t.generate(e["prompt"], e["seed"], cache=handle)
                rel.append(float((z - z_full).norm() / z_full.norm()))
                ps.append(psnr(t.decode(z), f_full))
        return float(np.mean(ps)), float(np.mean(rel))


def measure_sensitivity(full: FullCompute, warmup: int, refreshes: int, drift: np.ndarray, units) -> list:
    """Error of caching each unit (a block or a run of blocks of one stack) alone, against full compute."""
    from delta_cache import CacheConfig, StackSchedule
    from delta_cache.selection import equal_drift_refreshes

    steps = equal_drift_refreshes(drift, warmup, refreshes)
    rows = []
    for stack, blocks in tqdm(units, desc="sensitivity", unit="unit", disable=not full.progress):
        sched = StackSchedule(cached=tuple(blocks), warmup=warmup, refresh_steps=steps, for_steps=full.target.steps)
        ps, rel = full.error(CacheConfig(name="probe", stacks={stack: sched}))
        rows.append({"stack": stack, "blocks": list(blocks), "latent_rel_l2": rel, "psnr": ps})
    return rows


def load_or_collect(args, target) -> tuple[dict, Path]:
    path = args.stats_dir / f"{target.family}-{stats_key(args, target)}.pt"
    if path.is_file():
        logger.info(f"statistics from {path} (delete it, or change an input, to measure again)")
        return torch.load(path, weights_only=False), path
    return {}, path


def save_stats(stats: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    torch.save(stats, tmp)
    tmp.replace(path)


def summarise(args, target, stats: dict) -> dict:
    """R_attn per stack (pooled) and as [steps, blocks] tables, the step statistic, the warm-up."""
    from delta_cache.r_attn import pool_steps, r_attn

    branches = sorted({b for e in stats["prompts"] for b, _ in e["scores"]})
    drift = {
        b: np.nanmean([e["drift"][b].numpy() for e in stats["prompts"] if b in e["drift"]], axis=0)
        for b in sorted({b for e in stats["prompts"] for b in e["drift"]})
    }
    mean_drift = np.nanmean(np.stack(list(drift.values())), axis=0)
    from delta_cache.selection import choose_warmup

    warmup = args.warmup if args.warmup is not None else choose_warmup(mean_drift)
    from_step = warmup if args.rule.from_step is None else args.rule.from_step
    tables, pooled = {}, {}
    for stack in target.depths:
        per_prompt = []
        for e in stats["prompts"]:
            rows = [r_attn(e["scores"][(b, stack)].float(), e["mask"], args.rule) for b in branches]
            per_prompt.append(torch.stack(rows).nanmean(dim=0))  # [steps, blocks], branches pooled
        table = torch.stack(per_prompt).nanmean(dim=0)
        tables[stack] = table.numpy()
        pooled[stack] = torch.stack([pool_steps(t, from_step) for t in per_prompt]).nanmean(dim=0).numpy()
    return {
        "drift": drift,
        "mean_drift": mean_drift,
        "warmup": warmup,
        "from_step": from_step,
        "tables": tables,
        "r": pooled,
    }


def validate_candidates(full: FullCompute, cands: list, config_of) -> list[tuple[float, float, object]]:
    """(decoded PSNR, latent rel. L2, candidate) of each candidate against full compute on the profiled prompts."""
    bar = tqdm(cands, desc="validate", unit="candidate", disable=not full.progress)
    return [(*full.error(config_of(c)), c) for c in bar]


def write_figures(figs: Path, target, stats: dict, s: dict, chosen, background: dict, rows, frame) -> None:
    """The R_attn heatmap, the step curve, the sensitivity bars and ā over a frame of the first prompt."""
    from delta_cache.figures import attention_overlay, r_attn_heatmap, sensitivity_bars, step_curve

    figs.mkdir(parents=True, exist_ok=True)
    r_attn_heatmap(s["tables"], figs / "r_attn.png", background)
    step_curve(s["drift"], chosen.schedule.refresh_steps, s["warmup"], figs / "step_statistic.png")
    if rows:
        sensitivity_bars(rows, background, figs / "sensitivity.png")
    first = stats["prompts"][0]
    stack = next(iter(target.depths))
    r = s["r"][stack]
    branch = sorted({b for b, _ in first["scores"]})[0]
    abar = first["scores"][(branch, stack)][s["from_step"] :].float().mean(dim=0)  # [blocks, f, h, w]
    hi, lo = int(np.nanargmax(r)), int(np.nanargmin(r))
    titles = (f"{stack}[{hi}] (foreground-focused)", f"{stack}[{lo}] (background-focused)")
    attention_overlay(abar[hi], abar[lo], first["mask"], frame, titles, figs / "attention_overlay.png")


def main(argv: list[str] | None = None) -> int:
    args, p = parse(argv)
    target = WanTarget(args) if args.family == "wan" else HunyuanTarget(args)
    validate_profile(p, args, target)

    import tempfile

    from usp import init_sequence_parallel, quiet_other_ranks, rank_device, run_on_group, world_from_env

    world = world_from_env()[2]
    quiet_other_ranks()
    device = rank_device(args.device)
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        target.prepare(tmp)
        group = init_sequence_parallel(*target.sp_degrees, device) if world > 1 else None
        args.main_rank = group is None or group.rank == 0
        return run_on_group(lambda: _run(args, target, device, group), group, (ValueError, FileNotFoundError))


def _run(args: argparse.Namespace, target, device: torch.device, group) -> int:
    """Every rank computes (the statistics are reduced over the group, identical everywhere); rank 0 writes."""
    from delta_cache import CacheConfig, StackSchedule, save_preset
    from delta_cache.r_attn import split_blocks
    from delta_cache.schedule import runs_of
    from delta_cache.selection import block_order, candidates, reference_refreshes

    t_start = time.perf_counter()
    stats, stats_path = load_or_collect(args, target)
    measured = args.sensitivity == "none" or "sensitivity" in stats
    needs_model = not stats or not measured or args.validate > 0
    if needs_model:
        target.load(device, group)
    if not stats:
        stats = collect(args, target, group)
        stats["profile_seconds"] = time.perf_counter() - t_start
        if args.main_rank:
            save_stats(stats, stats_path)
    s = summarise(args, target, stats)
    tau = args.tau if args.tau == "otsu" else float(args.tau)
    split = {stack: split_blocks(torch.from_numpy(s["r"][stack]), tau) for stack in target.depths}
    background = {stack: v[1] for stack, v in split.items()}
    for stack, (t, bg, fg) in split.items():
        logger.info(f"{stack}: tau {t:.3f}; background (cached first) {list(bg)}; foreground {list(fg)}")

    k_ref = reference_refreshes(target.steps, s["warmup"])
    full = None  # decoded once, when something is measured against it
    if "sensitivity" not in stats and args.sensitivity != "none":
        t0 = time.perf_counter()
        units = [(st, (i,)) for st, n in target.depths.items() for i in range(n)]
        if args.sensitivity == "runs":
            runs = [(st, a, b) for st in target.depths for a, b in runs_of(background[st]) if b > a]
            units += [(st, tuple(range(a, b + 1))) for st, a, b in runs]
        full = full or FullCompute(target, stats, args.main_rank)
        stats["sensitivity"] = measure_sensitivity(full, s["warmup"], k_ref, s["mean_drift"], units)
        stats["sensitivity_seconds"] = time.perf_counter() - t0
        if args.main_rank:
            save_stats(stats, stats_path)
    rows = stats.get("sensitivity")
    error = None
    if rows:
        error = {st: np.zeros(n) for st, n in target.depths.items()}
        for r in rows:
            if len(r["blocks"]) == 1:
                error[r["stack"]][r["blocks"][0]] = r["latent_rel_l2"]
    order = block_order(background, s["r"], error)
    cands = candidates(
        target.depths, target.steps, s["mean_drift"], order, args.target_speedup, error, s["warmup"], k_ref
    )
    if not cands:
        logger.error(f"no selection reaches {args.target_speedup:.2f}x with a {s['warmup']}-step warm-up")
        return 1

    def config_of(c) -> CacheConfig:
        return CacheConfig(
            name=args.out.stem,
            stacks={
                st: StackSchedule(
                    cached=blocks,
                    warmup=c.schedule.warmup,
                    refresh_steps=c.schedule.refresh_steps,
                    for_steps=target.steps,
                )
                for st, blocks in c.cached.items()
                if blocks
            },
        )

    validated = []
    if args.validate:
        full = full or FullCompute(target, stats, args.main_rank)
        validated = validate_candidates(full, cands[: args.validate], config_of)
    chosen = max(validated, key=lambda v: v[0])[2] if validated else cands[0]
    config = config_of(chosen)

    summary = {
        "target_speedup": args.target_speedup,
        "theoretical_speedup": chosen.speedup,
        "warmup": s["warmup"],
        "refresh_steps": list(chosen.schedule.refresh_steps),
        "cached": {k: list(v) for k, v in chosen.cached.items()},
        "uses_foreground_blocks": chosen.uses_foreground,
        "tau": {st: v[0] for st, v in split.items()},
        "background": {st: list(v[1]) for st, v in split.items()},
        "foreground": {st: list(v[2]) for st, v in split.items()},
        "r_attn": {st: [round(float(x), 4) for x in v] for st, v in s["r"].items()},
        "rule": {"threshold": args.rule.threshold, "value": args.rule.v, "from_step": s["from_step"]},
        "mask": args.mask,
        "mask_area": args.mask_area,
        "queries": args.query_count or "all",
        "sensitivity": rows,
        "validated": [
            {
                "cached": {k: list(v) for k, v in c.cached.items()},
                "refreshes": len(c.schedule.refresh_steps),
                "speedup": c.speedup,
                "predicted": c.predicted_error,
                "psnr": ps,
                "latent_rel_l2": rel,
            }
            for ps, rel, c in validated
        ],
        "motion_iou": {
            k: float(np.mean([e["motion_iou"][k] for e in stats["prompts"]]))
            for k in (stats["prompts"][0].get("motion_iou") or {})
        },
        "profile_seconds": stats.get("profile_seconds"),
        "sensitivity_seconds": stats.get("sensitivity_seconds"),
    }
    provenance = {
        **target.identity(),
        "prompts": args.prompt_list,
        "profiled_by": "scripts/profile_model.py",
        "statistics": summary,
    }

    if not args.main_rank:
        return 0
    frame = stats["prompts"][0].get("frames")  # the true rendering the scene masks belong to
    if frame is None and needs_model:
        frame = target.decode(stats["prompts"][0]["latent"])
    write_figures(args.figures, target, stats, s, chosen, background, rows, frame)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_preset(args.out, config, target.depths, provenance)  # last: no preset without its figures
    (args.figures / "summary.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    print(
        f"cached {summary['cached']} | warm-up {s['warmup']}, refreshes {summary['refresh_steps']} | "
        f"theoretical {chosen.speedup:.2f}x (target {args.target_speedup:.2f}x)"
    )
    print(f"wrote {args.out} and {args.figures}/; use it: --delta_cache --cache_preset {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
