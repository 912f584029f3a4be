"""scripts/compare_revisions.py's comparison (what counts as a difference) and its input check; the full run
takes minutes and is a development tool, not a test."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
from compare_revisions import differences  # noqa: E402


def _tree(root, stats: dict, video: bytes, rows: list[dict]):
    root.mkdir()
    (root / "v.mp4").write_bytes(video)
    (root / "v.delta_cache.json").write_text(json.dumps(stats))
    (root / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "tables.md").write_text(f"latency {stats.get('denoise_seconds')}")


def test_clock_fields_and_tree_paths_are_ignored_and_everything_else_counts(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _tree(a, {"blocks": 48, "denoise_seconds": 1.0, "video": f"{a}/v.mp4"}, b"mp4", [{"latency_s": 0.5, "psnr": 30}])
    _tree(b, {"blocks": 48, "denoise_seconds": 2.0, "video": f"{b}/v.mp4"}, b"mp4", [{"latency_s": 0.7, "psnr": 30}])
    assert differences(a, b, (str(a), str(b))) == []
    (b / "v.mp4").write_bytes(b"mp5")
    (b / "results.jsonl").write_text(json.dumps({"latency_s": 0.7, "psnr": 31}) + "\n")
    (b / "extra.npy").write_bytes(b"")
    assert differences(a, b, (str(a), str(b))) == [
        "extra.npy: only in this tree",
        "results.jsonl: JSON content differs",
        "v.mp4: bytes differ",
    ]


def test_an_unknown_base_revision_is_refused():
    res = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "compare_revisions.py"), "--base", "no-such-rev"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "is not a revision of this repository" in res.stderr.strip().splitlines()[-1]
