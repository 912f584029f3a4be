"""A model is one package and one registration: the toy package of docs/adding_a_model.md, registered here,
runs through the harness and the profiler unchanged; and no script or evaluation module names a model."""

from __future__ import annotations

import json
import re

import pytest
from conftest import REPO, _script_main


@pytest.fixture
def toy(monkeypatch):
    from evaluation.targets import TARGETS

    monkeypatch.setitem(TARGETS, "toy", "toy_dit.target:ToyTarget")  # the one registration


def test_the_toy_model_runs_through_reproduce_and_the_profiler(toy, tmp_path, capsys):
    from delta_cache import load_preset

    profile = _script_main("profile_model", REPO / "scripts" / "profile_model.py")
    reproduce = _script_main("reproduce", REPO / "scripts" / "reproduce.py")

    preset = tmp_path / "toy.json"
    common = ("--model", "toy", "--steps", "8")
    assert profile([*common, "--out", str(preset), "--stats_dir", str(tmp_path / "stats"), "--validate", "2"]) == 0
    config = load_preset(preset, {"blocks": 6})
    assert config.stacks["blocks"].cached  # the profiler chose blocks to cache
    assert json.loads(preset.read_text())["provenance"]["model"] == "toy-dit"

    run = tmp_path / "run"
    methods = f"full,ours,ours:{preset},fbcache,fg-reuse"
    assert reproduce([*common, "--methods", methods, "--prompts", str(_prompts(tmp_path)), "--out", str(run)]) == 0
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    by = {r["method"]: r for r in rows if r["index"] == 0}
    assert set(by) == {"full", "ours", "ours-toy", "fbcache", "fg-reuse"}
    # the built-in preset computes blocks 0 and 5 always and the rest on 2 warm-up + 2 refresh steps of 8
    assert by["ours"]["block_evals_computed"] == 8 * 2 + 4 * 4
    assert by["ours"]["theoretical_speedup"] == pytest.approx(48 / 32)
    assert 10 < by["ours"]["psnr"] < float("inf")  # cached, close to full compute, not equal to it
    assert by["full"]["block_evals_computed"] is None and by["full"]["theoretical_speedup"] == 1.0


def _prompts(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("a toy prompt\nanother toy prompt\n")
    return path


def test_unknown_and_registered_names_in_the_model_flag(toy):
    from evaluation.targets import select_target

    assert select_target(["--model", "toy"], "p")[0].name == "toy"
    with pytest.raises(SystemExit, match="accepted: wan, hunyuanvideo, .*toy"):
        select_target(["--model", "sd3"], "p")


# A comparison, membership test or match on a model's name: what the registry replaces.
MODEL_BRANCH = re.compile(r"""(==|!=|\bin\b|\bcase\b)\s*[(\[{]?\s*["'](wan|hunyuanvideo|hyvideo)["']""")


def test_no_script_or_evaluation_module_branches_on_a_model_name():
    files = [*sorted((REPO / "scripts").glob("*.py")), *sorted((REPO / "evaluation").glob("*.py"))]
    hits = [
        f"{f.relative_to(REPO)}:{i}: {line.strip()}"
        for f in files
        for i, line in enumerate(f.read_text().splitlines(), 1)
        if MODEL_BRANCH.search(line) and not line.lstrip().startswith("for ")  # a loop over names is no branch
    ]
    assert not hits, "\n".join(hits)
    assert MODEL_BRANCH.search('x = a if family == "wan" else b')  # the pattern does catch one
