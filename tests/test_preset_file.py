"""Preset files (`--cache_preset PATH.json`): the built-in presets round-trip, both CLIs read them, bad files are
one-line errors before anything loads."""

from __future__ import annotations

import json

import pytest
from conftest import HY_DEBUG

from delta_cache import CacheConfig, StackSchedule, load_preset, preset_from_dict, preset_to_dict, save_preset
from hyvideo.cache_spec import HY_CACHE_PRESETS
from wan.cache_spec import WAN_CACHE_PRESETS


def _builtins():
    for name, cfg in (WAN_CACHE_PRESETS | HY_CACHE_PRESETS).items():
        yield name, cfg, cfg.depths


@pytest.mark.parametrize(("name", "config", "depths"), list(_builtins()), ids=[b[0] for b in _builtins()])
def test_builtin_presets_round_trip_with_identical_block_counts(tmp_path, name, config, depths):
    assert depths is not None and set(config.stacks) <= set(depths)  # every preset knows its model's depths
    path = save_preset(tmp_path / "p.json", config, provenance={"source": "built-in"})  # the preset's own depths
    back = load_preset(path, depths)
    assert back == config and back.name == name and back.depths == depths
    for steps in (50, 30, 25):  # explicit refresh lists are scaled the same way after the round trip
        for attr, sched in config.stacks.items():
            assert back.stacks[attr].actions(steps) == sched.actions(steps)
            computed = sum(depths[attr] - len(sched.cached) * (a == "reuse") for a in back.stacks[attr].actions(steps))
            assert computed == sum(depths[attr] - len(sched.cached) * (a == "reuse") for a in sched.actions(steps))
    assert json.loads(path.read_text())["provenance"] == {"source": "built-in"}


def test_every_schedule_source_survives_the_file():
    for sched in (
        StackSchedule(cached=(1, 3), warmup=2, linear=(11.0, 2.0), last_full=1),
        StackSchedule(cached=(0,), warmup=1, refresh_steps=(1, 4, 9), for_steps=12),
    ):
        cfg = CacheConfig(stacks={"blocks": sched}, name="x")
        data = json.loads(json.dumps(preset_to_dict(cfg, {"blocks": 4})))
        assert preset_from_dict(data, {"blocks": 4}) == cfg


def _stack(body: str) -> str:
    return (
        f'{{"format": "delta_cache.preset", "version": 1, "depths": {{"blocks": 8}}, "stacks": {{"blocks": {body}}}}}'
    )


# Wrong types in a stack: each a one-line error naming the field, never a traceback.
BAD_TYPES = [
    ('{"cached": [1], "warmup": 2.5, "interval": 2}', "warmup must be an integer >= 0, got 2.5"),
    ('{"cached": [1], "warmup": NaN, "interval": 2}', "warmup must be an integer >= 0, got nan"),
    ('{"cached": [1], "warmup": true, "interval": 2}', "warmup must be an integer >= 0, got True"),
    ('{"cached": [1], "warmup": 1, "linear": [2]}', "linear must be two finite numbers"),
    ('{"cached": [1], "warmup": 1, "linear": [Infinity, 2]}', "linear must be two finite numbers"),
    ('{"cached": [1], "warmup": 1, "interval": "2"}', "interval must be an integer >= 1"),
    ('{"cached": [1], "warmup": 1, "refresh_steps": 4}', "refresh_steps must be a list"),
    ('{"cached": [1], "warmup": 1, "refresh_steps": [1.5]}', "a refresh step must be an integer"),
    ('{"cached": ["1"], "warmup": 1, "interval": 2}', "a cached block index must be an integer"),
    ('{"cached": null, "warmup": 1, "interval": 2}', '"cached" must be a list of block indices'),
    ("null", "expected an object of cached blocks and a schedule"),
]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"format": "other"}', "is not a delta_cache preset"),
        ('{"format": "delta_cache.preset", "version": 9}', "this code reads version 1"),
        ('{"format": "delta_cache.preset", "version": 1, "depths": {"blocks": 40}, "stacks": {}}', "made for a model"),
        (
            '{"format": "delta_cache.preset", "version": 1, "depths": {"blocks": 8}, '
            '"stacks": {"blocks": {"cached": [9], "warmup": 1, "interval": 2}}}',
            "out of range 0..7",
        ),
        (
            '{"format": "delta_cache.preset", "version": 1, "depths": {"blocks": 8}, '
            '"stacks": {"blocks": {"cached": [1], "warmup": 1}}}',
            "exactly one of",
        ),
        (
            '{"format": "delta_cache.preset", "version": 1, "depths": {"blocks": 8}, '
            '"stacks": {"blocks": {"cached": [1], "warmup": 1, "interval": 2, "every": 3}}}',
            "unknown fields",
        ),
        *((_stack(body), message) for body, message in BAD_TYPES),
    ],
)
def test_bad_preset_files_fail_before_loading(tmp_path, generate_main, capsys, content, message):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(SystemExit) as exc:
        generate_main(
            ["--delta_cache", "--cache_preset", str(tmp_path / "bad.json"), "--save_file", str(tmp_path / "o.mp4")]
        )
    assert exc.value.code != 0
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


