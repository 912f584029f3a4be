"""The profiling pipeline: a `ProfileConfig` and a loaded `Target` in, a preset file and its figures out.

    profile(target, config, device, group)     # every rank computes; rank 0 writes

Read top-down, `profile` runs the steps in order:
1. statistics (`collect`, the expensive part, stored under `config.stats_dir` keyed by all they depend on): per
   prompt one full-compute generation with every self-attention observed (ā per block and step, the step
   statistic per CFG branch, the final latent), and the foreground mask of the chosen source;
2. `summarise`: R_attn per block, the warm-up from the step statistic;
3. the background/foreground split by τ;
4. `measure_sensitivity`: the error of caching each block (and each run of background blocks) alone;
5. `candidates` for the target speedup, the best few validated against full compute;
6. `measure_adaptive` (unless `config.adaptive` is off): what reusing each step alone costs, and the best plan
   per refresh count, for `adaptive`;
7. the figures, `summary.json`, then the preset file (last: no preset without its figures).

`add_adaptive` runs step 6 alone on an existing preset file (its prompts' full compute generated anew).

`scripts/profile_model.py` only parses and checks the flags into a `ProfileConfig`. docs/profiler.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from loguru import logger
from tqdm import tqdm

from .r_attn import RAttnRule

STATS_VERSION = 2  # 2: ā kept in fp32


@dataclass(frozen=True)
class ProfileConfig:
    """What to profile and how; every field checked by the caller (scripts/profile_model.py's flags)."""

    prompts: tuple[str, ...]
    seed: int | None  # the base seed as given (prompt i: max(0, seed or 0) + i)
    mask: str  # foreground source: scene, motion, file, sam2 (delta_cache.masks.MASK_SOURCES)
    mask_area: float  # share of a token's pixels that makes it foreground
    rule: RAttnRule  # the high-attention rule of R_attn
    tau: float | str  # the R_attn split: "otsu" or a share in (0, 1]
    target_speedup: float  # theoretical speedup to reach
    out: Path  # the preset file
    figures: Path  # the figures' folder
    stats_dir: Path  # where statistics are kept between runs
    scenes: tuple | None = None  # mask "scene": the prompts' scenes (their true renderings are the ground truth)
    mask_file: Path | None = None  # mask "file": the file's name (part of the statistics' key) ...
    masks: np.ndarray | None = None  # ... and its masks [P, F, H, W], read and checked by the caller
    sam2_checkpoint: str | None = None
    sam2_config: str | None = None
    queries: int | None = None  # scored queries per attention (None: all)
    warmup: int | None = None  # None: chosen from the step statistic
    sensitivity: str = "runs"  # runs, blocks or none
    validate: int = 3  # candidates measured against full compute
    adaptive: bool = True  # measure the `adaptive` method's step costs and plans (step 6)
    profiled_by: str = "scripts/profile_model.py"


def profile(target, config: ProfileConfig, device, group=None, main_rank: bool = True) -> int:
    """Profile `target` (prepared, not yet loaded) and write `config.out`; 0, or 1 when no selection reaches the
    target. Every rank computes (statistics are reduced over `group`, identical everywhere); `main_rank` writes."""
    from . import CacheConfig, StackSchedule, save_preset
    from .r_attn import split_blocks
    from .schedule import runs_of
    from .selection import block_order, candidates, reference_refreshes

    t_start = time.perf_counter()
    stats, stats_path = load_stats(config, target)
    measured = config.sensitivity == "none" or "sensitivity" in stats
    needs_model = not stats or not measured or config.validate > 0
    if needs_model:
        target.load(device, group)
    if not stats:
        stats = collect(config, target, group, main_rank)
        stats["profile_seconds"] = time.perf_counter() - t_start
        if main_rank:
            save_stats(stats, stats_path)
    s = summarise(config, target, stats)
    split = {stack: split_blocks(torch.from_numpy(s["r"][stack]), config.tau) for stack in target.depths}
    background = {stack: v[1] for stack, v in split.items()}
    for stack, (t, bg, fg) in split.items():
        logger.info(f"{stack}: tau {t:.3f}; background (cached first) {list(bg)}; foreground {list(fg)}")

    k_ref = reference_refreshes(target.steps, s["warmup"])
    full = None  # decoded once, when something is measured against it
    if "sensitivity" not in stats and config.sensitivity != "none":
        t0 = time.perf_counter()
        units = [(st, (i,)) for st, n in target.depths.items() for i in range(n)]
        if config.sensitivity == "runs":
            runs = [(st, a, b) for st in target.depths for a, b in runs_of(background[st]) if b > a]
            units += [(st, tuple(range(a, b + 1))) for st, a, b in runs]
        full = full or FullCompute(target, stats, main_rank)
        stats["sensitivity"] = measure_sensitivity(full, s["warmup"], k_ref, s["mean_drift"], units)
        stats["sensitivity_seconds"] = time.perf_counter() - t0
        if main_rank:
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
        target.depths, target.steps, s["mean_drift"], order, config.target_speedup, error, s["warmup"], k_ref
    )
    if not cands:
        logger.error(f"no selection reaches {config.target_speedup:.2f}x with a {s['warmup']}-step warm-up")
        return 1

    def config_of(c) -> CacheConfig:
        return CacheConfig(
            name=config.out.stem,
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
    if config.validate:
        full = full or FullCompute(target, stats, main_rank)
        bar = tqdm(cands[: config.validate], desc="validate", unit="candidate", disable=not main_rank)
        validated = [(*full.error(config_of(c)), c) for c in bar]
    chosen = max(validated, key=lambda v: v[0])[2] if validated else cands[0]
    adaptive, validation = None, None
    if config.adaptive:
        full = full or FullCompute(target, stats, main_rank)
        adaptive, validation = measure_adaptive(full, {st: list(b) for st, b in chosen.cached.items()})
    if not main_rank:
        return 0
    summary = summary_of(config, stats, s, split, chosen, validated)
    frame = stats["prompts"][0].get("frames")  # the true rendering the scene masks belong to
    if frame is None and needs_model:
        frame = target.decode(stats["prompts"][0]["latent"])
    write_figures(config.figures, target, stats, s, chosen, background, rows, frame)
    provenance = {
        **target.identity(),
        "prompts": list(config.prompts),
        "profiled_by": config.profiled_by,
        "statistics": summary,
        **({"adaptive": {"validated_plans": validation}} if config.adaptive else {}),
    }
    config.out.parent.mkdir(parents=True, exist_ok=True)
    # last: no preset without its figures
    save_preset(config.out, config_of(chosen), target.depths, provenance, adaptive)
    (config.figures / "summary.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    print(
        f"cached {summary['cached']} | warm-up {s['warmup']}, refreshes {summary['refresh_steps']} | "
        f"theoretical {chosen.speedup:.2f}x (target {config.target_speedup:.2f}x)"
    )
    print(f"wrote {config.out} and {config.figures}/; use it: {target.preset_usage(config.out)}")
    return 0


# ---------------------------------------------------------------------------------------------------
# 1. Statistics (kept between runs)


def stats_key(config: ProfileConfig, target) -> str:
    """A hash of everything the statistics depend on (a rerun with another target speedup, τ or rule reuses them)."""
    what = {
        "version": STATS_VERSION,
        "identity": target.identity(),
        "prompts": list(config.prompts),
        "seed": config.seed,
        "mask": config.mask,
        "mask_file": str(config.mask_file) if config.mask_file else None,
        "mask_area": config.mask_area,  # the masks are pooled to tokens when measured
        "queries": config.queries,
        "sensitivity": config.sensitivity,
        "warmup": config.warmup,
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_stats(config: ProfileConfig, target) -> tuple[dict, Path]:
    """(the stored statistics, or {} when none match), the path they are kept under."""
    path = config.stats_dir / f"{target.name}-{stats_key(config, target)}.pt"
    if path.is_file():
        logger.info(f"statistics from {path} (delete it, or change an input, to measure again)")
        return torch.load(path, weights_only=False), path
    return {}, path


def save_stats(stats: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    torch.save(stats, tmp)
    tmp.replace(path)


def collect(config: ProfileConfig, target, group=None, progress: bool = True) -> dict:
    """Run the model: ā, masks, step statistic and latents per prompt (the expensive part)."""
    from .masks import motion_mask, sam2_mask, to_token_grid
    from .profiler import AttentionProfiler

    seed0 = max(0, config.seed or 0)
    out: dict = {"prompts": [], "grid": list(target.grid)}
    profiler = AttentionProfiler(
        target.model,
        target.spec,
        target.grid,
        queries=config.queries,
        seed=0,
        group=group,
        token_order=target.token_order,
    )
    try:
        for i, prompt in enumerate(tqdm(config.prompts, desc="profile", unit="prompt", disable=not progress)):
            seed = seed0 + i
            latent = target.generate(prompt, seed, cache=profiler)
            generated = profiler.finish()
            entry = {"prompt": prompt, "seed": seed, "latent": latent, "drift": generated.drift}
            if config.mask == "scene":
                pixel_mask, entry["frames"] = target.teacher_forced(config.scenes[i], seed, profiler)
                entry["scores"] = profiler.finish().scores
                entry["mask"] = to_token_grid(pixel_mask, target.grid, config.mask_area)
                entry["motion_iou"] = motion_ious(target, entry["mask"], target.true_latent, latent, config.mask_area)
            else:
                entry["scores"] = generated.scores
                if config.mask == "motion":
                    entry["mask"] = to_token_grid(motion_mask(latent), target.grid, config.mask_area)
                elif config.mask == "file":
                    entry["mask"] = to_token_grid(torch.from_numpy(config.masks[i]), target.grid, config.mask_area)
                else:
                    from .masks import pca3

                    rgb = pca3(latent)
                    rgb = ((rgb - rgb.amin()) / (rgb.amax() - rgb.amin() + 1e-8)).permute(1, 2, 3, 0).numpy()
                    m = sam2_mask(rgb, config.sam2_checkpoint, config.sam2_config)
                    entry["mask"] = to_token_grid(m, target.grid, config.mask_area)
            out["prompts"].append(entry)
        if not any(e["mask"].any() for e in out["prompts"]):  # R_attn would be undefined (no foreground)
            raise ValueError(
                f"the {config.mask} masks cover no token at --mask_area {config.mask_area} on the "
                f"{'x'.join(map(str, target.grid))} token grid; give a smaller --mask_area"
            )
    finally:
        profiler.remove()
    return out


def motion_ious(target, truth: torch.Tensor, true_latent: torch.Tensor, generated: torch.Tensor, area: float) -> dict:
    """IoU of the `motion` rule's variants against the ground truth (true clip), and on the generated clip
    against the scene metric's pixel foreground (frames farther than 0.25 from their temporal median)."""
    from scenes.metrics import foreground_masks

    from .masks import iou, motion_mask, to_token_grid

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


# ---------------------------------------------------------------------------------------------------
# 2. R_attn and the warm-up


def summarise(config: ProfileConfig, target, stats: dict) -> dict:
    """R_attn per stack (pooled) and as [steps, blocks] tables, the step statistic, the warm-up."""
    from .r_attn import pool_steps, r_attn
    from .selection import choose_warmup

    branches = sorted({b for e in stats["prompts"] for b, _ in e["scores"]})
    drift = {
        b: np.nanmean([e["drift"][b].numpy() for e in stats["prompts"] if b in e["drift"]], axis=0)
        for b in sorted({b for e in stats["prompts"] for b in e["drift"]})
    }
    mean_drift = np.nanmean(np.stack(list(drift.values())), axis=0)
    warmup = config.warmup if config.warmup is not None else choose_warmup(mean_drift)
    from_step = warmup if config.rule.from_step is None else config.rule.from_step
    tables, pooled = {}, {}
    for stack in target.depths:
        per_prompt = []
        for e in stats["prompts"]:
            rows = [r_attn(e["scores"][(b, stack)].float(), e["mask"], config.rule) for b in branches]
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


# ---------------------------------------------------------------------------------------------------
# 4-5. Errors against full compute: sensitivity and validation


class FullCompute:
    """The profiled prompts' full-compute results, and the error of a cache config against them."""

    def __init__(self, target, stats: dict, progress: bool = True):
        self.target, self.prompts, self.progress = target, stats["prompts"], progress
        self.latents = [e["latent"] for e in self.prompts]
        self.frames = [target.decode(z) for z in self.latents]

    def error(self, config) -> tuple[float, float]:
        """(decoded PSNR, latent relative L2), means over the prompts, of generating with `config`."""
        from scenes.metrics import psnr

        rel, ps = [], []
        for z, z_full, f_full in self._generated(config):
            rel.append(float((z - z_full).norm() / z_full.norm()))
            ps.append(psnr(self.target.decode(z), f_full))
        return float(np.mean(ps)), float(np.mean(rel))

    def frame_mse(self, config) -> float:
        """The mean squared error of the decoded frames (in [0, 1]) of generating with `config`, over the prompts."""
        return float(np.mean(self.frame_errors(config)))

    def frame_errors(self, config) -> list[float]:
        """Per prompt, the mean squared error of the decoded frames (in [0, 1]) of generating with `config`."""
        errors = []
        for z, _, f_full in self._generated(config):
            frames = self.target.decode(z)
            errors.append(float(np.mean((np.asarray(frames, np.float64) - np.asarray(f_full, np.float64)) ** 2)))
        return errors

    def _generated(self, config):
        """Per prompt, (the final latent with `config` applied, full compute's latent, its decoded frames)."""
        from .handle import apply_cache

        t = self.target
        with apply_cache(t.model, t.spec, config, t.steps) as handle:
            for e, z_full, f_full in zip(self.prompts, self.latents, self.frames, strict=True):
                yield t.generate(e["prompt"], e["seed"], cache=handle), z_full, f_full


def measure_sensitivity(full: FullCompute, warmup: int, refreshes: int, drift: np.ndarray, units) -> list:
    """Error of caching each unit (a block or a run of blocks of one stack) alone, against full compute."""
    from .schedule import CacheConfig, StackSchedule
    from .selection import equal_drift_refreshes

    steps = equal_drift_refreshes(drift, warmup, refreshes)
    rows = []
    for stack, blocks in tqdm(units, desc="sensitivity", unit="unit", disable=not full.progress):
        sched = StackSchedule(cached=tuple(blocks), warmup=warmup, refresh_steps=steps, for_steps=full.target.steps)
        ps, rel = full.error(CacheConfig(name="probe", stacks={stack: sched}))
        rows.append({"stack": stack, "blocks": list(blocks), "latent_rel_l2": rel, "psnr": ps})
    return rows


def measure_step_costs(full: FullCompute, cached: dict[str, list[int]]) -> list[float]:
    """Per step, the mean squared error of the decoded frames when that step alone reuses (forecast from the two
    steps before it) the blocks `cached` (step 0 always computes: 0). The frames, not the latent: on t2v-tiny the
    latent's error overweights the early steps against what the video shows (plans from latent costs scored 1-3
    dB lower on held-out prompts)."""
    from .adaptive import Adaptive

    steps = full.target.steps
    costs = [0.0]
    for s in tqdm(range(1, steps), desc="step costs", unit="step", disable=not full.progress):
        probe = Adaptive(cached=cached, refresh_steps=tuple(t for t in range(steps) if t != s))
        costs.append(full.frame_mse(probe))
    return costs


# the range of speedups a user most likely asks for: every refresh count in it gets a plan validated on the prompts
ADAPTIVE_SPEEDUPS = (1.25, 4.0)


def frames_psnr(errors: list[float]) -> float:
    """The mean over prompts of the frames' PSNR (peak 1): what the harness ranks methods by. The mean MSE would
    let the prompt with the largest error decide alone."""
    return float(np.mean([-10.0 * math.log10(max(e, 1e-20)) for e in errors]))


def measure_adaptive(full: FullCompute, cached: dict[str, list[int]], max_gap: int = 6) -> tuple[dict, dict]:
    """`adaptive`'s section of a preset file (its blocks, the step costs, the validated plan per refresh count)
    and what the validation measured (per count: each candidate plan's frame MSE)."""
    from .adaptive import Adaptive
    from .step_plan import candidate_plans, min_refreshes

    costs = measure_step_costs(full, cached)
    depths = full.target.depths
    ends = []
    for speedup in ADAPTIVE_SPEEDUPS:
        probe = Adaptive(speedup=speedup, step_costs=costs, cached=cached, max_gap=max_gap)
        probe.bind(depths)
        ends.append(max(probe.refresh_count(full.target.steps), min_refreshes(full.target.steps, max_gap)))
    counts = range(min(ends), max(ends) + 1)
    plans, measured = {}, {}
    jobs = [(name, plan) for k in counts for name, plan in candidate_plans(costs, k, max_gap).items()]
    for name, plan in tqdm(jobs, desc="plans", unit="plan", disable=not full.progress):
        errors = full.frame_errors(Adaptive(cached=cached, refresh_steps=plan))
        measured.setdefault(str(len(plan)), {})[name] = {
            "refresh_steps": list(plan),
            "frame_mse": float(np.mean(errors)),
            "psnr": frames_psnr(errors),
        }
    for k, rows in measured.items():
        plans[k] = max(rows.values(), key=lambda r: r["psnr"])["refresh_steps"]
    return {"cached": cached, "step_costs": costs, "plans": plans, "max_gap": max_gap}, measured


def add_adaptive(target, config: ProfileConfig, device, group=None, main_rank: bool = True) -> int:
    """Measure `adaptive`'s step costs for the preset file `config.out` (its cached blocks) and write them into
    it, on `config.prompts` generated at full compute anew."""
    from .preset_file import load_preset, read_preset_dict, write_preset_dict

    preset = load_preset(config.out, target.depths)
    target.load(device, group)
    seed0 = max(0, config.seed or 0)
    prompts = [
        {"prompt": p, "seed": seed0 + i, "latent": target.generate(p, seed0 + i)} for i, p in enumerate(config.prompts)
    ]
    full = FullCompute(target, {"prompts": prompts}, main_rank)
    adaptive, validation = measure_adaptive(full, {st: list(sched.cached) for st, sched in preset.stacks.items()})
    if main_rank:
        data = read_preset_dict(config.out)
        data["adaptive"] = adaptive
        data.setdefault("provenance", {})["adaptive"] = {
            "prompts": list(config.prompts),
            "by": f"{config.profiled_by} --adaptive_only",
            "validated_plans": validation,
        }
        write_preset_dict(config.out, data)
        print(f"wrote the adaptive section of {config.out}; use it: {target.preset_usage(config.out, 'adaptive')}")
    return 0


# ---------------------------------------------------------------------------------------------------
# 7. Outputs


def summary_of(config: ProfileConfig, stats: dict, s: dict, split: dict, chosen, validated: list) -> dict:
    """What the preset's provenance and summary.json record of the run."""
    return {
        "target_speedup": config.target_speedup,
        "theoretical_speedup": chosen.speedup,
        "warmup": s["warmup"],
        "refresh_steps": list(chosen.schedule.refresh_steps),
        "cached": {k: list(v) for k, v in chosen.cached.items()},
        "uses_foreground_blocks": chosen.uses_foreground,
        "tau": {st: v[0] for st, v in split.items()},
        "background": {st: list(v[1]) for st, v in split.items()},
        "foreground": {st: list(v[2]) for st, v in split.items()},
        "r_attn": {st: [round(float(x), 4) for x in v] for st, v in s["r"].items()},
        "rule": {"threshold": config.rule.threshold, "value": config.rule.v, "from_step": s["from_step"]},
        "mask": config.mask,
        "mask_area": config.mask_area,
        "queries": config.queries or "all",
        "sensitivity": stats.get("sensitivity"),
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


def write_figures(figs: Path, target, stats: dict, s: dict, chosen, background: dict, rows, frame) -> None:
    """The R_attn heatmap, the step curve, the sensitivity bars and ā over a frame of the first prompt."""
    from .figures import attention_overlay, r_attn_heatmap, sensitivity_bars, step_curve

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
