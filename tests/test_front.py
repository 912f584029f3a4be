"""evaluation/front.py and scripts/front.py: one method's front against every other point of a run."""

from __future__ import annotations

import json
import math

import pytest
from conftest import REPO, _script_main, run_main

from evaluation.front import front_checks, margins


def _s(method, x, psnr, speedup=None, colour=1.0):
    return {"method": method, "theoretical_speedup": x, "psnr": psnr, "speedup": speedup, "colour_ok": colour}


SUMMARY = [
    _s("full", 1.0, math.inf, 1.0, colour=0.75),
    _s("adaptive-speedup=1.5", 1.5, 46.0, 1.4, colour=0.75),
    _s("adaptive-speedup=2.5", 2.5, 36.0, 2.0, colour=0.5),
    _s("adaptive-speedup=2-order=0", 2.0, 30.0),  # an ablation: neither front nor peer
    _s("taylorseer-interval=2", 1.92, 41.0),
    _s("easycache", 1.35, 46.2),  # outside the range
    _s("magcache", 3.12, 28.0),  # inside the range, beyond the front's fastest setting
]


def test_margins_interpolate_the_front_and_leave_uncovered_points_open():
    rows = margins(SUMMARY, "adaptive", 1.5, 3.5)
    assert [r["method"] for r in rows] == ["taylorseer-interval=2", "magcache"]
    assert rows[0]["front_psnr"] == pytest.approx(46.0 - 10.0 * 0.42) and rows[0]["margin"] == pytest.approx(0.8)
    assert rows[1]["front_psnr"] is None and rows[1]["margin"] is None
    checks = front_checks(SUMMARY, prompts=4, name="adaptive")
    assert [c["method"] for c in checks] == ["adaptive-speedup=1.5", "adaptive-speedup=2.5"]
    assert checks[1]["measured_ratio"] == pytest.approx(0.8) and checks[1]["colour_ok"] == -1


def test_the_script_writes_front_md_and_refuses_a_run_without_the_method(tmp_path, capsys):
    main = _script_main("front_script", REPO / "scripts" / "front.py")
    rows = []
    for s in SUMMARY:
        for index in range(2):
            rows.append({**s, "index": index, "latency_s": 1.0 / (s["speedup"] or 1.0), "ssim": 1.0})
    (tmp_path / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    code, _ = run_main(main, [str(tmp_path)], capsys)
    text = (tmp_path / "front.md").read_text()
    assert code == 0 and "| taylorseer-interval=2 | 1.92x | 41.00 | 41.80 | +0.80 |" in text
    assert "| magcache | 3.12x | 28.00 | - | not covered |" in text
    code, err = run_main(main, [str(tmp_path), "--method", "nothing"], capsys)
    assert code == 2 and "has no nothing:speedup=S settings" in err
