"""The shipped tiny models as diffusers pipelines: scripts/to_diffusers.py and scripts/diffusers_demo.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import run_main

pytest.importorskip("diffusers")

STEPS = {"wan": ["--sample_steps", "8"], "hunyuanvideo": ["--model", "hunyuanvideo", "--infer-steps", "8"]}


@pytest.fixture(scope="module")
def converted(tmp_path_factory, to_diffusers_main):
    """Both tiny models converted at 8 steps (the folders' generation settings): the presets reuse from step 6."""
    out = {}
    for model, flags in STEPS.items():
        folder = tmp_path_factory.mktemp("pipelines") / model
        assert to_diffusers_main([*flags, "--out", str(folder)]) == 0
        out[model] = folder
    return out


def test_the_converted_t2v_tiny_generates_our_pipelines_video(converted):
    from diffusers import DiffusionPipeline, WanPipeline

    from delta_cache.diffusers.convert import read_call
    from evaluation.targets import model_parser, target_class
    from scenes.metrics import psnr

    pipe = DiffusionPipeline.from_pretrained(str(converted["wan"]))  # diffusers' own loader
    assert isinstance(pipe, WanPipeline) and read_call(converted["wan"])["num_inference_steps"] == 8
    cls = target_class("wan")
    p = model_parser(cls, "")
    target = cls(cls.validate(p, p.parse_args(STEPS["wan"])))
    target.load(torch.device("cpu"), None)
    ours = target.decode(target.generate(target.args.prompt, 3))
    g = torch.Generator().manual_seed(3)
    theirs = pipe(target.args.prompt, output_type="np", generator=g, **read_call(converted["wan"])).frames[0]
    # the same video: 47.5 dB at 4 steps (57-72 dB at 25), where a conversion error gives noise (about 12 dB)
    assert psnr(np.asarray(theirs, np.float32), np.asarray(ours, np.float32)) > 40


@pytest.mark.parametrize("model", list(STEPS))
def test_the_demo_writes_a_video_and_our_stats_file(converted, diffusers_demo_main, tmp_path, capsys, model):
    video = tmp_path / "demo.mp4"
    flags = STEPS[model][:2] if model == "hunyuanvideo" else []
    argv = [*flags, "--pipeline_dir", str(converted[model]), "--delta_cache", "--save_file", str(video)]
    code, err = run_main(diffusers_demo_main, argv, capsys)
    assert code == 0, err
    stats = json.loads(video.with_name("demo.delta_cache.json").read_text())
    assert video.stat().st_size > 0 and stats["delta_cache"] and stats["theoretical_speedup"] > 1.0
    assert len({(s["branch"], s["step"]) for s in stats["steps"]}) == 2 * 8  # cond and uncond, eight steps


def test_bad_input_is_one_line_and_writes_nothing(converted, diffusers_demo_main, to_diffusers_main, tmp_path, capsys):
    code, err = run_main(diffusers_demo_main, ["--pipeline_dir", str(converted["wan"]), "--save_file", "x.gif"], capsys)
    assert code == 2 and "must end in .mp4" in err
    code, err = run_main(diffusers_demo_main, ["--pipeline_dir", str(tmp_path), "--save_file", "y.mp4"], capsys)
    assert code == 2 and "not a folder written by scripts/to_diffusers.py" in err
    code, err = run_main(to_diffusers_main, ["--out", str(converted["wan"])], capsys)
    assert code == 2 and "is not an empty folder" in err
    assert not (tmp_path / "y.mp4").exists() and not list(tmp_path.iterdir())
