"""sample_video.py end to end on the random-weight debug model, and its one-line errors for bad input (nothing
written). The shipped tiny model, its default, is tests/test_tiny_hyvideo_model.py's."""

from __future__ import annotations

import json

import pytest
from conftest import HY_DEBUG, run_main


def _mp4s(path):
    return sorted(p for p in path.glob("*.mp4")) if path.exists() else []


def test_end_to_end_writes_video_and_stats(sample_video_main, tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "results"
    rc = sample_video_main(
        [
            *HY_DEBUG,
            "--save-path",
            str(out),
            "--seed",
            "1",
            "--video-size",
            "40",
            "--video-length",
            "5",
            "--infer-steps",
            "6",
            "--num-videos",
            "2",
        ]
    )
    assert rc == 0
    videos = _mp4s(out)
    assert len(videos) == 2 and "seed1" in videos[0].name and "seed2" in videos[1].name
    frames = iio.imread(videos[0])
    assert frames.shape == (5, 48, 48, 3)  # 40 rounded up to 48
    stats = json.loads(videos[0].with_name(videos[0].stem + ".delta_cache.json").read_text())
    assert (
        stats["delta_cache"] is False and stats["block_evals_computed"] == stats["block_evals_total"] == 72
    )  # 2 videos
    # the fields of a cached run, nothing reused: 2 batches x 6 steps of the one "cond" pass, 2 + 4 blocks
    assert stats["per_branch_stack"] == {
        "cond/double_blocks": {"computed": 24, "total": 24, "reused": 0},
        "cond/single_blocks": {"computed": 48, "total": 48, "reused": 0},
    }
    assert stats["cache_dtype"] is None and stats["method"] is None
    rc = sample_video_main(
        [
            *HY_DEBUG,
            "--save-path",
            str(out),
            "--seed",
            "1",
            "--video-size",
            "32",
            "--video-length",
            "5",
            "--infer-steps",
            "8",
            "--delta_cache",
            "--cfg-scale",
            "2",
        ]
    )
    assert rc == 0
    new = [p for p in _mp4s(out) if p not in videos]
    stats = json.loads(new[0].with_name(new[0].stem + ".delta_cache.json").read_text())
    assert stats["delta_cache"] is True and stats["preset"] == "hunyuanvideo-debug"
    assert set(stats) == set(json.loads(videos[0].with_name(videos[0].stem + ".delta_cache.json").read_text()))
    assert stats["block_evals_computed"] == 36 and stats["block_evals_total"] == 48
    assert {s["branch"] for s in stats["steps"]} == {"uncond|cond"}
    assert [s["single_blocks"] for s in stats["steps"]][:4] == ["full", "full", "refresh", "reuse"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--video-length", "10"], "--video-length must be 4n+1"),
        (["--video-size", "8", "8"], "--video-size must be at least 16"),
        (["--video-size", "1", "2", "3"], "--video-size takes H W"),
        (["--model-base", "{tmp}/nope"], "--model-base not found"),
        (
            ["--model-base", "{ckpt}", "--model", "HYVideo-debug", "--dit-weight", "{tmp}/x.pt"],
            "--dit-weight not found",
        ),
        (["--load-key", "weights"], "invalid choice"),
        (["--cfg-scale", "3", "--neg-prompt", " "], "needs a negative prompt"),
        (["--ulysses-degree", "2"], "launch with torchrun --nproc_per_node=2"),
        (["--vae", "884-8c-hy"], "--latent-channels is 16"),
        (["--text-states-dim", "4096"], "do not fit the model"),
        (["--delta_cache", "--cache_single_blocks", "0,9"], "out of range"),
        (["--delta_cache", "--cache_single_blocks", "1,1"], "duplicate"),
        (["--delta_cache", "--step_cache_list", "2,30"], "out of range"),
        (["--delta_cache", "--cache_preset", "hunyuanvideo-t2v"], "is for 20 double_blocks, 40 single_blocks"),
        (["--save-path", "/proc/results"], "cannot write in /proc"),  # even root cannot
    ],
)
def test_bad_input_is_one_line_error(tmp_path, hy_ckpt, sample_video_main, capsys, argv, message):
    argv = [a.format(tmp=tmp_path, ckpt=hy_ckpt) for a in argv]
    out = tmp_path / "results"
    code, err = run_main(sample_video_main, [*HY_DEBUG, "--save-path", str(out), *argv], capsys)
    assert code != 0
    assert message in err.strip().splitlines()[-1], err[-800:]
    assert not out.exists()


