"""The peer methods from both CLIs, the evaluation harness and the calibration script, on the debug models."""

from __future__ import annotations

import json

import pytest
from conftest import HY_DEBUG, REPO


@pytest.mark.parametrize("method", ["teacache", "fbcache", "magcache", "easycache", "dbcache"])
def test_generate_runs_every_peer_and_reports_its_decisions(tmp_path, wan_ckpt, generate_main, method):
    out = tmp_path / "v.mp4"
    # random weights change a lot between steps: thresholds far above the published ones make them reuse
    extra = {
        "teacache": ["--cache_thresh", "5000"],  # 1.3B's polynomial maps a rel-L1 near 1 to about 1300
        "fbcache": ["--cache_thresh", "0.9"],
        "easycache": ["--easycache_ret_steps", "2", "--cache_thresh", "0.9"],
        "dbcache": ["--dbcache_max_warmup_steps", "2", "--cache_thresh", "0.9"],
    }.get(method, [])
    common = ["--task", "t2v-debug", "--ckpt_dir", str(wan_ckpt), "--sample_steps", "10", "--base_seed", "3"]
    assert generate_main([*common, "--delta_cache", "--cache_method", method, *extra, "--save_file", str(out)]) == 0
    report = json.loads((tmp_path / "v.delta_cache.json").read_text())
    assert report["method"] == method and out.stat().st_size > 0
    actions = [r["blocks"] for r in report["steps"]]
    assert "reuse" in actions and report["theoretical_speedup"] > 1  # thresholds chosen so that it reuses
    assert len(report["steps"]) == 20 and all(r["branch"] in ("cond", "uncond") for r in report["steps"])
    if method != "magcache":  # MagCache decides from its table alone; the others record the signal behind it
        assert any(r.get("indicator") for r in report["steps"])


def test_sample_video_runs_a_peer(tmp_path, sample_video_main):
    out = tmp_path / "results"
    argv = [*HY_DEBUG, "--save-path", str(out), "--seed", "1", "--infer-steps", "10", "--delta_cache"]
    assert sample_video_main([*argv, "--cache_method", "teacache", "--cache_thresh", "1.5"]) == 0
    (report,) = out.glob("*.delta_cache.json")
    r = json.loads(report.read_text())
    assert r["method"] == "teacache" and r["method_settings"]["indicator"] == "modulated_input"
    assert [s["double_blocks"] for s in r["steps"]] == [s["single_blocks"] for s in r["steps"]]
    assert "reuse" in [s["double_blocks"] for s in r["steps"]]


