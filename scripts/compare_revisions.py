"""Does a change keep behaviour? Run the same commands on another revision and on this tree, compare the outputs.

    python scripts/compare_revisions.py --base main~3          # every check, about 6 minutes on 2 CPU cores
    python scripts/compare_revisions.py --base HEAD --only generate,sample_video

The base revision is checked out with `git worktree` into a temporary folder; each check runs there and here
with the same arguments, on the shipped tiny models, two prompts each:
    generate       generate.py: full compute, --delta_cache, --cache_method teacache and easycache
    sample_video   sample_video.py: the same four
    profile        the profiler on one prompt, no sensitivity (scripts/profile_model.py, or the older
                   scripts/profile.py where the base has that name)
    reproduce      reproduce.py: full, ours, teacache-fast, fg-reuse on two held-out prompts
Videos must be equal byte for byte (mp4 and the harness's decoded frames), JSON files equal field by field except
the wall-clock ones (`*_seconds`, `latency_s`, `end_to_end_s`, `seconds`) and the paths of the run's own
folders. Prints one line per file that differs and exits 1 if any does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPTS = (
    "a red circle moving left over a gray plain background",
    "a blue square moving up over a brown dotted background",
)
CHECKS = ("generate", "sample_video", "profile", "reproduce")
CLOCK_KEYS = ("latency_s", "end_to_end_s", "seconds")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{6}_")


def commands(tree: Path, out: Path) -> dict[str, list[list[str]]]:
    """The commands of every check, for the tree at `tree`, writing under `out`."""
    py = sys.executable
    gen, hy = str(tree / "Wan2.1" / "generate.py"), str(tree / "HunyuanVideo" / "sample_video.py")
    profile = tree / "scripts" / "profile_model.py"
    profile = profile if profile.is_file() else tree / "scripts" / "profile.py"
    variants = {"full": [], "delta": ["--delta_cache"]}
    variants |= {m: ["--delta_cache", "--cache_method", m] for m in ("teacache", "easycache")}
    out_gen = [
        [py, gen, "--prompt", p, "--base_seed", str(i), "--save_file", str(out / f"wan_{v}_{i}.mp4"), *flags]
        for v, flags in variants.items()
        for i, p in enumerate(PROMPTS)
    ]
    out_hy = [
        [py, hy, "--prompt", p, "--seed", str(i), "--save-path", str(out / f"hy_{v}_{i}"), *flags]
        for v, flags in variants.items()
        for i, p in enumerate(PROMPTS)
    ]
    out_profile = [  # its statistics cache is kept out of the compared folder: a cache, not an output
        [py, str(profile), "--num_prompts", "1", "--sensitivity", "none", "--validate", "0"]
        + ["--out", str(out / "profile" / "preset.json"), "--stats_dir", str(out.parent / f"{out.name}_stats")]
    ]
    methods = "full,ours,teacache-fast,fg-reuse"
    out_reproduce = [
        [py, str(tree / "scripts" / "reproduce.py"), "--num_prompts", "2", "--methods", methods]
        + ["--skip_metrics", "lpips,fid,vbench", "--out", str(out / "reproduce")]
    ]
    return {"generate": out_gen, "sample_video": out_hy, "profile": out_profile, "reproduce": out_reproduce}


def run_checks(tree: Path, out: Path, only: tuple[str, ...]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(tree / d) for d in ("Wan2.1", "HunyuanVideo", ""))}
    for check, cmds in commands(tree, out).items():
        if check not in only:
            continue
        for cmd in cmds:
            res = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"compare_revisions.py: {check} failed in {tree}:\n{res.stderr[-3000:]}")
    for video in out.glob("hy_*/*"):  # sample_video.py names its files after the clock: drop the stamp
        video.rename(video.with_name(STAMP.sub("", video.name)))


def _masked(data, roots: tuple[str, ...]):
    """JSON content without wall-clock values, and with the two trees' own folders written alike."""
    if isinstance(data, dict):
        return {k: _masked(v, roots) for k, v in data.items() if not (k.endswith("_seconds") or k in CLOCK_KEYS)}
    if isinstance(data, list):
        return [_masked(v, roots) for v in data]
    if isinstance(data, str):
        for root in sorted(roots, key=len, reverse=True):  # a run folder may lie inside the repository
            data = data.replace(root, "<tree>")
    return data


def differences(base: Path, here: Path, roots: tuple[str, ...]) -> list[str]:
    """One line per file that is missing on one side or differs in content."""
    names = {p.relative_to(base) for p in base.rglob("*") if p.is_file()}
    names |= {p.relative_to(here) for p in here.rglob("*") if p.is_file()}
    out = []
    for name in sorted(names):
        a, b = base / name, here / name
        if not a.is_file() or not b.is_file():
            out.append(f"{name}: only in {'this tree' if b.is_file() else 'the base'}")
        elif name.suffix == ".json" or name.suffix == ".jsonl":
            lines_a, lines_b = a.read_text().splitlines(), b.read_text().splitlines()
            if name.suffix == ".json":
                lines_a, lines_b = [a.read_text()], [b.read_text()]
            ja = [_masked(json.loads(t), roots) for t in lines_a if t.strip()]
            jb = [_masked(json.loads(t), roots) for t in lines_b if t.strip()]
            if ja != jb:
                out.append(f"{name}: JSON content differs")
        elif name.suffix in (".md", ".log", ".png"):
            continue  # tables carry latencies, figures their rendering: their numbers are in the JSON above
        elif a.read_bytes() != b.read_bytes():
            out.append(f"{name}: bytes differ")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Compare this tree's outputs with another revision's.")
    p.add_argument("--base", required=True, help="git revision to compare with (e.g. main~1)")
    p.add_argument("--only", default=",".join(CHECKS), help=f"comma-separated subset of {', '.join(CHECKS)}")
    p.add_argument("--keep", type=Path, default=None, help="keep both trees' outputs in this folder")
    args = p.parse_args(argv)
    only = tuple(c for c in args.only.split(",") if c)
    unknown = sorted(set(only) - set(CHECKS))
    if unknown:
        p.error(f"--only: unknown check {', '.join(unknown)}; accepted: {', '.join(CHECKS)}")
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", args.base], capture_output=True, text=True)
    if rev.returncode != 0:
        p.error(f"--base {args.base!r} is not a revision of this repository")
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        work = args.keep or Path(tmp)
        tree = Path(tmp) / "base-tree"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev.stdout.strip()],
            check=True,
            capture_output=True,
        )
        try:
            run_checks(tree, work / "base", only)
            run_checks(REPO, work / "here", only)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
        found = differences(
            work / "base", work / "here", (str(tree), str(REPO), str(work / "base"), str(work / "here"))
        )
    for line in found:
        print(line)
    print(f"{len(found)} file(s) differ between {args.base} and this tree" if found else "outputs identical")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
