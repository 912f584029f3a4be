"""The shipped tiny models as diffusers pipelines: scripts/to_diffusers.py and scripts/diffusers_demo.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TINY_STEPS as STEPS
from conftest import run_main

pytest.importorskip("diffusers")


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


def _attention_record(target, prompt: str, seed: int) -> dict:
    """ā per stack over one generation's passes, the CFG branches averaged (our HunyuanVideo batches them)."""
    from delta_cache.profiler import AttentionProfiler

    with AttentionProfiler(target.model, target.spec, target.grid) as profiler:
        target.generate(prompt, seed, cache=profiler)
        scores = profiler.finish().scores
    stacks = {stack for _, stack in scores}
    return {s: torch.stack([v for (_, st), v in scores.items() if st == s]).mean(dim=0) for s in stacks}


@pytest.mark.parametrize("model", list(STEPS))
def test_the_profiler_sees_through_diffusers_what_it_sees_through_our_stack(converted, model):
    from delta_cache.diffusers.target import DiffusersTarget
    from evaluation.targets import model_parser, target_class

    ours_cls = target_class(model)
    p = model_parser(ours_cls, "")
    steps = {"wan": "--sample_steps", "hunyuanvideo": "--infer-steps"}[model]
    ours = ours_cls(ours_cls.validate(p, p.parse_args([steps, "3"])))
    ours.load(torch.device("cpu"), None)
    p = model_parser(DiffusersTarget, "")
    theirs = DiffusersTarget(
        DiffusersTarget.validate(p, p.parse_args(["--diffusers", str(converted[model]), "--num_inference_steps", "3"]))
    )
    theirs.load(torch.device("cpu"), None)
    assert (theirs.grid, theirs.depths, theirs.steps) == (ours.grid, ours.depths, ours.steps)  # from configs
    a = _attention_record(ours, "a red ball on grass", 5)
    b = _attention_record(theirs, "a red ball on grass", 5)
    assert a.keys() == b.keys()
    for stack in a:
        # the same attention up to the conversion's small differences (Wan 1.1%, HunyuanVideo 3.2% of the
        # largest ā at 8 steps); HunyuanVideo's text padding left unmasked gives 16%, its text rows scored as
        # video 30%
        err = (a[stack] - b[stack]).abs().max() / a[stack].abs().max()
        assert err < 0.06, (stack, float(err))


def test_profile_model_profiles_a_diffusers_pipeline_into_a_preset_the_adapter_reads(converted, profile_main, tmp_path):
    from diffusers import DiffusionPipeline

    from delta_cache.diffusers import enable_delta_cache
    from delta_cache.diffusers.convert import read_call

    out = tmp_path / "wan.json"
    argv = ["--diffusers", str(converted["wan"]), "--num_inference_steps", "4", "--target_speedup", "1.5"]
    argv += ["--validate", "1", "--sensitivity", "none", "--out", str(out), "--stats_dir", str(tmp_path / "s")]
    assert profile_main(argv) == 0
    data = json.loads(out.read_text())
    assert data["provenance"]["pipeline"] == "WanPipeline" and data["depths"] == {"blocks": 8}
    assert len(data["adaptive"]["step_costs"]) == 4  # measured through the pipeline too
    assert (tmp_path / "wan_figures" / "r_attn.png").is_file()
    pipe = DiffusionPipeline.from_pretrained(str(converted["wan"]))
    call = {**read_call(converted["wan"]), "num_inference_steps": 4}
    for method in (None, "adaptive"):
        with enable_delta_cache(pipe, preset=out, method=method) as cache:
            pipe("a red ball", output_type="latent", generator=torch.Generator().manual_seed(0), **call)
            assert cache.stats()["theoretical_speedup"] > 1.2, method


def test_profiling_a_pipeline_refuses_bad_input_in_one_line_before_loading(converted, profile_main, tmp_path, capsys):
    def index(name: str, **components) -> str:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline", **components}))
        return str(folder)

    flux = index("flux", transformer=["diffusers", "FluxTransformer2DModel"])
    experts = index("a14b", transformer=["diffusers", "WanTransformer3DModel"], transformer_2=["diffusers", "x"])
    cases = [
        (["--diffusers", str(tmp_path / "missing")], "no such folder"),
        (["--diffusers", str(tmp_path)], "not a diffusers pipeline"),
        (["--diffusers", flux], "its transformer is FluxTransformer2DModel; the profiler supports"),
        (["--diffusers", experts], "has two experts"),
        (["--diffusers", str(converted["wan"]), "--num_inference_steps", "0"], "must be a positive integer"),
        (["--diffusers", str(converted["wan"]), "--height", "60"], "must be multiples of 8"),
        (["--diffusers", str(converted["wan"]), "--num_frames", "16"], "must be 4 x k + 1"),
        (["--diffusers", str(converted["wan"]), "--true_cfg_scale", "4"], "WanPipeline takes no true_cfg_scale"),
        (["--diffusers", str(converted["wan"]), "--model", "wan"], "give --model (our stacks) or --diffusers"),
        (["--diffusers", str(converted["wan"]), "--mask", "scene"], "--mask scene needs a tiny trained model"),
    ]
    for argv, message in cases:
        code, err = run_main(profile_main, [*argv, "--out", str(tmp_path / "p.json")], capsys)
        assert code != 0 and message in err.strip().splitlines()[-1], (argv, err[-400:])
    assert not (tmp_path / "p.json").exists()
