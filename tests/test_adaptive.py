"""`adaptive`: the refresh plan, the knob, the forecast, the online rule, its wiring into the CLIs and the profiler."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from conftest import run_main
from test_peers import _Drifting, _view

from delta_cache.adaptive import Adaptive
from delta_cache.peers import make_policy
from delta_cache.schedule import REFRESH, REUSE
from delta_cache.step_plan import growth, plan_refreshes


def _cost(costs, plan, order=1):
    """A plan's summed reuse cost, counted the way the docstring of step_plan says."""
    total, last = 0.0, 0
    for s in range(len(costs)):
        if s in plan:
            last = s
        else:
            total += costs[s] * growth(s - last, order)
    return total


@pytest.mark.parametrize("order", [0, 1])
def test_the_plan_is_the_cheapest_with_its_refresh_count(order):
    costs = [0.0, 3.0, 1.0, 5.0, 0.2, 0.1, 4.0, 0.3, 2.0]
    for count in range(3, 8):
        plan = plan_refreshes(costs, count, max_gap=3, order=order)
        assert len(plan) == count and plan[0] == 0
        feasible = [
            (0, *rest)
            for rest in itertools.combinations(range(1, len(costs)), count - 1)
            if max(b - a for a, b in zip((0, *rest), (*rest, len(costs)), strict=True)) <= 4
        ]
        assert _cost(costs, plan, order) == pytest.approx(min(_cost(costs, p, order) for p in feasible))
    # the costly steps 3 and 6 refresh first; gaps never exceed max_gap
    assert {3, 6} <= set(plan_refreshes(costs, 3, max_gap=6))
    assert plan_refreshes(costs, 1, max_gap=2) == (0, 3, 6)  # clipped up to what max_gap allows


def test_the_knob_is_monotone_and_reaches_the_asked_speedup():
    costs = [0.0] + [float(c) for c in torch.rand(24, generator=torch.Generator().manual_seed(0))]
    computed = []
    for speedup in (1.0, 1.3, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0):
        policy = Adaptive(speedup=speedup, step_costs=costs, cached={"blocks": [0, 1, 2, 4, 5]})
        policy.bind({"blocks": 6})
        plan = policy.plan(25)
        evals = 25 + 5 * len(plan)  # block 3 on every pass
        # reached, or as far as max_gap (6) allows: 4 refreshes, 150 / 45 = 3.33x
        assert 6 * 25 / evals >= speedup - 1e-9 or len(plan) == 4
        computed.append(evals)
    assert computed == sorted(computed, reverse=True) and computed[0] == 150 and computed[-1] == 45
    # the blocks not in the profile are never wrapped; "all" wraps every one
    assert policy.cached() == {"blocks": (0, 1, 2, 4, 5)}
    everything = Adaptive(step_costs=costs, blocks="all")
    everything.bind({"blocks": 6})
    assert everything.cached() == {"blocks": tuple(range(6))}


def test_no_run_reuses_before_its_first_refresh_and_the_forecast_is_exact_on_a_linear_delta():
    drift = _Drifting()
    # the cheapest three refreshes of six steps under these costs: 0, 1 and 3 (steps 2, 4, 5 reuse)
    costs = [0.0, 9.0, 0.1, 9.0, 0.1, 0.1]
    out, records, stats = drift.cached(Adaptive(speedup=2.0, step_costs=costs))
    assert [r["blocks"] for r in records] == ["refresh", "refresh", "reuse", "refresh", "reuse", "reuse"]
    for s in range(6):  # the deltas change linearly with the step: every reuse forecasts them exactly
        assert torch.allclose(out[s], drift.full[s], atol=1e-6), s
    held, _, _ = drift.cached(Adaptive(speedup=2.0, step_costs=costs, order=0))
    assert not torch.allclose(held[5], drift.full[5])
    x = drift.x
    assert stats["cache_bytes_peak"] == 3 * x.numel() * x.element_size()  # two deltas and a refresh's anchor
    assert stats["theoretical_speedup"] == 2.0 and stats["method_settings"]["refresh_steps"] == [0, 1, 3]
    # a plan made for another step count is refused, naming both
    with pytest.raises(ValueError, match="measured 6 steps, this run has 8"):
        Adaptive(step_costs=costs).plan(8)


def test_the_online_rule_reuses_while_the_predicted_forecast_error_is_within_tolerance():
    policy = Adaptive(tolerance=0.1, max_gap=3)
    policy.bind({"blocks": 2})

    def step(s, error=None):
        view = _view(10, s)
        decision = policy.decide(view, None)
        if decision == REFRESH and error is not None:  # what the handle reports after the refresh's pass
            policy.forecast_observed("cond", "blocks", 0, torch.tensor(error), torch.tensor(1.0))
        return decision, view.record.get("indicator", {})

    # steps 0-2 refresh (no measurement yet); step 2's forecast from 0, 1 missed by 0.01: C = 0.01 / (1 * 2)
    assert step(0)[0] == step(1)[0] == REFRESH
    assert step(2, 0.01)[0] == REFRESH
    decision, seen = step(3)  # h = 1 from refreshes 1 apart: 0.005 * 1 * 2 = 0.01
    assert decision == REUSE and seen["predicted"] == pytest.approx(0.01)
    assert seen["forecast_error"] == pytest.approx(0.01)
    assert step(4)[0] == REUSE  # 0.005 * 2 * 3 = 0.03
    assert step(5)[0] == REUSE  # 0.005 * 3 * 4 = 0.06
    assert step(6, 0.5)[0] == REFRESH  # h = 4 > max_gap; its forecast from 1, 2 over 4 steps missed by 0.5
    decision, seen = step(7)  # C = 0.5 / (4 * 5) = 0.025; h = 1 from refreshes 4 apart: 0.025 * 5 = 0.125
    assert decision == REFRESH and seen["predicted"] == pytest.approx(0.125)


