"""Generate every (method, prompt, seed) video, score it against full compute, write the rows and the tables.

Run folder layout (resumable: a video whose record holds the job's key is never generated again; the key hashes
the prompt, the seed and the method's whole configuration, a preset file's content rather than its name, so that
a rerun after the prompts or a preset changed regenerates what changed instead of scoring stale videos):

    RUN/videos/<method>/<index>_seed<seed>.mp4     the written video (the paper scored these)
    RUN/videos/<method>/<index>_seed<seed>.npy     its decoded frames, uint8 (the primary metrics' input)
    RUN/videos/<method>/<index>_seed<seed>.json    what the generation measured (latency, block counts, memory)
    RUN/videos/<method>/<index>_seed<seed>.scores.json  its PSNR/SSIM against full compute, kept for reruns
    RUN/results.jsonl                              one row per (method, prompt, seed), scored
    RUN/tables.md, RUN/pareto.png                  the paper's table layout, speedup against PSNR
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from delta_cache.policy import Policy

from .libraries import LIBRARY_METHODS, LibraryMethod, LibraryRun, calibrate_magcache
from .metrics import read_mp4, to_uint8, video_psnr, video_ssim
from .perceptual import PooledGaussian, frechet_distance, video_fid
from .phased import PhasedCache, Phases

OPTIONAL = ("lpips", "fid", "vbench")


@dataclass(frozen=True)
class Job:
    method: str  # the label (folder name)
    config: object  # CacheConfig or None (full)
    index: int
    prompt: str
    seed: int
    # What the video depends on besides the model (the run folder's run.json checks that one); taken when the
    # job is made, before a policy is bound to the model and grows per-model attributes.
    key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        text = json.dumps([self.prompt, self.seed, _fingerprint(self.config)])
        object.__setattr__(self, "key", hashlib.sha256(text.encode()).hexdigest()[:16])

    def stem(self, run: Path) -> Path:
        return run / "videos" / self.method / f"{self.index:03d}_seed{self.seed}"

    def done(self, run: Path) -> bool:
        """Its video and record are in `run`, made for this very prompt, seed and configuration."""
        record = self.stem(run).with_suffix(".json")
        try:
            return json.loads(record.read_text()).get("key") == self.key
        except (OSError, json.JSONDecodeError):
            return False


def _fingerprint(config) -> str:
    """A method's configuration as text: a policy's settings, or a static config's repr (frozen dataclasses of
    tuples, so the repr is the content: block lists and schedules)."""
    if config is None:
        return "full"
    if isinstance(config, Policy):
        return f"{type(config).__name__}:{json.dumps(config.describe(), sort_keys=True, default=repr)}"
    return repr(config)


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to the temporary name
        np.save(f, array)


def generate_all(target, jobs: list[Job], run: Path, progress: bool = True) -> None:
    """Every job's video and record; jobs already recorded are skipped (resume)."""
    import imageio.v3 as iio

    todo = [j for j in jobs if not j.done(run)]
    # MagCache's ratios, calibrated once per run as diffusers documents (on the model's example prompt)
    ratios = functools.cache(lambda: calibrate_magcache(target, target.args.prompt))
    for job in tqdm(todo, desc="videos", unit="video", disable=not progress):
        # a phased method and a library's cache are StepCaches of their own (target.run applies everything
        # else and removes it)
        own = None
        if isinstance(job.config, Phases):
            own = PhasedCache(target.model, target.spec, job.config, target.steps)
        elif isinstance(job.config, LibraryMethod):
            own = LibraryRun(target, job.config, ratios)
        try:
            t0 = time.perf_counter()
            latent, stats = target.run(job.prompt, job.seed, own or job.config)
            frames = to_uint8(target.decode(latent))
            seconds = time.perf_counter() - t0
        finally:
            if own is not None:
                own.remove()
        cached = job.config is not None
        stem = job.stem(run)
        _atomic_write(stem.with_suffix(".npy"), lambda p, f=frames: _save_npy(p, f))
        _atomic_write(stem.with_suffix(".mp4"), lambda p, f=frames: iio.imwrite(p, f, fps=target.fps, extension=".mp4"))
        record = {
            "key": job.key,
            "method": job.method,
            "prompt": job.prompt,
            "index": job.index,
            "seed": job.seed,
            "latency_s": target.denoise_seconds(),
            "end_to_end_s": seconds,
            "theoretical_speedup": stats["theoretical_speedup"],
            "block_evals_computed": stats["block_evals_computed"] if cached else None,
            "cache_bytes_peak": stats["cache_bytes_peak"],
        }
        _atomic_write(stem.with_suffix(".json"), lambda p, r=record: Path(p).write_text(json.dumps(r, indent=1)))