@pytest.mark.parametrize("value", ["no-such-preset", "missing.json"])
def test_unknown_preset_names_and_missing_files(tmp_path, generate_main, capsys, value):
    with pytest.raises(SystemExit):
        generate_main(
            [
                "--delta_cache",
                "--cache_preset",
                str(tmp_path / value) if value.endswith("json") else value,
                "--save_file",
                str(tmp_path / "o.mp4"),
            ]
        )
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert ("not found" in err) if value.endswith("json") else ("unknown --cache_preset" in err and "t2v-tiny" in err)


def test_generate_runs_a_preset_file(tmp_path, generate_main):
    cfg = CacheConfig(name="mine", stacks={"blocks": StackSchedule(cached=(1, 2), warmup=1, interval=3)})
    path = save_preset(tmp_path / "mine.json", cfg, {"blocks": 4})
    args = ["--task", "t2v-debug", "--sample_steps", "7", "--base_seed", "2", "--delta_cache"]
    assert generate_main([*args, "--cache_preset", str(path), "--save_file", str(tmp_path / "v.mp4")]) == 0
    report = json.loads((tmp_path / "v.delta_cache.json").read_text())
    # 7 steps: full, refresh, reuse, reuse, refresh, reuse, reuse -> 4 reuse steps x 2 blocks x 2 branches
    assert report["preset"] == "mine" and report["block_evals_computed"] == 2 * 7 * 4 - 16


def test_sample_video_runs_a_preset_file_with_one_stack(tmp_path, sample_video_main):
    cfg = CacheConfig(name="singles", stacks={"single_blocks": StackSchedule(cached=(0, 1, 2), warmup=2, interval=2)})
    path = save_preset(tmp_path / "s.json", cfg, {"double_blocks": 2, "single_blocks": 4})
    out = tmp_path / "r"
    assert (
        sample_video_main(
            [*HY_DEBUG, "--save-path", str(out), "--infer-steps", "6", "--delta_cache", "--cache_preset", str(path)]
        )
        == 0
    )
    (report,) = out.glob("*.delta_cache.json")
    stats = json.loads(report.read_text())
    # 6 steps: full, full, refresh, reuse, refresh, reuse -> 2 reuse steps x 3 single blocks, of 6 x 6 blocks
    assert stats["preset"] == "singles" and (stats["block_evals_computed"], stats["block_evals_total"]) == (30, 36)


def test_one_resolution_for_names_files_and_the_default_by_depth(tmp_path):
    from delta_cache import resolve_preset
    from hyvideo.cache_spec import HY_T2V_RELEASED
    from wan.cache_spec import TINY_MEASURED

    tiny = {"blocks": 8}
    assert resolve_preset(None, WAN_CACHE_PRESETS, tiny, "t2v-tiny") is TINY_MEASURED  # the default by depth
    assert resolve_preset(None, WAN_CACHE_PRESETS, tiny, "i2v", default=False) is None
    assert resolve_preset(None, WAN_CACHE_PRESETS, {"blocks": 30}, "t2v-1.3B") is None  # none made for 30 blocks
    hy = {"double_blocks": 20, "single_blocks": 40}
    assert resolve_preset("hunyuanvideo-t2v", HY_CACHE_PRESETS, hy, "HYVideo-tiny") is HY_T2V_RELEASED
    path = save_preset(tmp_path / "p.json", TINY_MEASURED)
    assert resolve_preset(str(path), WAN_CACHE_PRESETS, tiny, "t2v-tiny") == TINY_MEASURED
    with pytest.raises(ValueError, match="preset wan2.1-t2v-14B is for 40 blocks; t2v-tiny has 8 blocks"):
        resolve_preset("wan2.1-t2v-14B", WAN_CACHE_PRESETS, tiny, "t2v-tiny")
    with pytest.raises(ValueError, match="made for a model with {'blocks': 8} blocks per stack"):
        resolve_preset(str(path), WAN_CACHE_PRESETS, {"blocks": 40}, "t2v-14B")
    with pytest.raises(ValueError, match="unknown --cache_preset 'fast'"):
        resolve_preset("fast", WAN_CACHE_PRESETS, tiny, "t2v-tiny")