BAD = [
    (["--delta_cache", "--cache_method", "teacache", "--magcache_K", "3"], "--magcache_K applies to --cache_method"),
    (["--cache_method", "fbcache"], "--cache_method fbcache needs --delta_cache"),
    (["--delta_cache", "--cache_method", "fbcache", "--cache_blocks", "1"], "--cache_method fbcache decides by"),
    (["--delta_cache", "--cache_thresh", "0.1"], "--cache_method delta has no threshold"),
    (["--delta_cache", "--cache_method", "nope"], "invalid choice: 'nope'"),
    (["--delta_cache", "--cache_method", "dbcache", "--dbcache_Fn", "9"], "leaves no middle block"),
    (["--delta_cache", "--cache_method", "teacache", "--cache_thresh", "nan"], "must be a finite number"),
    (["--delta_cache", "--cache_method", "magcache", "--cache_thresh", "-0.1"], "threshold >= 0"),
    (["--delta_cache", "--cache_method", "magcache", "--magcache_retention_ratio", "inf"], "must be a finite number"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_peer_flags_fail_before_loading(tmp_path, generate_main, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        generate_main(["--task", "t2v-debug", *args, "--save_file", str(tmp_path / "o.mp4")])
    assert exc.value.code != 0
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert not list(tmp_path.iterdir())


def test_the_harness_runs_peers_with_settings_and_rejects_bad_ones(tmp_path, capsys):
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    from reproduce import main

    run = tmp_path / "run"
    argv = ["--task", "t2v-debug", "--sample_steps", "8", "--out", str(run), "--skip_metrics", "lpips,fid,vbench"]
    assert main([*argv, "--methods", "full,fbcache:threshold=0.9+warmup_steps=2,easycache:ret_steps=2"]) == 0
    rows = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert [r["method"] for r in rows] == ["full", "fbcache-threshold=0.9-warmup_steps=2", "easycache-ret_steps=2"]
    assert all(r["theoretical_speedup"] > 1 for r in rows[1:]) and rows[1]["psnr"] < float("inf")
    assert "fbcache-threshold=0.9-warmup_steps=2" in (run / "tables.md").read_text()
    for methods, message in (
        ("full,teacache-fast:speed=warp", "teacache speed must be slow or fast"),
        ("full,magcache:K=two", "magcache K must be int"),
        ("full,fbcache:K=2", "fbcache has no setting 'K'"),
        ("full:x", "method full takes no argument"),
    ):
        with pytest.raises(SystemExit):
            main([*argv, "--methods", methods])
        assert message in capsys.readouterr().err.strip().splitlines()[-1]


def test_calibration_writes_constants_the_clis_read(tmp_path, wan_ckpt):
    import shutil
    import subprocess
    import sys

    ckpt = tmp_path / "ckpt"
    shutil.copytree(wan_ckpt, ckpt)
    cmd = [sys.executable, str(REPO / "scripts" / "calibrate_peers.py"), "--task", "t2v-debug"]
    proc = subprocess.run(
        [*cmd, "--ckpt_dir", str(ckpt), "--sample_steps", "6", "--out", str(ckpt / "cache_peers.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((ckpt / "cache_peers.json").read_text())
    mag = data["methods"]["magcache"]
    assert len(mag["ratios"]) == 12 and mag["ratios"][:2] == [1.0, 1.0] and mag["branches"] == ["cond", "uncond"]
    assert all(0.2 < r < 5 for r in mag["ratios"])
    modes = data["methods"]["teacache"]["modes"]
    assert [m["indicator"] for m in modes] == ["timestep_embedding", "timestep_projection"]
    assert (
        all(len(m["coefficients"]) == 5 for m in modes) and data["teacache_fit"]["timestep_embedding"]["points"] == 10
    )

    assert data["methods"]["magcache"]["K"] == 1 and data["methods"]["easycache"]["ret_steps"] == 1  # 4, 10 at 6/50
    again = subprocess.run(
        [*cmd, "--ckpt_dir", str(ckpt), "--out", str(ckpt / "cache_peers.json")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 2 and "cache_peers.json exists; pass --overwrite" in again.stderr.splitlines()[-1]

    from wan.cache_peers import peer_constants

    constants = peer_constants("t2v-debug", ckpt)  # the file replaces the published numbers
    assert constants["magcache"]["ratios"] == tuple(mag["ratios"])
    assert constants["teacache"]["modes"][True]["coefficients"] == tuple(modes[1]["coefficients"])
    assert peer_constants("t2v-debug", wan_ckpt)["magcache"]["threshold"] == 0.12  # without it: published


@pytest.mark.parametrize(
    "content", ["{not json", '{"methods": {"magcache": {"ratios": ["x"]}}}', '{"model": {}}', '{"methods": []}']
)
def test_a_broken_calibration_file_names_itself_and_blocks_only_the_peers(tmp_path, wan_ckpt, capsys, content):
    import shutil

    from wan.cli import build_parser, validate

    ckpt = tmp_path / "ckpt"
    shutil.copytree(wan_ckpt, ckpt)
    (ckpt / "cache_peers.json").write_text(content)
    common = ["--task", "t2v-debug", "--ckpt_dir", str(ckpt), "--save_file", str(tmp_path / "o.mp4")]
    p = build_parser()
    for fine in ([], ["--delta_cache"]):  # full compute and the delta cache never read the file
        validate(p, p.parse_args([*common, *fine]))
    with pytest.raises(SystemExit):
        validate(p, p.parse_args([*common, "--delta_cache", "--cache_method", "magcache"]))
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"{ckpt / 'cache_peers.json'} is not a usable peer calibration" in err
