"""generate.py end to end (the default tiny task and the debug task), and its one-line errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import imageio.v3 as iio
import pytest
from conftest import REPO

GENERATE = REPO / "Wan2.1" / "generate.py"


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """generate.py as a user runs it (a fresh interpreter, its own path setup); the other tests call its main."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'Wan2.1'}{os.pathsep}{REPO}"}
    return subprocess.run(
        [sys.executable, str(GENERATE), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_end_to_end_writes_mp4(tmp_path, wan_ckpt_sharded):
    out = tmp_path / "video.mp4"
    res = run_cli(
        "--task",
        "t2v-debug",
        "--ckpt_dir",
        str(wan_ckpt_sharded),
        "--size",
        "128*64",
        "--frame_num",
        "9",
        "--sample_steps",
        "3",
        "--base_seed",
        "1",
        "--t5_cpu",
        "--sample_solver",
        "dpm++",
        "--prompt",
        "a blue square",
        "--save_file",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    frames = iio.imread(out)
    assert frames.shape == (9, 64, 128, 3)
    meta = iio.immeta(out)
    assert round(meta["fps"]) == 16
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial files left


def test_default_run_is_the_shipped_tiny_model_and_never_overwrites(tmp_path, generate_main, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert generate_main(["--sample_steps", "2", "--base_seed", "0"]) == 0
    assert generate_main(["--sample_steps", "2", "--base_seed", "0"]) == 0
    videos = sorted(p.name for p in tmp_path.glob("*.mp4"))
    assert len(videos) == 2 and all(v.startswith("t2v-tiny_64x64_1_1_") for v in videos)
    assert iio.imread(tmp_path / videos[0]).shape == (17, 64, 64, 3)


def test_debug_task_runs_random_weights_without_a_checkpoint(tmp_path, generate_main, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert generate_main(["--task", "t2v-debug", "--sample_steps", "2", "--base_seed", "0"]) == 0
    assert [p.name for p in tmp_path.glob("*.mp4")][0].startswith("t2v-debug_64x64_1_1_")


def test_help_lists_upstream_flags(generate_main, capsys):
    with pytest.raises(SystemExit) as exc:
        generate_main(["--help"])
    assert exc.value.code == 0
    res = capsys.readouterr()
    for flag in (
        "--task",
        "--size",
        "--frame_num",
        "--ckpt_dir",
        "--offload_model",
        "--t5_cpu",
        "--sample_solver",
        "--sample_steps",
        "--sample_shift",
        "--sample_guide_scale",
        "--base_seed",
        "--prompt",
        "--save_file",
        "--ulysses_size",
        "--ring_size",
    ):
        assert flag in res.out


BAD = [
    (["--task", "t2v-1.3B", "--size", "1280*720", "--ckpt_dir", "."], "unsupported --size 1280*720"),
    (["--frame_num", "10"], "4n+1"),
    (["--prompt", "   "], "--prompt is empty"),
    (["--task", "t2v-14B"], "--ckpt_dir is required"),
    (["--ulysses_size", "2"], "launch with torchrun --nproc_per_node=2"),
    (["--sample_solver", "euler"], "invalid choice"),
    (["--save_file", "out.avi"], "must end with .mp4"),
    (["--offload_model", "maybe"], "expected a boolean"),
    (["--sample_guide_scale", "nan"], "--sample_guide_scale: must be a finite number, got 'nan'"),
    (["--sample_guide_scale", "-1"], "--sample_guide_scale must be >= 0"),
    (["--sample_shift", "nan"], "--sample_shift: must be a finite number"),
    (["--sample_shift", "inf"], "--sample_shift: must be a finite number"),
    (["--base_seed", "-5"], "--base_seed must be in 0..18446744073709551615, or -1 to draw one; got -5"),
    (["--base_seed", str(10**23)], "--base_seed must be in 0..18446744073709551615"),
    (["--device", "foo"], "--device 'foo' is not a device"),
    (["--device", "cuda:99"], "--device cuda:99:"),  # no CUDA here; on a GPU machine: not that many GPUs
    (["--delta_cache", "--cache_linear", "inf,1"], "needs finite TMAX >= TMIN > 0, got 'inf,1'"),
    (["--size", "128*128"], "unsupported --size 128*128 for task t2v-tiny"),
    (["--save_file", "/proc/out.mp4"], "--save_file: cannot write in /proc"),  # even root cannot
]


def test_missing_shipped_model_is_a_one_line_error(tmp_path, generate_main, capsys, monkeypatch):
    import wan.cli

    monkeypatch.setattr(wan.cli, "TINY_CKPT_DIR", tmp_path / "absent")
    with pytest.raises(SystemExit) as exc:
        generate_main(["--save_file", str(tmp_path / "o.mp4")])
    assert exc.value.code != 0
    assert "shipped t2v-tiny model is missing" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_input_is_one_line_error(tmp_path, generate_main, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        generate_main(args)
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]
    assert not list(tmp_path.iterdir())


def test_missing_checkpoint_files_are_named(tmp_path, generate_main, capsys):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SystemExit):
        generate_main(["--task", "t2v-debug", "--ckpt_dir", str(tmp_path), "--save_file", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "models_t5_umt5-xxl-enc-bf16.pth" in err and "Wan2.1_VAE.pth" in err
    assert not (tmp_path / "o.mp4").exists()


def test_broken_checkpoint_exits_nonzero_without_output(tmp_path, wan_ckpt, generate_main, capsys):
    import shutil

    ckpt = tmp_path / "ckpt"
    shutil.copytree(wan_ckpt, ckpt)
    (ckpt / "Wan2.1_VAE.pth").write_bytes(b"not a checkpoint")
    out = tmp_path / "o.mp4"
    code = generate_main(["--task", "t2v-debug", "--ckpt_dir", str(ckpt), "--save_file", str(out)])
    assert code == 1
    assert "cannot read" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not out.exists()


def test_delta_cache_run_writes_video_and_stats(tmp_path, wan_ckpt, generate_main):
    import json

    base, cached = tmp_path / "base.mp4", tmp_path / "cached.mp4"
    common = ["--task", "t2v-debug", "--ckpt_dir", str(wan_ckpt), "--sample_steps", "8", "--base_seed", "3"]
    assert generate_main([*common, "--save_file", str(base)]) == 0
    assert generate_main([*common, "--save_file", str(cached), "--delta_cache"]) == 0
    b = json.loads((tmp_path / "base.delta_cache.json").read_text())
    c = json.loads((tmp_path / "cached.delta_cache.json").read_text())
    assert b["block_evals_computed"] == b["block_evals_total"] == 2 * 8 * 4 and b["theoretical_speedup"] == 1.0
    assert set(b) == set(c)  # a baseline reports the same fields, nothing reused
    assert b["per_branch_stack"] == {
        f"{br}/blocks": {"computed": 32, "total": 32, "reused": 0} for br in ("cond", "uncond")
    }
    assert b["cache_dtype"] is None and b["per_branch_stack"].keys() == c["per_branch_stack"].keys()
    assert (c["block_evals_computed"], c["block_evals_total"]) == (48, 64) and c["cache_bytes_peak"] > 0
    assert [r["blocks"] for r in c["steps"] if r["branch"] == "cond"] == [
        "full",
        "full",
        "refresh",
        "reuse",
        "reuse",
        "refresh",
        "reuse",
        "reuse",
    ]
    assert c["denoise_seconds"] > 0 and cached.stat().st_size > 0


CACHE_BAD = [
    (["--delta_cache", "--cache_blocks", "0,2-x"], "malformed"),
    (["--delta_cache", "--cache_blocks", "1,1", "--cache_interval", "2"], "duplicate"),
    (["--delta_cache", "--cache_blocks", "8", "--cache_interval", "2"], "out of range"),
    (["--delta_cache", "--task", "t2v-1.3B", "--ckpt_dir", "."], "no delta_cache preset for t2v-1.3B"),
    (["--delta_cache", "--cache_interval", "2", "--cache_linear", "5,2"], "only one of"),
    (["--delta_cache", "--cache_refresh_steps", "2,99"], "out of range"),
]


@pytest.mark.parametrize(("args", "message"), CACHE_BAD)
def test_bad_cache_flags_fail_before_loading(tmp_path, generate_main, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        generate_main([*args, "--save_file", str(tmp_path / "o.mp4")])
    assert exc.value.code != 0
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert not list(tmp_path.iterdir())


def test_a_save_file_that_is_a_directory_is_refused(tmp_path, generate_main, capsys):
    (tmp_path / "v.mp4").mkdir()
    with pytest.raises(SystemExit):
        generate_main(["--save_file", str(tmp_path / "v.mp4")])
    assert "--save_file is a directory" in capsys.readouterr().err.strip().splitlines()[-1]


def test_any_field_override_makes_the_preset_custom_and_last_full_defaults_to_the_preset():
    from wan.cli import build_parser, validate

    p = build_parser()
    plain = validate(p, p.parse_args(["--delta_cache"])).cache_config
    assert plain.name == "wan2.1-t2v-tiny" and plain.stacks["blocks"].last_full == 0
    for flag in (["--cache_warmup", "2"], ["--cache_last_full", "1"], ["--cache_interval", "4"]):
        assert validate(p, p.parse_args(["--delta_cache", *flag])).cache_config.name == "custom", flag
    assert p.parse_args([]).cache_last_full is None


def _spy_compile(monkeypatch) -> list:
    """`--compile` reaches delta_cache.compile_blocks; the spy compiles with the cheap eager backend."""
    import delta_cache

    real, compiled = delta_cache.compile_blocks, []

    def spy(model, spec, **kw):
        n = real(model, spec, backend="eager")
        compiled.append([type(b.block if hasattr(b, "block") else b).__name__ for b in model.blocks][:1] + [n])
        return n

    monkeypatch.setattr(delta_cache, "compile_blocks", spy)
    return compiled


def test_compile_flag_compiles_every_block_before_the_cache(tmp_path, generate_main, monkeypatch):
    compiled = _spy_compile(monkeypatch)
    args = ["--task", "t2v-debug", "--sample_steps", "6", "--base_seed", "1", "--delta_cache"]
    assert generate_main([*args, "--compile", "--save_file", str(tmp_path / "c.mp4")]) == 0
    assert compiled == [["WanAttentionBlock", 4]]  # compiled before the wrappers went in
    import json

    report = json.loads((tmp_path / "c.delta_cache.json").read_text())
    assert report["block_evals_computed"] < report["block_evals_total"]  # and the cache still reused