@dataclass
class OptionalMetrics:
    """The metrics that need extra packages and weights: each one a callable, or the reason it is skipped."""

    lpips: object = None  # (reference, video) uint8 frames -> float
    features: object = None  # frames -> [F, D] FID features
    vbench: object = None  # (method, mp4 paths) -> {dimension: score, 'vbench': mean}
    skipped: dict = field(default_factory=dict)  # metric -> why it is not computed
    pooled_fid: dict = field(default_factory=dict)  # method -> FID over every frame of every prompt
    vbench_scores: dict = field(default_factory=dict)  # method -> VBench dimensions

    @classmethod
    def load(cls, device, run: Path, skip: tuple[str, ...] = ()) -> OptionalMetrics:
        from .perceptual import load_optional
        from .vbench_score import load_vbench

        out = cls()
        for name in OPTIONAL:
            if name in skip:
                out.skipped[name] = "--skip_metrics"
                continue
            metric, reason = load_vbench(device, run) if name == "vbench" else load_optional(name, device)
            setattr(out, "features" if name == "fid" else name, metric)
            if reason:
                out.skipped[name] = reason
        return out


SCORES = ("psnr", "ssim", "psnr_mp4", "ssim_mp4")


def _digest(frames: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()[:16]


def _remembered(path: Path, frames: str, reference: str) -> dict | None:
    """The scores `path` holds for these very frames against this very reference, else None."""
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(memo, dict) or (memo.get("frames"), memo.get("reference")) != (frames, reference):
        return None
    scores = memo.get("scores")
    return scores if isinstance(scores, dict) and set(SCORES) <= set(scores) else None


def score(jobs: list[Job], run: Path, adherence=None, optional: OptionalMetrics | None = None) -> list[dict]:
    """One row per job against the `full` video of its prompt and seed; `adherence(index, frames)` optional.

    PSNR/SSIM on the decoded frames and on the mp4s; LPIPS and FID (when `optional` has them) on the mp4s, the
    paper's way; the pooled FID and VBench per method go into `optional`. The PSNR/SSIM of a video are kept
    beside it (`<stem>.scores.json`, with digests of its frames and of its reference's), so that a rerun that
    adds a method scores only the new videos; a remade video or reference is scored again. LPIPS and FID are
    not kept: the pooled FID needs every video's features.
    """
    optional = optional or OptionalMetrics(skipped={m: "not requested" for m in OPTIONAL})
    perceptual = optional.lpips is not None or optional.features is not None
    rows, references = [], {}
    pools = defaultdict(PooledGaussian)

    def reference(job: Job) -> dict:
        """Its prompt's full-compute frames and their digest; the mp4 (and its features) read when first needed."""
        if (job.index, job.seed) not in references:  # read once per prompt, not once per method
            stem = Job("full", None, job.index, job.prompt, job.seed).stem(run)
            frames = np.load(stem.with_suffix(".npy"))
            references[job.index, job.seed] = {"stem": stem, "frames": frames, "digest": _digest(frames)}
        return references[job.index, job.seed]

    def reference_mp4(ref: dict) -> np.ndarray:
        if "mp4" not in ref:
            ref["mp4"] = read_mp4(ref["stem"].with_suffix(".mp4"))
            if optional.features is not None:
                ref["features"] = optional.features(ref["mp4"])
                pools["full"].add(ref["features"])
        return ref["mp4"]

    for job in jobs:
        stem = job.stem(run)
        row = json.loads(stem.with_suffix(".json").read_text())
        frames = np.load(stem.with_suffix(".npy"))
        row["video"] = str(stem.with_suffix(".mp4").relative_to(run))
        row["lpips"] = row["fid"] = None
        if job.method == "full":
            row.update(psnr=math.inf, ssim=1.0, psnr_mp4=math.inf, ssim_mp4=1.0)
        else:
            ref, digest, memo = reference(job), _digest(frames), stem.with_suffix(".scores.json")
            scores = None if perceptual else _remembered(memo, digest, ref["digest"])
            if scores is None:
                ref_mp4 = reference_mp4(ref)
                mp4 = read_mp4(stem.with_suffix(".mp4"))
                scores = dict(
                    psnr=video_psnr(ref["frames"], frames),
                    ssim=video_ssim(ref["frames"], frames),
                    psnr_mp4=video_psnr(ref_mp4, mp4),
                    ssim_mp4=video_ssim(ref_mp4, mp4),
                )
                text = json.dumps({"frames": digest, "reference": ref["digest"], "scores": scores})
                _atomic_write(memo, lambda p, t=text: Path(p).write_text(t))
                if optional.lpips is not None:
                    row["lpips"] = optional.lpips(ref_mp4, mp4)
                if optional.features is not None:
                    features = optional.features(mp4)
                    row["fid"] = video_fid(ref["features"], features)
                    pools[job.method].add(features)
            row.update(scores)
        if adherence is not None:
            row.update(adherence(job.index, frames))
        rows.append(row)
    if "full" in pools:
        ref_moments = pools.pop("full").moments()
        optional.pooled_fid = {m: frechet_distance(*ref_moments, *pool.moments()) for m, pool in pools.items()}
    if optional.vbench is not None:
        for method in dict.fromkeys(j.method for j in jobs):
            videos = [j.stem(run).with_suffix(".mp4") for j in jobs if j.method == method]
            optional.vbench_scores[method] = optional.vbench(method, videos)
    return rows


def write_results(rows: list[dict], run: Path) -> None:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    _atomic_write(run / "results.jsonl", lambda p: Path(p).write_text(text))


def summarise(rows: list[dict], optional: OptionalMetrics | None = None) -> list[dict]:
    """Means per method, in the order the methods first appear; measured speedup = full latency / latency."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    full = [r["latency_s"] for r in rows if r["method"] == "full"]
    base = float(np.mean(full)) if full else None
    out = []
    for m in methods:
        mine = [r for r in rows if r["method"] == m]

        def mean(key, rows=mine):
            values = [r[key] for r in rows if r.get(key) is not None]
            return float(np.mean(values)) if values else None

        latency = mean("latency_s")
        entry = {
            "method": m,
            "videos": len(mine),
            "psnr": mean("psnr"),
            "ssim": mean("ssim"),
            "psnr_mp4": mean("psnr_mp4"),
            "ssim_mp4": mean("ssim_mp4"),
            "latency_s": latency,
            "speedup": base / latency if base and latency else None,
            "theoretical_speedup": mean("theoretical_speedup"),
            "lpips": mean("lpips"),
            "fid": mean("fid"),
            "fid_pooled": optional.pooled_fid.get(m) if optional else None,
            "vbench": optional.vbench_scores.get(m) if optional else None,
        }
        for key in ("colour_ok", "direction_ok", "background_ok"):
            if any(key in r for r in mine):
                entry[key] = mean(key)
        out.append(entry)
    return out


# The paper's tables: which methods each one compares (a method in none of the ablations goes to the first).
TABLE_GROUPS = (
    ("Table 3: block reuse", ("ours", "fg-reuse", "split", "alternate")),
    ("Table 4: step schedule", ("ours", "stepwise", "step-inverse", "step-average")),
)


def write_tables(summary: list[dict], run: Path, header: str, skipped: dict | None = None) -> None:
    """tables.md: Tables 1-2 (every method against full compute), then Tables 3 and 4 for the methods run.

    `skipped`: optional metric -> why it was not computed (its cells say "skipped", the reason is listed below).
    """
    skipped = dict(skipped) if skipped is not None else {m: "not requested" for m in OPTIONAL}

    def f(v, fmt):
        return "-" if v is None or (isinstance(v, float) and math.isinf(v)) else format(v, fmt)

    def opt(metric, v, fmt):
        return "skipped" if metric in skipped else f(v, fmt)

    adherence = any("colour_ok" in s for s in summary)
    cols = "| Method | VBench | LPIPS | PSNR | SSIM | FID | FID (pooled) | Latency (s) | Speedup | Theoretical "
    cols += "| PSNR (mp4) | SSIM (mp4) |"
    if adherence:
        cols += " colour | direction | static bg |"
    rule = "|" + "---|" * (cols.count("|") - 1)

    def row(s: dict) -> str:
        vbench = (s.get("vbench") or {}).get("vbench")
        line = (
            f"| {s['method']} | {opt('vbench', vbench, '.4f')} | {opt('lpips', s.get('lpips'), '.4f')} | "
            f"{f(s['psnr'], '.2f')} | {f(s['ssim'], '.4f')} | {opt('fid', s.get('fid'), '.2f')} | "
            f"{opt('fid', s.get('fid_pooled'), '.2f')} | "
            f"{f(s['latency_s'], '.2f')} | {f(s['speedup'], '.2f')}x | {f(s['theoretical_speedup'], '.2f')}x | "
            f"{f(s['psnr_mp4'], '.2f')} | {f(s['ssim_mp4'], '.4f')} |"
        )
        if adherence:
            line += "".join(f" {f(100 * s[k], '.1f')}% |" for k in ("colour_ok", "direction_ok", "background_ok"))
        return line

    ablations = {m for _, names in TABLE_GROUPS for m in names} - {"ours"}
    lines = [header, "", "## Tables 1-2: against full compute", "", cols, rule]
    lines += [row(s) for s in summary if s["method"] not in ablations]
    for title, names in TABLE_GROUPS:
        mine = [s for s in summary if s["method"] in names]
        if len(mine) > 1 and any(s["method"] != "ours" for s in mine):
            lines += ["", f"## {title}", "", cols, rule, *[row(s) for s in mine]]
    if any(s.get("vbench") for s in summary):
        from .vbench_score import DIMENSIONS

        lines += ["", "## VBench dimensions", "", "| Method | " + " | ".join(DIMENSIONS) + " | mean |"]
        lines += ["|" + "---|" * (len(DIMENSIONS) + 2)]
        for s in summary:
            if s.get("vbench"):
                values = [s["vbench"][d] for d in (*DIMENSIONS, "vbench")]
                lines.append(f"| {s['method']} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    lines += [
        "",
        "PSNR/SSIM: sewar, per frame on uint8 RGB, mean over frames then prompts, against full compute of the same",
        "prompt and seed (decoded frames; mp4: the written, compressed videos). LPIPS (alex) and FID (pytorch_fid,",
        "2048-d) on the mp4 frames as the paper: FID per video (that video's frames against its reference's), mean",
        "over prompts; pooled: every frame of every prompt. VBench: the unweighted mean of the paper's six dimensions.",
        "Speedup: full's denoising latency over the method's (device-synchronised); theoretical: block evaluations.",
    ]
    if skipped:
        lines += ["", "Skipped metrics:", *[f"- {m}: {why}" for m, why in skipped.items()]]
    text = "\n".join(lines) + "\n"
    _atomic_write(run / "tables.md", lambda p: Path(p).write_text(text))


# settings that switch an ingredient of a method off: plotted as a family of their own, not on the method's front
ABLATIONS = {"order=0": "no forecast", "tolerance=": "online rule", "blocks=all": "every block"}


def _family(method: str) -> str:
    """The method a label belongs to: its settings ("magcache-K=2", "teacache-fast") share one colour."""
    from delta_cache.peers import PEERS

    # longest first: "cachedit-dbcache-taylorseer-threshold=0.5" is not a setting of "cachedit-dbcache"
    for family in sorted(("ours", *PEERS, *LIBRARY_METHODS), key=len, reverse=True):
        if method == family or method.startswith(family + "-"):
            ablation = next((what for mark, what in ABLATIONS.items() if mark in method), None)
            return f"{family} ({ablation})" if ablation else family
    return method


def write_pareto(summary: list[dict], run: Path) -> None:
    """Speedup against PSNR: one point per method setting (o theoretical, x measured), settings of a method
    joined by a line and coloured alike."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [s for s in summary if s["method"] != "full" and s["psnr"] is not None and math.isfinite(s["psnr"])]
    families = list(dict.fromkeys(_family(s["method"]) for s in points))
    bases = list(dict.fromkeys(f.split(" (")[0] for f in families))
    cmap = plt.get_cmap("tab10" if len(bases) <= 10 else "tab20")
    colours = {b: cmap(i % cmap.N) for i, b in enumerate(bases)}
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for family in families:
        mine = sorted((s for s in points if _family(s["method"]) == family), key=lambda s: s["theoretical_speedup"])
        c = colours[family.split(" (")[0]]
        style = "o--" if " (" in family else "o-"  # an ablation: its method's colour, dashed
        xs, ys = [s["theoretical_speedup"] for s in mine], [s["psnr"] for s in mine]
        ax.plot(xs, ys, style, color=c, label=family, alpha=0.5 if " (" in family else 1.0)
        measured = [s for s in mine if s["speedup"]]
        ax.plot([s["speedup"] for s in measured], [s["psnr"] for s in measured], "x", color=c)
    ax.set_xlabel("speedup (o theoretical, x measured)")
    ax.set_ylabel("PSNR vs full (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))  # beside the points, not on them
    _atomic_write(run / "pareto.png", lambda p: fig.savefig(p, dpi=110, bbox_inches="tight", format="png"))
    plt.close(fig)
