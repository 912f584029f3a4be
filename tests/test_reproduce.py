"""scripts/reproduce.py and the methods registry: outputs, resume, dry run, bad input; the ablation configs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import HY_DEBUG, REPO, run_main, run_script

from evaluation.methods import METHODS, ModelContext, parse_methods

REPRODUCE = REPO / "scripts" / "reproduce.py"


@pytest.fixture
def run(reproduce_main, capsys):
    """reproduce.py's main in this process: (returncode, stdout, stderr) as from the shell."""

    def go(*args: str) -> subprocess.CompletedProcess:
        return run_script(reproduce_main, list(args), capsys)

    return go


WAN_DEBUG = ("--task", "t2v-debug", "--size", "64*64", "--frame_num", "5", "--sample_steps", "8")
HY_DEBUG_RUN = (*HY_DEBUG, "--video-size", "64", "64", "--video-length", "5", "--infer-steps", "6")


def test_two_methods_on_the_wan_debug_model_write_everything_and_resume(tmp_path, run):
    out = tmp_path / "run"
    res = run(*WAN_DEBUG, "--methods", "full,ours", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["method"] for r in rows] == ["full", "ours"]
    ours = rows[1]
    for key in ("prompt", "seed", "video", "psnr", "ssim", "psnr_mp4", "ssim_mp4", "theoretical_speedup", "latency_s"):
        assert key in ours, key
    assert 0 < ours["psnr"] < 200 and 0 < ours["ssim"] <= 1 and ours["theoretical_speedup"] > 1
    assert (out / ours["video"]).stat().st_size > 0 and (out / "pareto.png").stat().st_size > 1000
    tables = (out / "tables.md").read_text()
    assert "| ours |" in tables and "| full |" in tables
    mp4 = out / ours["video"]
    stamp = mp4.stat().st_mtime_ns

    again = run(*WAN_DEBUG, "--methods", "full,ours", "--out", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "videos:" not in again.stderr  # nothing generated
    assert mp4.stat().st_mtime_ns == stamp  # never overwritten
    assert [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()] == rows

    dry = run(*WAN_DEBUG, "--methods", "full,ours,fg-reuse", "--out", str(out), "--dry_run")
    assert dry.returncode == 0 and "1 of 3 videos to generate" in dry.stdout
    # another size into the same folder is refused before anything runs
    other = run("--task", "t2v-debug", "--size", "128*64", "--frame_num", "5", "--sample_steps", "8", "--out", str(out))
    assert other.returncode != 0 and "holds videos of another setting" in other.stderr


def test_hyvideo_debug_dry_run_and_a_run(tmp_path, run):
    common = HY_DEBUG_RUN
    dry = run(*common, "--methods", "full,ours", "--out", str(tmp_path / "hy"), "--dry_run")
    assert dry.returncode == 0 and "2 of 2 videos to generate" in dry.stdout
    assert not (tmp_path / "hy").exists()  # a dry run writes nothing
    res = run(*common, "--methods", "full,ours", "--out", str(tmp_path / "hy"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert len((tmp_path / "hy" / "results.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "full,magic"], "unknown method 'magic'"),
        (["--methods", "fg-reuse:x.json"], "takes no argument"),
        (["--methods", "ours:/nonexistent.json"], "--cache_preset file not found"),
        (["--prompts", "/nonexistent/p.txt"], "--prompts file not found"),
        (["--num_prompts", "65"], "--num_prompts must be in 1..64"),
    ],
)
def test_bad_input_fails_before_any_generation(tmp_path, reproduce_main, capsys, args, message):
    code, err = run_main(reproduce_main, [*args, "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and message in err, err[-2000:]
    assert not (tmp_path / "run").exists()


def test_unwritable_out(tmp_path, reproduce_main, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = run_main(reproduce_main, ["--out", str(blocker / "run")], capsys)
    assert code == 2 and "--out" in err.strip().splitlines()[-1]


def test_ablation_configs_follow_their_definitions():
    from wan.cache_spec import TINY_MEASURED

    ctx = ModelContext(depths={"blocks": 8}, num_steps=25, preset=TINY_MEASURED)
    ours = TINY_MEASURED.stacks["blocks"]
    assert METHODS["full"].build(ctx, None) is None
    assert METHODS["fg-reuse"].build(ctx, None).stacks["blocks"].cached == (5,)  # what ours computes
    assert METHODS["delta-dit"].build(ctx, None).stacks["blocks"].cached == (1, 2, 3, 4, 5, 6, 7)  # rear, same size
    count = len(ours.refreshes(25))
    gaps = {}
    for name in ("stepwise", "step-inverse", "step-average"):
        sched = METHODS[name].build(ctx, None).stacks["blocks"]
        steps = sched.refreshes(25)
        assert len(steps) == count and steps[0] == ours.warmup and sched.cached == ours.cached, name
        gaps[name] = [b - a for a, b in zip(steps, steps[1:], strict=False)]
    assert gaps["stepwise"][0] > gaps["stepwise"][-1]  # decreasing
    assert gaps["step-inverse"][0] < gaps["step-inverse"][-1]  # increasing
    assert max(gaps["step-average"]) - min(gaps["step-average"]) <= 1  # equal up to rounding
    with pytest.raises(ValueError, match="no built-in preset"):
        METHODS["ours"].build(ModelContext(depths={"blocks": 30}, num_steps=50, preset=None), None)
    assert parse_methods("full, ours,ours:a.json") == [("full", None), ("ours", None), ("ours", "a.json")]


def test_the_paper_commands_dry_run_on_the_debug_models(tmp_path, run):
    # docs/results.md's Table 1 and Table 2 command lines, with the debug models in place of the real weights
    hy_prompts = str(REPO / "assets" / "prompts_hunyuanvideo.txt")
    hy = run(
        *HY_DEBUG_RUN,
        "--seed",
        "42",
        "--fixed_seed",
        "--prompts",
        hy_prompts,
        "--out",
        str(tmp_path / "t1"),
        "--methods",
        "full,ours,fg-reuse,stepwise,step-inverse,step-average",
        "--dry_run",
    )
    assert hy.returncode == 0, hy.stderr[-2000:]
    assert "48 of 48 videos to generate" in hy.stdout and hy.stdout.count("seed 42 ") == 48
    wan = run(
        *WAN_DEBUG,
        "--base_seed",
        "42",
        "--fixed_seed",
        "--prompts",
        str(REPO / "assets" / "prompts_wan.txt"),
        "--methods",
        "full,ours",
        "--out",
        str(tmp_path / "t2"),
        "--dry_run",
    )
    assert wan.returncode == 0, wan.stderr[-2000:]
    assert "8 of 8 videos to generate" in wan.stdout


def test_split_changes_the_cached_set_at_ours_middle_refresh(tmp_path, run):
    # t2v-debug's preset: blocks 1, 2 cached, warm-up 2, refresh every 3 -> refreshes 2 and 5 in 8 steps.
    # split: blocks 0, 3 cached from the warm-up (refresh 2), blocks 1, 2 from step 5 (refresh 5). Per branch:
    # steps 0-1 full (2 x 4), refresh 2 (4), reuse 3-4 (2 x 2), refresh 5 (4), reuse 6-7 (2 x 2) = 24 of 32.
    out = tmp_path / "run"
    res = run(*WAN_DEBUG, "--methods", "full,split,alternate", "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    rows = {json.loads(line)["method"]: json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()}
    assert rows["split"]["block_evals_computed"] == 2 * 24
    assert rows["split"]["theoretical_speedup"] == pytest.approx(32 / 24)
    assert 0 < rows["alternate"]["psnr"] < 200


def test_a_rerun_regenerates_what_a_changed_prompt_or_preset_content_changed(tmp_path, capsys):
    from delta_cache import CacheConfig, StackSchedule, save_preset

    sys.path.insert(0, str(REPO / "scripts"))
    from reproduce import main

    prompts, out = tmp_path / "prompts.txt", tmp_path / "run"
    prompts.write_text("a red circle\na blue square\n")
    for folder, cached in (("A", (0, 1)), ("B", (1, 2))):  # two preset files of the same name, other blocks
        (tmp_path / folder).mkdir()
        config = CacheConfig(stacks={"blocks": StackSchedule(cached=cached, warmup=2, interval=2)}, name="p")
        save_preset(tmp_path / folder / "p.json", config, {"blocks": 4})
    common = [*WAN_DEBUG, "--prompts", str(prompts), "--out", str(out), "--skip_metrics", "lpips,fid,vbench"]
    assert main([*common, "--methods", f"full,ours:{tmp_path / 'A' / 'p.json'}"]) == 0
    before = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    stamps = [(out / r["video"]).stat().st_mtime_ns for r in before]

    prompts.write_text("a red circle\na green triangle\n")  # the second prompt edited
    ours_b = f"full,ours:{tmp_path / 'B' / 'p.json'}"
    capsys.readouterr()
    assert main([*common, "--methods", ours_b, "--dry_run"]) == 0
    # full's first video stays; full's second and both of ours (another preset's content) are made again
    assert "3 of 4 videos to generate" in capsys.readouterr().out
    assert main([*common, "--methods", ours_b]) == 0
    after = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in after] == ["a red circle", "a green triangle"] * 2
    regenerated = [(out / r["video"]).stat().st_mtime_ns != t for r, t in zip(after, stamps, strict=True)]
    assert regenerated == [False, True, True, True]
    capsys.readouterr()
    assert main([*common, "--methods", ours_b, "--dry_run"]) == 0
    assert "0 of 4 videos to generate" in capsys.readouterr().out


def test_the_model_flag_is_read_in_both_spellings():
    from evaluation.targets import select_target

    def pick(argv):
        cls, rest = select_target(argv, "p")
        return cls.name, rest

    assert pick(["--model=hunyuanvideo", "--dry_run"]) == ("hunyuanvideo", ["--dry_run"])
    assert pick(["--model", "hunyuanvideo"]) == ("hunyuanvideo", [])
    assert pick(["--model=HYVideo-debug"]) == ("hunyuanvideo", ["--model", "HYVideo-debug"])  # its own flag stays
    assert pick(["--model=wan", "--task", "t2v-debug"]) == ("wan", ["--task", "t2v-debug"])
    assert pick(["--task", "t2v-debug"])[0] == "wan"  # the registry's first model is the default
    with pytest.raises(SystemExit, match="unknown --model 'sd3'; accepted: wan, hunyuanvideo, HYVideo"):
        select_target(["--model=sd3"], "p")


def test_the_figure_groups_each_methods_settings_library_methods_included():
    from evaluation.harness import _family

    assert _family("adaptive-speedup=2.5") == "adaptive" and _family("fbcache-threshold=0.2") == "fbcache"
    assert _family("adaptive-speedup=3-order=0") == "adaptive (no forecast)"
    assert _family("diffusers-fbcache-threshold=0.1") == "diffusers-fbcache"  # not our fbcache's colour
    assert _family("cachedit-dbcache-taylorseer-threshold=0.5") == "cachedit-dbcache-taylorseer"
    assert _family("cachedit-dbcache-threshold=0.5-max_continuous_cached_steps=-1") == "cachedit-dbcache"
