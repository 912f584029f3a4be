"""Reproduce the paper's tables: every method's videos against full compute, scored the paper's way.

    python scripts/reproduce.py --methods full,ours --num_prompts 2 --out RUN        # shipped t2v-tiny
    python scripts/reproduce.py --methods full,ours,fg-reuse,stepwise,step-inverse,step-average --out RUN
    python scripts/reproduce.py --model hunyuanvideo --methods full,ours --out RUN   # HYVideo-debug (a path check)
    python scripts/reproduce.py ... --dry_run                                         # what would run
    python scripts/reproduce.py --via diffusers --methods full,ours,diffusers-fbcache,cachedit-dbcache --out RUN

Every flag of generate.py / sample_video.py (model, checkpoint, size, frames, steps, sampler) applies; the seed
of prompt i is `--base_seed` (Wan) / `--seed` (HunyuanVideo) + i (default 0 + i), or the base seed for every
prompt with `--fixed_seed` (the paper's protocol: 42). Methods: evaluation/methods.py.
A rerun into the same RUN folder reuses every video already there that was made for the same prompt, seed and
method configuration (a preset file's content, not its name); it regenerates the others. Outputs:
evaluation/harness.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for sub in ("Wan2.1", "HunyuanVideo", ""):
    sys.path.insert(0, str(REPO / sub))

from evaluation.methods import METHODS, ModelContext, label, parse_methods  # noqa: E402
from evaluation.targets import model_parser, read_prompt_file, select_target  # noqa: E402


def build_parser(cls) -> argparse.ArgumentParser:
    p = model_parser(cls, "Generate and score every method against full compute (the paper's tables).")
    g = p.add_argument_group("reproduce")
    g.add_argument(
        "--methods",
        default="full,ours",
        help=f"comma-separated: {', '.join(METHODS)}; ours:PATH.json; a peer with settings: fbcache:threshold=0.1",
    )
    g.add_argument("--prompts", type=Path, default=None, help="text file, one prompt per line")
    g.add_argument("--num_prompts", type=int, default=None, help="N prompts (tiny: the held-out split; default 64)")
    g.add_argument("--out", type=Path, required=True, help="run folder (created; reused by a rerun)")
    g.add_argument("--fixed_seed", action="store_true", help="every prompt at the base seed (the paper: 42 for all)")
    g.add_argument("--dry_run", action="store_true", help="list what would be generated and exit")
    g.add_argument(
        "--via",
        choices=("ours", "diffusers"),
        default="ours",
        help="the pipeline every method runs on: our stack, or its diffusers conversion (the libraries' methods)",
    )
    g.add_argument(
        "--pipeline_dir",
        type=Path,
        default=None,
        help="--via diffusers: the converted folder (default outputs/diffusers/<model>, converted on first use)",
    )
    g.add_argument(
        "--skip_metrics", default="", help="comma-separated optional metrics not to compute: lpips, fid, vbench"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    cls, argv = select_target(argv, "reproduce.py")
    p = build_parser(cls)
    target = cls(cls.validate(p, p.parse_args(argv)))
    args = target.args
    try:
        methods = parse_methods(args.methods)
    except ValueError as err:
        p.error(str(err))
    skip = tuple(m for m in args.skip_metrics.split(",") if m)
    from evaluation.harness import OPTIONAL

    unknown = sorted(set(skip) - set(OPTIONAL))
    if unknown:
        p.error(f"--skip_metrics: unknown metric {', '.join(unknown)}; accepted: {', '.join(OPTIONAL)}")
    if ("full", None) not in methods:
        methods.insert(0, ("full", None))  # the reference is always generated

    scenes = None
    if args.prompts is not None:
        prompts = read_prompt_file(p, args)
    elif target.tiny:
        from scenes import held_out_combos

        n = 64 if args.num_prompts is None else args.num_prompts
        if not 1 <= n <= 64:
            p.error(f"--num_prompts must be in 1..64 (the held-out split), got {n}")
        scenes = held_out_combos()[:n]
        prompts = [s.prompt for s in scenes]
    else:
        if args.num_prompts not in (None, 1):
            p.error("--num_prompts N needs the tiny model's scenes; give --prompts FILE for this model")
        prompts = [args.prompt]

    from evaluation.libraries import LIBRARY_METHODS, missing_library
    from usp import unwritable_reason

    for name, _ in [m for m in methods if m[0] in LIBRARY_METHODS]:
        if args.via != "diffusers":
            p.error(f"method {name} is a library's cache on a diffusers pipeline: add --via diffusers")
        why = missing_library(name)
        if why:  # an optional library: its rows are left out, said in one line
            print(f"skipped {why}")
            methods = [m for m in methods if m[0] != name]
    preset = _model_preset(target)
    ctx = ModelContext(depths=target.depths, num_steps=target.steps, preset=preset, peers=target.peer_constants)
    configs = []
    for name, arg in methods:
        try:
            configs.append((label(name, arg), METHODS[name].build(ctx, arg)))
        except ValueError as err:
            p.error(str(err))
    if args.via == "diffusers":  # the same model, prompts and seeds, every method on diffusers' pipeline
        from delta_cache.diffusers.target import DiffusersTarget

        try:
            target = DiffusersTarget.of(
                target, args.pipeline_dir or REPO / "outputs" / "diffusers" / target.profile_name()
            )
        except ValueError as err:
            p.error(str(err))
    reason = unwritable_reason(args.out)
    if reason:
        p.error(f"--out {args.out}: {reason}")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out {args.out} exists and is not a directory")
    _check_run_matches(p, args, target)

    from evaluation.harness import (
        Job,
        OptionalMetrics,
        generate_all,
        score,
        summarise,
        write_pareto,
        write_results,
        write_tables,
    )

    seed0 = max(0, target.seed or 0)
    seed_of = (lambda i: seed0) if args.fixed_seed else (lambda i: seed0 + i)
    jobs = [Job(m, c, i, prompt, seed_of(i)) for m, c in configs for i, prompt in enumerate(prompts)]
    todo = [j for j in jobs if not j.done(args.out)]
    if args.dry_run:
        for j in jobs:
            state = "to generate" if j in todo else "done"
            print(f"{j.method:<16} prompt {j.index:>3} seed {j.seed:<6} {state}: {j.prompt[:60]}")
        print(f"{len(todo)} of {len(jobs)} videos to generate into {args.out}")
        return 0

    import tempfile

    from usp import rank_device

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "run.json").write_text(json.dumps(_run_identity(args, target), indent=1) + "\n")
    with tempfile.TemporaryDirectory(prefix="reproduce-") as tmp:
        if todo:
            target.prepare(tmp)
            target.load(rank_device(args.device), None)
            generate_all(target, jobs, args.out)
    adherence = None
    if scenes is not None:
        from scenes.metrics import adherence as measure

        def adherence(index, frames):
            a = measure(frames.astype("float32") / 255.0, scenes[index])
            return {"colour_ok": a.colour_ok, "direction_ok": a.direction_ok, "background_ok": a.background_ok}

    optional = OptionalMetrics.load(rank_device(args.device), args.out, skip)
    for metric, why in optional.skipped.items():
        print(f"{metric}: skipped, {why}")
    rows = score(jobs, args.out, adherence, optional)
    write_results(rows, args.out)
    summary = summarise(rows, optional)
    seeds = f"seed {seed0}" if args.fixed_seed else f"seeds {seed0}..{seed0 + len(prompts) - 1}"
    header = f"# {target.identity()}\n\n{len(prompts)} prompts, {seeds}"
    write_tables(summary, args.out, header, optional.skipped)
    write_pareto(summary, args.out)
    print((args.out / "tables.md").read_text())
    return 0


def _model_preset(target):
    """The model's built-in preset (what `--delta_cache` alone would use), or None."""
    from delta_cache import resolve_preset

    return resolve_preset(None, target.presets(), target.depths, "this model")


def _run_identity(args, target) -> dict:
    return {"model": target.identity(), "prompts_file": str(args.prompts) if args.prompts else None}


def _check_run_matches(p, args, target) -> None:
    """A rerun must describe the same model and sampler as the videos already in the folder."""
    known = args.out / "run.json"
    if known.is_file():
        before = json.loads(known.read_text())["model"]
        now = json.loads(json.dumps(target.identity()))
        if before != now:
            diff = ", ".join(f"{k}: {before.get(k)} -> {now.get(k)}" for k in now if before.get(k) != now.get(k))
            p.error(f"--out {args.out} holds videos of another setting ({diff}); choose another folder")


if __name__ == "__main__":
    sys.exit(main())