def test_wrong_load_key_in_file_and_missing_keys_exit_nonzero(
    sample_video_main, tmp_path, hy_ckpt, hy_debug_config, capsys
):
    import shutil

    import torch

    base = tmp_path / "ckpts"
    shutil.copytree(hy_ckpt, base)
    dit = base / hy_debug_config.dit_weight
    sd = torch.load(dit, weights_only=True)["module"]
    torch.save({"ema": sd}, dit)
    out = tmp_path / "results"
    common = ["--model", "HYVideo-debug", "--model-base", str(base), "--save-path", str(out), "--infer-steps", "2"]
    assert sample_video_main(common) == 1
    assert "--load-key 'module' not in" in capsys.readouterr().err
    sd.pop("img_in.proj.bias")
    torch.save({"module": sd}, dit)
    assert sample_video_main(common) == 1
    assert "missing keys [img_in.proj.bias]" in capsys.readouterr().err
    assert not out.exists()


def test_help_lists_upstream_flags(sample_video_main, capsys):
    with pytest.raises(SystemExit) as exc:
        sample_video_main(["--help"])
    assert exc.value.code == 0
    proc = capsys.readouterr()
    for flag in (
        "--model",
        "--video-size",
        "--video-length",
        "--infer-steps",
        "--prompt",
        "--neg-prompt",
        "--seed",
        "--flow-shift",
        "--flow-reverse",
        "--embedded-cfg-scale",
        "--cfg-scale",
        "--model-base",
        "--dit-weight",
        "--load-key",
        "--precision",
        "--use-cpu-offload",
        "--save-path",
        "--ulysses-degree",
        "--ring-degree",
        "--vae-tiling",
        "--num-videos",
        "--batch-size",
        "--text-encoder",
        "--text-len",
        "--hidden-state-skip-layer",
        "--text-encoder-2",
        "--delta_cache",
        "--step_cache_list",
    ):
        assert flag in proc.out, flag


def test_compile_flag_compiles_both_stacks(sample_video_main, tmp_path, monkeypatch):
    import delta_cache

    real, counts = delta_cache.compile_blocks, []
    monkeypatch.setattr(delta_cache, "compile_blocks", lambda m, s, **kw: counts.append(real(m, s, backend="eager")))
    out = tmp_path / "r"
    argv = [*HY_DEBUG, "--save-path", str(out), "--infer-steps", "6", "--delta_cache", "--compile"]
    assert sample_video_main(argv) == 0
    assert counts == [2 + 4]  # HYVideo-debug: 2 double + 4 single blocks
    (report,) = out.glob("*.delta_cache.json")
    stats = json.loads(report.read_text())
    assert stats["block_evals_computed"] < stats["block_evals_total"]  # and the cache still reused


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--cfg-scale", "nan"], "--cfg-scale: must be a finite number, got 'nan'"),
        (["--flow-shift", "nan"], "--flow-shift: must be a finite number"),
        (["--embedded-cfg-scale", "inf"], "--embedded-cfg-scale: must be a finite number"),
        (["--seed", str(10**23)], "--seed must be in 0..18446744073709551615"),
        (["--seed", "-5"], "--seed must be in 0..18446744073709551615"),
        (["--seed", str(2**64 - 1), "--num-videos", "2"], "video i uses seed + i"),
        (["--name-suffix", "/x"], "--name-suffix is part of a file name"),
        (["--name-suffix", "a\nb"], "--name-suffix is part of a file name"),
        (["--device", "foo"], "--device 'foo' is not a device"),
        (["--device", "cuda:99"], "--device cuda:99:"),
        (["--delta_cache", "--cache_linear", "inf,1"], "needs finite TMAX >= TMIN > 0"),
    ],
)
def test_bad_numbers_names_and_devices_fail_before_loading(tmp_path, capsys, argv, message):
    from hyvideo.cli import build_parser, validate

    p = build_parser()
    with pytest.raises(SystemExit) as exc:
        validate(p, p.parse_args([*HY_DEBUG, "--save-path", str(tmp_path / "results"), *argv]))
    assert exc.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert not list(tmp_path.iterdir())