def test_the_online_rule_measures_forecasts_on_a_model_and_counts_the_extra_tensor():
    drift = _Drifting()
    out, records, stats = drift.cached(Adaptive(tolerance=1e-3))
    # linear deltas: every forecast is exact, so after three refreshes every pass reuses (up to max_gap)
    assert [r["blocks"] for r in records] == ["refresh"] * 3 + ["reuse"] * 3
    assert records[3]["indicator"]["forecast_error"] == pytest.approx(0.0, abs=1e-6)
    for s in range(6):
        assert torch.allclose(out[s], drift.full[s], atol=1e-6), s
    x = drift.x  # the forecast of a refresh's own step beside two deltas, the anchor and the new delta
    assert stats["cache_bytes_peak"] == 4 * x.numel() * x.element_size()


def test_adaptive_settings_and_refusals():
    with pytest.raises(ValueError, match="no step costs for this model; profile it"):
        make_policy("adaptive", {})
    assert make_policy("adaptive", {}, {"tolerance": 0.2}).tolerance == 0.2
    policy = make_policy("adaptive", {"adaptive": {"step_costs": [0.0, 1.0], "cached": {"blocks": [1]}}}, {})
    assert policy.speedup == 2.0 and policy.profile == {"blocks": (1,)}
    with pytest.raises(ValueError, match="do not fit depths"):
        policy.bind({"blocks": 1})
    with pytest.raises(ValueError, match="adaptive blocks must be profile or all"):
        make_policy("adaptive", {}, {"blocks": "some", "tolerance": 0.1})


def test_generate_adaptive_on_the_shipped_tiny_model_reaches_the_asked_speedup(tmp_path, generate_main):
    out = tmp_path / "a.mp4"
    argv = ["--prompt", "a red ball", "--sample_steps", "25", "--save_file", str(out)]
    assert generate_main([*argv, "--delta_cache", "--cache_method", "adaptive", "--cache_speedup", "2.5"]) == 0
    stats = json.loads(out.with_name("a.delta_cache.json").read_text())
    assert stats["method"] == "adaptive" and 2.5 <= stats["theoretical_speedup"] < 3.2
    assert stats["method_settings"]["speedup"] == 2.5


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--cache_speedup", "2"], "--cache_speedup applies to --cache_method adaptive, not teacache"),
        (["--cache_method", "adaptive", "--cache_preset", "wan2.1-t2v-tiny"], "takes a profiled preset file"),
        (["--cache_method", "adaptive", "--cache_speedup", "0.5"], "speedup >= 1"),
    ],
)
def test_generate_adaptive_bad_input_is_one_line(tmp_path, generate_main, capsys, extra, message):
    method = [] if "--cache_method" in extra else ["--cache_method", "teacache"]
    argv = ["--delta_cache", *method, *extra, "--save_file", str(tmp_path / "x.mp4")]
    code, err = run_main(generate_main, argv, capsys)
    assert code == 2 and message in err and not list(tmp_path.iterdir())


def test_a_preset_file_without_an_adaptive_section_is_refused(tmp_path, generate_main, capsys):
    from delta_cache import save_preset
    from wan.cache_spec import TINY_MEASURED

    plain = save_preset(tmp_path / "plain.json", TINY_MEASURED)
    argv = ["--delta_cache", "--cache_method", "adaptive", "--cache_preset", str(plain)]
    code, err = run_main(generate_main, [*argv, "--save_file", str(tmp_path / "x.mp4")], capsys)
    assert code == 2 and "has no adaptive section" in err and not (tmp_path / "x.mp4").exists()


def test_profile_adaptive_only_writes_step_costs_into_a_preset_file(tmp_path, profile_main):
    from delta_cache import save_preset
    from delta_cache.preset_file import read_preset_dict
    from wan.cache_spec import DEBUG_DEMO

    path = save_preset(tmp_path / "debug.json", DEBUG_DEMO)
    argv = ["--task", "t2v-debug", "--sample_steps", "5", "--adaptive_only", "--out", str(path)]
    assert profile_main(argv) == 0
    section = read_preset_dict(path)["adaptive"]
    assert section["cached"] == {"blocks": [1, 2]} and len(section["step_costs"]) == 5
    assert section["step_costs"][0] == 0 and all(c > 0 for c in section["step_costs"][1:])
    # and the CLI runs with it
    policy = make_policy("adaptive", {"adaptive": section}, {"speedup": 1.2})
    policy.bind({"blocks": 4})
    assert len(policy.plan(5)) < 5
