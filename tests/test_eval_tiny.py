"""scripts/eval_tiny.py on both tiny models: the report's layout, the VAE ceiling (`--reference`), the cached
run beside full compute, and its one-line errors."""

from __future__ import annotations

import json

import pytest
from conftest import HY_DEBUG, REPO, _script_main


@pytest.fixture(scope="module")
def eval_main():
    return _script_main("eval_tiny_script", REPO / "scripts" / "eval_tiny.py")


@pytest.mark.parametrize(
    "model_args",
    [
        ["--sample_steps", "8"],
        ["--model", "hunyuanvideo", "--infer-steps", "8"],
    ],
    ids=["t2v-tiny", "HYVideo-tiny"],
)
def test_one_prompt_with_reference_and_cache(eval_main, tmp_path, model_args):
    out = tmp_path / "e.json"
    flags = ["--num_prompts", "1", "--reference", "--delta_cache", "--cache_warmup", "2", "--quiet"]
    assert eval_main([*model_args, *flags, "--out", str(out), "--strip", str(tmp_path / "s.png")]) == 0
    report = json.loads(out.read_text())
    assert set(report["summary"]) == {"full", "reference", "cached"}
    assert all(s["prompts"] == 1 for s in report["summary"].values())
    # the VAE keeps the object of a true rendering: its colour and direction are measured back
    assert report["rows"][0]["reference"]["colour_ok"] and report["rows"][0]["reference"]["direction_ok"]
    cache = report["cache"]
    evals = cache["block_evals_per_video"]
    assert evals["block_evals_computed"] < evals["block_evals_total"] and cache["psnr_mean"] > 10
    assert (tmp_path / "s.png").is_file()


@pytest.mark.parametrize(
    "argv, message",
    [
        ([*HY_DEBUG], "measures the tiny trained models"),
        (["--task", "t2v-debug"], "measures the tiny trained models"),
        (["--num_prompts", "65"], "--num_prompts must be in 1..64"),
        (["--out", "x.txt"], "--out must end with .json"),
        (["--out", "/proc/eval.json"], "--out /proc/eval.json: cannot write in /proc"),  # even root cannot
        (["--strip", "/proc/strip.png"], "--strip /proc/strip.png: cannot write in /proc"),
    ],
)
def test_bad_input_is_refused_before_loading(eval_main, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        eval_main([*argv, "--quiet"])
    assert exc.value.code != 0 and message in capsys.readouterr().err.strip().splitlines()[-1]
