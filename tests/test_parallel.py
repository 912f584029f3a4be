"""Sequence parallelism on CPU: 2 processes under torchrun (gloo, yunchang's all-to-all) against one process.

Every multi-process run has a timeout: a hang fails the test instead of stalling CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from conftest import HY_DEBUG, REPO, run_main

GENERATE = REPO / "Wan2.1" / "generate.py"
SAMPLE_VIDEO = REPO / "HunyuanVideo" / "sample_video.py"
TIMEOUT = 240


def env() -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    paths = f"{REPO / 'Wan2.1'}{os.pathsep}{REPO / 'HunyuanVideo'}{os.pathsep}{REPO}"
    # PYTHONFAULTHANDLER: a worker that aborts (SIGABRT) prints its Python stacks into the failure message
    return {**clean, "PYTHONPATH": paths, "PYTHONFAULTHANDLER": "1"}


def torchrun(nproc: int, script, *args: str, cwd=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", str(script)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env(), cwd=cwd, timeout=TIMEOUT)


# ---------------------------------------------------------------------------------------------------
# Model level: tiny random models, several shapes, cached denoising loops


@pytest.fixture(scope="module")
def worker(tmp_path_factory) -> dict:
    """tests/sp_worker.py's results for every model, from one torchrun (its process group serves them all)."""
    out = tmp_path_factory.mktemp("sp_worker") / "result.json"
    res = torchrun(2, REPO / "tests" / "sp_worker.py", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("model", ["wan", "hyvideo"])
def test_sequence_parallel_equals_single_process(worker, model):
    result = worker[model]
    # wan: divisible and padded (9 tokens on 2 ranks) sequences, a batch of 2, a cached UniPC loop;
    # hyvideo: split along height and along width, padded unequal text masks in a batch of 2, a cached loop
    cases = ["even", "odd", "batch", "cached"] if model == "wan" else ["split_height", "split_width", "cached"]
    # the profiler's ā, exact and query-sampled, reduced over the group: the single-process values
    cases += ["profile_exact", "profile_sampled"]
    for case in cases:
        assert result[case] <= 1e-5, (case, result[case])
    assert len(result["reused_per_rank"]) == 2 and min(result["reused_per_rank"]) > 0
    assert result["records_equal"] and result["divergence_raised_on"] == []


def test_fsdp_shards_a_cpu_loaded_model_and_never_gathers_a_reused_block(worker):
    result = worker["wan_fsdp"]
    assert result["cached"] <= 1e-5  # sharded cached loop == unsharded cached loop
    assert 0.45 < result["shard_fraction"] < 0.55  # each rank holds half of the block weights
    # 6 steps x 2 branches = 12 passes; blocks 1-2 are reused on 6 of them and gathered only on the other 6
    assert result["reused_cond"] == 6
    assert result["all_gathers_per_block"] == [12, 6, 6, 12]


def test_ranks_that_plan_alike_but_execute_differently_raise_on_every_rank(worker):
    # rank 1 executed its last refresh as a full step: the same plan and collectives, another execution
    result = worker["wan"]["diverged"]
    assert not result["records_equal"]
    assert result["divergence_raised_on"] == [0, 1]


def test_a_failing_rank_takes_the_group_down_instead_of_hanging(tmp_path):
    import time

    t0 = time.monotonic()
    res = torchrun(
        2, REPO / "tests" / "sp_worker.py", "--models", "wan", "--out", str(tmp_path / "r.json"), "--fail_rank", "1"
    )
    assert res.returncode != 0
    assert "injected failure on rank 1" in res.stderr
    assert time.monotonic() - t0 < 120  # rank 0 was stopped, not left waiting in its all-to-all
    assert not (tmp_path / "r.json").exists()


# ---------------------------------------------------------------------------------------------------
# The CLIs under torchrun: same video as one process, one report, files from rank 0 only


def _frames(path) -> np.ndarray:
    return iio.imread(path).astype(int)


def _assert_same_video(a, b, mean: float = 0.1, most: int = 8) -> None:
    """Two mp4s of one generation: Ulysses' head split (and sharded weights) change float rounding (1e-7 in the
    latents, tests/sp_worker.py), which the codec can turn into a few levels on a pixel here and there (up to 6
    on some CPUs): 8-bit noise only. A broken split moves whole frames."""
    diff = np.abs(_frames(a) - _frames(b))
    assert diff.mean() < mean and diff.max() <= most, (diff.mean(), diff.max())


WAN_CACHED = ["--task", "t2v-debug", "--base_seed", "3", "--sample_steps", "6", "--delta_cache"]


@pytest.fixture(scope="module")
def wan_one(tmp_path_factory, generate_main):
    """generate.py in one process with WAN_CACHED: the video both torchrun layouts are compared with."""
    video = tmp_path_factory.mktemp("one") / "one.mp4"
    assert generate_main([*WAN_CACHED, "--save_file", str(video)]) == 0
    return video


@pytest.mark.parametrize("fsdp", [[], ["--dit_fsdp", "--t5_fsdp"]], ids=["replicated", "fsdp"])
def test_generate_under_torchrun_matches_one_process_with_delta_cache(tmp_path, wan_one, fsdp):
    sp_dir = tmp_path / "sp"
    sp_dir.mkdir()
    two = torchrun(2, GENERATE, *WAN_CACHED, "--ulysses_size", "2", *fsdp, cwd=sp_dir)
    assert two.returncode == 0, two.stderr[-3000:]
    videos = list(sp_dir.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].name.startswith("t2v-debug_64x64_2_1_")  # rank 0 only; upstream's name
    _assert_same_video(videos[0], wan_one)
    single = json.loads(wan_one.with_name("one.delta_cache.json").read_text())
    report = json.loads(videos[0].with_name(videos[0].stem + ".delta_cache.json").read_text())
    assert report["ranks"] == 2 and report["sequence_parallel"] == [2, 1]
    assert min(report["reused_per_rank"]) > 0
    assert report["steps"] == single["steps"]
    assert report["block_evals_computed"] == single["block_evals_computed"]
    # each rank caches its half of the sequence: together they hold what one process holds
    assert report["cache_bytes_peak"] == single["cache_bytes_peak"]
    assert report["cache_bytes_peak_per_rank"][0] == single["cache_bytes_peak"] // 2


def test_image_to_video_under_torchrun_matches_one_process_with_delta_cache(tmp_path, generate_main):
    # i2v-debug at the example image's aspect: 3 x 3 x 5 = 45 tokens, padded to 46 for 2 ranks; the image
    # tokens and the conditioning channels reach every rank whole, the video tokens are sharded as for T2V
    common = ["--task", "i2v-debug", "--base_seed", "3", "--sample_steps", "6", "--delta_cache"]
    common += ["--cache_blocks", "1-2", "--cache_warmup", "1", "--cache_interval", "2"]
    assert generate_main([*common, "--save_file", str(tmp_path / "one.mp4")]) == 0
    two = torchrun(2, GENERATE, *common, "--ulysses_size", "2", "--save_file", str(tmp_path / "two.mp4"))
    assert two.returncode == 0, two.stderr[-3000:]
    _assert_same_video(tmp_path / "two.mp4", tmp_path / "one.mp4")
    single = json.loads((tmp_path / "one.delta_cache.json").read_text())
    report = json.loads((tmp_path / "two.delta_cache.json").read_text())
    assert report["steps"] == single["steps"] and report["block_evals_computed"] == single["block_evals_computed"]
    assert single["block_evals_computed"] < single["block_evals_total"]


def test_sample_video_under_torchrun_matches_one_process_with_delta_cache(tmp_path, sample_video_main):
    common = [*HY_DEBUG, "--seed", "5", "--infer-steps", "6", "--delta_cache"]
    assert sample_video_main([*common, "--save-path", str(tmp_path / "one")]) == 0
    two = torchrun(
        2, SAMPLE_VIDEO, *common, "--ulysses-degree", "2", "--ring-degree", "1", "--save-path", str(tmp_path / "two")
    )
    assert two.returncode == 0, two.stderr[-3000:]
    (a,), (b,) = list((tmp_path / "one").glob("*.mp4")), list((tmp_path / "two").glob("*.mp4"))
    # HYVideo-debug's random weights amplify the rounding over the steps (mean 0.43, max 12 levels on some CPUs;
    # the HunyuanVideo TeaCache test below allows as much)
    _assert_same_video(a, b, mean=1, most=16)
    single = json.loads(a.with_name(a.stem + ".delta_cache.json").read_text())
    report = json.loads(b.with_name(b.stem + ".delta_cache.json").read_text())
    assert report["ranks"] == 2 and min(report["reused_per_rank"]) > 0
    assert report["steps"] == single["steps"]
    # image rows are split, the text rows are replicated: each rank holds more than half
    assert single["cache_bytes_peak"] / 2 < report["cache_bytes_peak_per_rank"][0] < single["cache_bytes_peak"]


def _decisions(report: dict) -> list[dict]:
    """The executed actions per pass, without the indicator values (sums in another order under SP)."""
    return [{k: v for k, v in r.items() if k != "indicator"} for r in report["steps"]]


def _indicators(report: dict) -> list[float]:
    return [v for r in report["steps"] for v in (r.get("indicator") or {}).values() if isinstance(v, float)]


@pytest.mark.parametrize("method", ["fbcache", "dicache", "adaptive"])
def test_a_data_dependent_peer_under_torchrun_decides_on_global_statistics(tmp_path, generate_main, method):
    # On Wan the first block's residual (FBCache) and the probe's output and residuals (DiCache: its change and
    # its extrapolation factor) are sharded over the ranks; every sum behind them is all-reduced
    common = ["--task", "t2v-debug", "--base_seed", "3", "--sample_steps", "8", "--delta_cache"]
    # adaptive: its online rule, which measures each refresh's forecast error over the sharded deltas
    setting = ["--adaptive_tolerance", "0.5"] if method == "adaptive" else ["--cache_thresh", "0.9"]
    common += ["--cache_method", method, *setting]
    assert generate_main([*common, "--save_file", str(tmp_path / "one.mp4")]) == 0
    sp_dir = tmp_path / "sp"
    sp_dir.mkdir()
    two = torchrun(2, GENERATE, *common, "--ulysses_size", "2", cwd=sp_dir)
    assert two.returncode == 0, two.stderr[-3000:]  # reduce_stats raises if the ranks executed differently
    (video,) = list(sp_dir.glob("*.mp4"))
    _assert_same_video(video, tmp_path / "one.mp4")
    single = json.loads((tmp_path / "one.delta_cache.json").read_text())
    report = json.loads(video.with_name(video.stem + ".delta_cache.json").read_text())
    assert report["ranks"] == 2 and min(report["reused_per_rank"]) > 0
    assert _decisions(report) == _decisions(single)
    assert np.allclose(_indicators(report), _indicators(single), rtol=1e-4) and _indicators(single)


def test_teacache_on_hyvideo_under_torchrun_equals_one_process(tmp_path, sample_video_main):
    # TeaCache on HunyuanVideo: the modulated input of double block 0 is this rank's image rows
    common = [*HY_DEBUG, "--seed", "5", "--infer-steps", "6", "--delta_cache", "--cache_method", "teacache"]
    common += ["--cache_thresh", "0.15"]  # about 0.06 accumulated per step here: reuse, reuse, compute, ...
    assert sample_video_main([*common, "--save-path", str(tmp_path / "one")]) == 0
    two = torchrun(
        2, SAMPLE_VIDEO, *common, "--ulysses-degree", "2", "--ring-degree", "1", "--save-path", str(tmp_path / "two")
    )
    assert two.returncode == 0, two.stderr[-3000:]
    (a,), (b,) = list((tmp_path / "one").glob("*.mp4")), list((tmp_path / "two").glob("*.mp4"))
    # The debug model's frames are noise-like: float-rounding differences of the sharded attention flip a few
    # codec decisions (seen without any cache too: up to 13 levels at seed 7), so the frames agree on average
    diff = np.abs(_frames(a) - _frames(b))
    assert diff.mean() < 1 and diff.max() <= 16
    single = json.loads(a.with_name(a.stem + ".delta_cache.json").read_text())
    report = json.loads(b.with_name(b.stem + ".delta_cache.json").read_text())
    assert report["ranks"] == 2 and min(report["reused_per_rank"]) > 0
    assert _decisions(report) == _decisions(single)
    assert np.allclose(_indicators(report), _indicators(single), rtol=1e-4) and _indicators(single)


# ---------------------------------------------------------------------------------------------------
# Bad layouts: one clear error from rank 0, non-zero exit, no hang


def test_generate_world_size_mismatch_is_one_error_from_rank_zero(tmp_path):
    res = torchrun(2, GENERATE, "--task", "t2v-debug", "--ulysses_size", "3", cwd=tmp_path)
    assert res.returncode != 0
    assert res.stderr.count("must equal the world size 2") == 1
    assert not list(tmp_path.iterdir())


def test_generate_heads_not_divisible(tmp_path):
    res = torchrun(3, GENERATE, "--task", "t2v-debug", "--ulysses_size", "3", cwd=tmp_path)  # 2 heads
    assert res.returncode != 0
    assert res.stderr.count("2 attention heads are not divisible by the Ulysses degree 3") == 1


def test_sample_video_bad_degrees_under_torchrun(tmp_path):
    flags = [*HY_DEBUG, "--ulysses-degree", "1", "--ring-degree", "1", "--save-path", str(tmp_path)]
    res = torchrun(2, SAMPLE_VIDEO, *flags)
    assert res.returncode != 0
    assert "Ulysses degree 1 x ring degree 1 = 1 must equal the world size 2" in res.stderr


@pytest.mark.parametrize(
    ("script", "flags", "message"),
    [
        (GENERATE, ["--task", "t2v-debug", "--ulysses_size", "2"], "torchrun --nproc_per_node=2"),
        (GENERATE, ["--task", "t2v-debug", "--dit_fsdp"], "launch with torchrun"),
        (SAMPLE_VIDEO, ["--ring-degree", "2"], "torchrun --nproc_per_node=2"),
        (SAMPLE_VIDEO, ["--ulysses-degree", "0"], "must be >= 1"),
    ],
)
def test_parallel_flags_without_torchrun_are_refused(tmp_path, request, capsys, monkeypatch, script, flags, message):
    monkeypatch.chdir(tmp_path)
    main = request.getfixturevalue("generate_main" if script == GENERATE else "sample_video_main")
    code, err = run_main(main, flags, capsys)
    assert code == 2
    assert message in err.strip().splitlines()[-1]
    assert not list(tmp_path.iterdir())


def test_hyvideo_validation_checks_the_split_before_loading(monkeypatch, tmp_path):
    from hyvideo.cli import build_parser, validate

    monkeypatch.setenv("WORLD_SIZE", "2")
    p = build_parser()
    debug = ["--model", "HYVideo-debug"]  # upstream's patch (1, 2, 2): 16-pixel tokens
    argv = [*debug, "--ulysses-degree", "2", "--video-size", "64", "96", "--save-path", str(tmp_path)]
    assert validate(p, p.parse_args(argv)).ulysses_degree == 2
    with pytest.raises(SystemExit) as err:  # token grid 3 x 3: neither axis divides by 2
        validate(p, p.parse_args([*debug, "--ulysses-degree", "2", "--video-size", "48", "48"]))
    assert err.value.code == 2
    with pytest.raises(SystemExit):
        validate(p, p.parse_args(["--ulysses-degree", "2", "--use-cpu-offload"]))
    if not torch.cuda.is_available():  # ring attention is xfuser's, CUDA only
        with pytest.raises(SystemExit):
            validate(p, p.parse_args(["--ring-degree", "2"]))


# ---------------------------------------------------------------------------------------------------
# Pieces, in one process


def test_check_degrees_messages():
    from usp import check_degrees

    check_degrees(4, 2, 8, 40)
    with pytest.raises(ValueError, match="must equal the world size 8"):
        check_degrees(4, 1, 8, 40)
    with pytest.raises(ValueError, match="12 attention heads are not divisible by the Ulysses degree 8"):
        check_degrees(8, 1, 8, 12)  # Wan 1.3B on 8 GPUs: use --ulysses_size 4 --ring_size 2
    with pytest.raises(ValueError, match="needs that many processes"):
        check_degrees(2, 1, 1, 40)


def test_split_axis_prefers_height_then_width():
    from hyvideo.parallel import split_axis

    assert split_axis((33, 45, 80), 5) == 2  # 720x1280 at 129 frames on 5 GPUs (upstream's table)
    assert split_axis((33, 45, 80), 8) == 3
    with pytest.raises(ValueError, match="neither the latent token height 45 nor width 80"):
        split_axis((33, 45, 80), 7)


class _FakeGroup:
    """Enough of SequenceParallelGroup for the seams' shape logic (no process group)."""

    def __init__(self, size: int, rank: int):
        self.ulysses_degree, self.ring_degree, self.rank, self.size = size, 1, rank, size


def test_wan_shard_rule_and_remove():
    from wan.modules.model import WanModel
    from wan.parallel import ShardedSequence, parallelize, unparallelize

    seam = ShardedSequence(_FakeGroup(2, 1))
    x, rope = torch.arange(8.0).view(1, 8, 1), torch.arange(8.0).view(1, 8, 1, 1)
    xs, lens, ropes = seam.shard(x, torch.tensor([7]), rope)
    assert xs.flatten().tolist() == [4, 5, 6, 7] and ropes.flatten().tolist() == [4, 5, 6, 7] and lens.item() == 7
    with pytest.raises(ValueError, match="not a multiple of the sequence-parallel size 2"):
        seam.shard(x[:, :7], lens, rope[:, :7])

    model = WanModel(dim=32, ffn_dim=32, freq_dim=16, text_dim=16, text_len=4, num_heads=2, num_layers=2)
    keys = list(model.state_dict())
    parallelize(model, _FakeGroup(2, 0))
    assert all(b.self_attn.sp is not None and b.cross_attn.sp is None for b in model.blocks)
    unparallelize(model)
    assert list(model.state_dict()) == keys and model.sp.size == 1
    assert all(b.self_attn.sp is None for b in model.blocks)
    with pytest.raises(ValueError, match="2 heads are not divisible by the Ulysses degree 4"):
        parallelize(model, _FakeGroup(4, 0))


def test_hyvideo_shard_keeps_global_rope_rows():
    from hyvideo.parallel import GridShardedSequence

    grid = (2, 4, 3)  # height 4 splits by 2
    seam = GridShardedSequence(_FakeGroup(2, 1))
    img = torch.arange(24.0).view(1, 24, 1)
    pos = torch.arange(24.0).view(24, 1)
    local, (cos, sin) = seam.shard(img, (pos, pos), grid)
    # rank 1 holds rows h = 2, 3 of every frame: tokens (t, h, w) with flat index t*12 + h*3 + w
    want = [t * 12 + h * 3 + w for t in range(2) for h in (2, 3) for w in range(3)]
    assert local.flatten().tolist() == want and cos.flatten().tolist() == want


# ---------------------------------------------------------------------------------------------------
# The launchers


@pytest.mark.parametrize(
    ("launcher", "flags", "prefix"),
    [
        ("launch_wan.sh", ["--task", "t2v-debug", "--sample_steps", "2", "--base_seed", "1"], "t2v-debug_64x64_2_1_"),
        ("launch_hyvideo.sh", ["--infer-steps", "2", "--seed", "1", "--save-path", "."], ""),
    ],
)
def test_launcher_runs_two_processes(tmp_path, launcher, flags, prefix):
    res = subprocess.run(
        ["bash", str(REPO / "scripts" / launcher), "2", *flags],
        capture_output=True,
        text=True,
        env={**env(), "FSDP": "0"},
        cwd=tmp_path,
        timeout=TIMEOUT,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "2 processes, ulysses 2 x ring 1" in res.stderr
    videos = list(tmp_path.glob("*.mp4"))
    assert len(videos) == 1 and videos[0].name.startswith(prefix)


def test_launcher_refuses_other_gpu_counts():
    res = subprocess.run(["bash", str(REPO / "scripts" / "launch_hyvideo.sh"), "3"], capture_output=True, text=True)
    assert res.returncode == 2 and "usage" in res.stderr


def test_profile_under_torchrun_writes_the_single_process_profile(tmp_path, profile_main):
    # the errors against full compute under the group (what the sensitivity runs measure too): two validations
    common = ("--num_prompts", "1", "--sample_steps", "6", "--validate", "2", "--sensitivity", "none", "--no_adaptive")
    script = REPO / "scripts" / "profile_model.py"
    assert profile_main([*common, "--out", str(tmp_path / "one.json"), "--stats_dir", str(tmp_path / "s1")]) == 0
    two = torchrun(
        2,
        script,
        *common,
        "--out",
        str(tmp_path / "two.json"),
        "--stats_dir",
        str(tmp_path / "s2"),
        "--ulysses_size",
        "2",
    )
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two"))
    assert a["stacks"] == b["stacks"]
    sa, sb = a["provenance"]["statistics"], b["provenance"]["statistics"]
    assert sa["r_attn"] == sb["r_attn"]  # ā reduced over the group: the same to 4 decimals
    assert len(sa["validated"]) == 2
    for ra, rb in zip(sa["validated"], sb["validated"], strict=True):
        assert ra["cached"] == rb["cached"] and abs(ra["latent_rel_l2"] - rb["latent_rel_l2"]) < 1e-5
    assert len(list((tmp_path / "s2").glob("*.pt"))) == 1  # one statistics file: rank 0 writes
