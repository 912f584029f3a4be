"""scripts/profile_model.py end to end (t2v-tiny with scene masks, HYVideo-debug), the preset it writes, bad input."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import HY_DEBUG, REPO, run_main

PROFILE = REPO / "scripts" / "profile_model.py"


@pytest.fixture
def logs():
    """loguru's messages of the test (its default sink writes to the stderr it saw at import, not capsys')."""
    from loguru import logger

    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="INFO")
    yield lines
    logger.remove(sink)


def test_tiny_profile_writes_a_preset_that_generate_reads(tmp_path, profile_main, generate_main, capsys, logs):
    out, stats = tmp_path / "tiny.json", tmp_path / "stats"
    common = [
        "--num_prompts",
        "1",
        "--sample_steps",
        "8",
        "--stats_dir",
        str(stats),
        "--validate",
        "1",
        "--no_adaptive",
    ]
    assert profile_main([*common, "--out", str(out), "--sensitivity", "blocks"]) == 0
    assert re.search(r"\bprofile: +\d+%", capsys.readouterr().err)  # the statistics were measured
    preset = json.loads(out.read_text())
    assert preset["format"] == "delta_cache.preset" and preset["depths"] == {"blocks": 8}
    assert "adaptive" not in preset  # --no_adaptive: the step costs are not measured
    summary = preset["provenance"]["statistics"]
    assert summary["theoretical_speedup"] >= 400 / 204 - 1e-9
    assert len(summary["r_attn"]["blocks"]) == 8 and len(summary["sensitivity"]) == 8
    assert summary["mask"] == "scene"
    figures = tmp_path / "tiny_figures"
    for name in ("r_attn.png", "step_statistic.png", "sensitivity.png", "attention_overlay.png"):
        assert (figures / name).stat().st_size > 1000, name
    cached = list(stats.glob("*.pt"))
    assert len(cached) == 1

    # another target reuses the statistics: nothing is measured again
    again = tmp_path / "again.json"
    assert profile_main([*common, "--out", str(again), "--sensitivity", "blocks", "--target_speedup", "1.5"]) == 0
    assert not re.search(r"\bprofile: +\d+%", capsys.readouterr().err)  # no profiling progress bar
    assert any("statistics from" in line for line in logs)
    assert json.loads(again.read_text())["provenance"]["statistics"]["theoretical_speedup"] >= 1.5

    # generate.py takes the file
    video = tmp_path / "v.mp4"
    argv = ["--sample_steps", "8", "--delta_cache", "--cache_preset", str(out), "--save_file", str(video)]
    assert generate_main([*argv, "--base_seed", "0"]) == 0
    report = json.loads(video.with_name("v.delta_cache.json").read_text())
    assert report["theoretical_speedup"] == pytest.approx(summary["theoretical_speedup"])


def test_hyvideo_debug_profile_end_to_end(tmp_path, profile_main, sample_video_main):
    out = tmp_path / "hy.json"
    hy = [*HY_DEBUG, "--video-size", "64", "64", "--video-length", "5", "--infer-steps", "6", "--seed", "0"]
    flags = ["--target_speedup", "1.3", "--validate", "1", "--sensitivity", "none", "--no_adaptive"]
    assert profile_main([*hy, *flags, "--stats_dir", str(tmp_path / "stats"), "--out", str(out)]) == 0
    preset = json.loads(out.read_text())
    assert preset["depths"] == {"double_blocks": 2, "single_blocks": 4}
    assert preset["provenance"]["config"] == "HYVideo-debug"
    stats = preset["provenance"]["statistics"]
    assert set(stats["r_attn"]) == {"double_blocks", "single_blocks"}
    # sample_video.py takes the file
    videos = tmp_path / "videos"
    assert sample_video_main([*hy, "--delta_cache", "--cache_preset", str(out), "--save-path", str(videos)]) == 0
    (report,) = videos.glob("*.delta_cache.json")
    assert json.loads(report.read_text())["theoretical_speedup"] == pytest.approx(stats["theoretical_speedup"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--mask", "depth"], "invalid choice: 'depth'"),
        (["--mask", "file"], "--mask file needs --mask_file"),
        (["--target_speedup", "40"], "cannot be reached"),
        (["--target_speedup", "0.5"], "cannot be reached"),
        (["--queries", "many"], "--queries must be"),
        (["--tau", "high"], "--tau must be otsu or a number"),
        (["--tau", "2"], "--tau must be otsu or a share in (0, 1]"),
        (["--tau", "nan"], "--tau must be otsu or a share in (0, 1]"),
        (["--mask_area", "nan"], "--mask_area: must be a finite number"),
        (["--threshold", "quantile", "--threshold_value", "3"], "share in (0, 1)"),
        (["--out", "x.txt"], "--out must end with .json"),
        (["--prompts", "/nonexistent/prompts.txt"], "--prompts file not found"),
        (["--model", "sd3"], "unknown --model 'sd3'"),
    ],
)
def test_bad_input_is_one_line_before_loading(tmp_path, profile_main, capsys, args, message):
    code, err = run_main(profile_main, [*args, "--stats_dir", str(tmp_path / "s")], capsys)
    assert code == (1 if "--model" in args else 2)  # argparse's error: before the model is even built
    assert message in err.strip().splitlines()[-1], err[-2000:]
    assert not (tmp_path / "s").exists()


def test_mask_file_of_the_wrong_shape_and_an_existing_out(tmp_path, profile_main, capsys):
    def refused(*argv: str) -> str:
        code, err = run_main(profile_main, list(argv), capsys)
        assert code == 2, err[-2000:]
        return err.strip().splitlines()[-1]

    bad = tmp_path / "mask.npy"
    np.save(bad, np.zeros((17, 60, 60)))  # 60 px does not pool onto the 8x8 token grid
    assert "does not divide onto the 8x8 token grid" in refused("--mask", "file", "--mask_file", str(bad))
    np.save(bad, np.zeros((3, 17, 64, 64)))  # masks for 3 prompts, profiling 1
    last = refused("--mask", "file", "--mask_file", str(bad), "--num_prompts", "1")
    assert "holds masks for 3 prompts; profiling 1" in last
    bad.write_text("not an array")
    assert "is not a .npy/.npz file" in refused("--mask", "file", "--mask_file", str(bad))
    existing = tmp_path / "p.json"
    existing.write_text("{}")
    assert "exists; pass --overwrite" in refused("--out", str(existing))
    assert existing.read_text() == "{}"


def test_generate_without_a_preset_names_the_profile_command(tmp_path):
    import argparse

    from wan.cache_cli import build_cache_config
    from wan.configs import WAN_CONFIGS

    args = argparse.Namespace(
        delta_cache=True,
        cache_preset=None,
        cache_blocks=None,
        block_cache_list_background=None,
        block_cache_list_foreground=None,
        cache_warmup=None,
        cache_interval=None,
        cache_refresh_steps=None,
        cache_linear=None,
        cache_last_full=None,
        sample_steps=50,
        ckpt_dir="./Wan2.1-T2V-1.3B",
        size="832*480",
        frame_num=81,
    )
    cfg = WAN_CONFIGS["t2v-1.3B"]
    with pytest.raises(ValueError, match="scripts/profile_model.py --task t2v-1.3B --ckpt_dir ./Wan2.1-T2V-1.3B"):
        build_cache_config(args, cfg.num_layers, "t2v-1.3B")


def test_the_other_scripts_still_find_the_standard_librarys_profile():
    # scripts/ is first on their path and torch imports `profile` (via cProfile) when delta_cache loads
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'Wan2.1'}{os.pathsep}{REPO}"}
    res = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "sweep_cache_tiny.py"), "--num_prompts", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 2 and "--num_prompts must be in 1..64" in res.stderr, res.stderr[-2000:]


def test_a_mask_file_is_what_r_attn_is_measured_against(tmp_path, profile_main):
    # every token foreground: R_attn is then the share of high-attention tokens, the quantile rule's 20%
    np.save(tmp_path / "m.npy", np.ones((17, 64, 64), bool))
    argv = ["--num_prompts", "1", "--sample_steps", "6", "--validate", "0", "--sensitivity", "none", "--no_adaptive"]
    argv += ["--mask", "file", "--mask_file", str(tmp_path / "m.npy"), "--out", str(tmp_path / "f.json")]
    assert profile_main([*argv, "--stats_dir", str(tmp_path / "s")]) == 0
    r = json.loads((tmp_path / "f.json").read_text())["provenance"]["statistics"]["r_attn"]["blocks"]
    assert len(r) == 8 and all(0.17 <= v <= 0.21 for v in r), r  # 12-13 of each frame's 64 tokens


def test_tiny_hyvideo_profile_uses_scene_masks(tmp_path, profile_main, capsys):
    common = ["--model", "hunyuanvideo", "--num_prompts", "1", "--infer-steps", "6", "--sensitivity", "none"]
    common += ["--validate", "0", "--no_adaptive", "--stats_dir", str(tmp_path / "stats")]
    assert profile_main([*common, "--out", str(tmp_path / "hy.json")]) == 0
    preset = json.loads((tmp_path / "hy.json").read_text())
    assert preset["depths"] == {"double_blocks": 20, "single_blocks": 40}
    assert preset["provenance"]["config"] == "HYVideo-tiny"
    # the ground-truth masks reach tokens: R_attn is defined, so each stack's threshold is a number
    assert all(math.isfinite(t) for t in preset["provenance"]["statistics"]["tau"].values())
    # an area no object reaches leaves no foreground token: refused in one line, nothing written
    code, err = run_main(profile_main, [*common, "--mask_area", "0.95", "--out", str(tmp_path / "none.json")], capsys)
    assert code != 0 and "cover no token at --mask_area 0.95" in err.strip().splitlines()[-1]
    assert not (tmp_path / "none.json").exists()
