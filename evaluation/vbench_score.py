"""The paper's six VBench dimensions per method, when the optional `vbench` package is installed.

The release ran `VBench/evaluate.py --mode=custom_input` once per dimension on each method's folder of mp4s and
reported the unweighted mean of the six dimension scores as "VBench" (method.md §6.3). Here one VBench call per
method scores a folder of links to exactly this run's videos of that method (a folder may hold more from an
earlier run), and the scores are kept in RUN/vbench/<method>.json for the same list of videos, so a rerun does
not score again. VBench downloads its models (DINO, CLIP, AMT, RAFT, MUSIQ, LAION aesthetic) at first use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

DIMENSIONS = (
    "subject_consistency",
    "background_consistency",
    "motion_smoothness",
    "dynamic_degree",
    "aesthetic_quality",
    "imaging_quality",
)


class VBenchScorer:
    def __init__(self, device, run: Path):
        import vbench  # optional extra

        self.vbench = vbench
        self.device = device
        self.root = run / "vbench"

    def __call__(self, method: str, videos: list[Path]) -> dict[str, float]:
        """{dimension: score} for `videos` (mp4 paths), and 'vbench', their unweighted mean."""
        names = sorted(p.name for p in videos)
        cached = self.root / f"{method}.json"
        if cached.is_file():
            known = json.loads(cached.read_text())
            if known["videos"] == names:
                return known["scores"]
        folder = self.root / method
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for video in videos:
            os.symlink(video.resolve(), folder / video.name)
        info = Path(self.vbench.__file__).parent / "VBench_full_info.json"  # not read in custom_input mode
        bench = self.vbench.VBench(self.device, str(info), str(self.root))
        bench.evaluate(videos_path=str(folder), name=method, dimension_list=list(DIMENSIONS), mode="custom_input")
        results = json.loads((self.root / f"{method}_eval_results.json").read_text())
        scores = {d: float(results[d][0]) for d in DIMENSIONS}  # [mean, per-video records]
        scores["vbench"] = sum(scores.values()) / len(DIMENSIONS)
        cached.write_text(json.dumps({"videos": names, "scores": scores}, indent=1) + "\n")
        return scores


def load_vbench(device, run: Path):
    """(scorer, None), or (None, why VBench cannot run here) in one line."""
    try:
        return VBenchScorer(device, run), None
    except Exception as err:  # ImportError, or a dependency built for another torch
        first = (str(err).strip().splitlines() or [""])[0]
        return None, f"vbench not importable ({type(err).__name__}: {first[:120]}); pip install vbench"
