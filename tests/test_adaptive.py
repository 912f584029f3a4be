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
from delta_cache.step_plan import (
    SEGMENT_MODELS,
    candidate_plans,
    equal_refreshes,
    equal_refreshes_to_last,
    plan_refreshes,
)


def _cost(costs, plan, model):
    """A plan's total cost: each gap between refreshes (and after the last) costed by the model's segment."""
    bounds = [*plan, len(costs)]
    return sum(SEGMENT_MODELS[model](costs, i, j) for i, j in zip(bounds, bounds[1:], strict=False))


@pytest.mark.parametrize("model", list(SEGMENT_MODELS))
def test_the_plan_is_the_cheapest_with_its_refresh_count(model):
    costs = [0.0, 3.0, 1.0, 5.0, 0.2, 0.1, 4.0, 0.3, 2.0]
    for count in range(3, 8):
        plan = plan_refreshes(costs, count, max_gap=3, model=model)
        assert len(plan) == count and plan[0] == 0
        feasible = [
            (0, *rest)
            for rest in itertools.combinations(range(1, len(costs)), count - 1)
            if max(b - a for a, b in zip((0, *rest), (*rest, len(costs)), strict=True)) <= 4
        ]
        assert _cost(costs, plan, model) == pytest.approx(min(_cost(costs, p, model) for p in feasible))
    # the costly steps 3 and 6 refresh first; gaps never exceed max_gap
    assert {3, 6} <= set(plan_refreshes(costs, 3, max_gap=6, model=model))
    assert plan_refreshes(costs, 1, max_gap=2, model=model) == (0, 3, 6)  # clipped up to what max_gap allows


def test_the_candidates_are_distinct_plans_and_equal_gaps_are_taylorseers_interval():
    assert equal_refreshes(25, 13) == (0, 2, 4, 6, 8, 10, 12, 13, 15, 17, 19, 21, 23)
    assert equal_refreshes(24, 8) == tuple(range(0, 24, 3))
    costs = [0.0] + [1.0] * 11
    plans = candidate_plans(costs, 4, max_gap=3)
    assert len(set(plans.values())) == len(plans) and all(len(p) == 4 and p[0] == 0 for p in plans.values())
    assert plans.get("equal", plans["taylor"]) == (0, 3, 6, 9)  # on equal costs every model spaces evenly
    # TaylorSeer's interval plans on 25 steps, the last step refreshed: intervals 2, 3 and 4
    assert equal_refreshes_to_last(25, 13) == tuple(range(0, 25, 2))
    assert equal_refreshes_to_last(25, 9) == tuple(range(0, 25, 3))
    costs = [0.0] + [1.0] * 23 + [100.0]  # the last step costly: the plan refreshes it, equal gaps from 0 do not
    plans = candidate_plans(costs, 7, max_gap=6)
    assert plans["taylor"] == tuple(range(0, 25, 4)) and 24 not in plans["equal"]
    costs = [0.0] + [10.0] * 5 + [0.01] * 19  # the early steps costly: the plans crowd there, both equal plans stay
    plans = candidate_plans(costs, 7, max_gap=6)
    assert plans["equal-to-last"] == tuple(range(0, 25, 4)) and plans["equal"] == (0, 4, 7, 11, 14, 18, 21)


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
    assert plan_refreshes(costs, 3, max_gap=6) == (0, 1, 3)
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
    # a plan the profiler validated for this refresh count is taken as it is
    chosen = Adaptive(speedup=2.0, step_costs=costs, plans={"3": [0, 2, 4]})
    chosen.bind({"blocks": 3})
    assert chosen.plan(6) == (0, 2, 4)


def test_the_output_level_skip_runs_no_block_on_the_plans_reuse_steps_and_forecasts_the_output():
    import dataclasses

    from delta_cache import apply_cache
    from delta_cache.spec import ModelIO

    drift = _Drifting()
    io = ModelIO(inputs=lambda args, kwargs: [args[0]], outputs=lambda out: [out], pack=lambda t, args, kwargs: t[0])
    spec = dataclasses.replace(drift.spec, io=io)
    ran = []
    hooks = [b.register_forward_hook(lambda m, a, out: ran.append(drift.clock["step"])) for b in drift.model.blocks]
    costs = [0.0, 9.0, 0.1, 9.0, 0.1, 0.1]
    try:
        with apply_cache(drift.model, spec, Adaptive(speedup=2.0, step_costs=costs, blocks="output"), 6) as handle:
            handle.start(6)
            out = drift._outputs(handle)
            records, stats = list(handle.records), handle.stats()
    finally:
        for h in hooks:
            h.remove()
    assert [r["blocks"] for r in records] == ["refresh", "refresh", "reuse", "refresh", "reuse", "reuse"]
    assert sorted(set(ran)) == [0, 1, 3] and len(ran) == 9  # no block (nor anything else) on a reuse step
    for s in range(6):  # the whole model's (output - input) changes linearly here: forecast exactly
        assert torch.allclose(out[s], drift.full[s], atol=1e-6), s
    assert stats["theoretical_speedup"] == 2.0
    with pytest.raises(ValueError, match="takes no tolerance"):
        Adaptive(blocks="output", tolerance=0.1)


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
    data = read_preset_dict(path)
    section = data["adaptive"]
    assert section["cached"] == {"blocks": [1, 2]} and len(section["step_costs"]) == 5
    assert section["step_costs"][0] == 0 and all(c > 0 for c in section["step_costs"][1:])
    # per validated refresh count the plan of least measured error among the candidates
    validated = data["provenance"]["adaptive"]["validated_plans"]
    assert set(section["plans"]) == set(validated) and section["plans"]
    for count, rows in validated.items():
        best = max(rows.values(), key=lambda r: r["psnr"])
        assert section["plans"][count] == best["refresh_steps"] and len(best["refresh_steps"]) == int(count)
    # and the CLI runs with it
    policy = make_policy("adaptive", {"adaptive": section}, {"speedup": 1.2})
    policy.bind({"blocks": 4})
    assert len(policy.plan(5)) < 5


@pytest.mark.parametrize("cache_dtype", [None, "bf16"])
def test_adaptive_with_compiled_blocks_and_either_cache_dtype_matches_eager(cache_dtype):
    from contextlib import nullcontext

    from delta_cache import apply_cache

    drift = _Drifting()

    def generate(policy):
        with apply_cache(drift.model, drift.spec, policy, drift.steps, cache_dtype) as handle:
            handle.start(drift.steps)
            out = []
            for s in range(drift.steps):
                drift.clock["step"] = s
                with handle.branch("cond", s) if handle is not None else nullcontext():
                    out.append(drift.model(drift.x))
            return out, [r["blocks"] for r in handle.records]

    costs = [0.0, 9.0, 0.1, 9.0, 0.1, 0.1]
    for make in (lambda: Adaptive(step_costs=costs), lambda: Adaptive(tolerance=1e-2)):
        eager, eager_actions = generate(make())
        originals = list(drift.model.blocks)
        for i, block in enumerate(originals):
            drift.model.blocks[i] = torch.compile(block, backend="eager", dynamic=False)
        try:
            compiled, actions = generate(make())
        finally:
            for i, block in enumerate(originals):
                drift.model.blocks[i] = block
        assert actions == eager_actions and "reuse" in actions
        tol = 1e-2 if cache_dtype else 1e-6
        for a, b in zip(eager, compiled, strict=True):
            torch.testing.assert_close(a, b, atol=tol, rtol=tol)
        for s in range(drift.steps):  # the forecast stays close to full compute with bf16 deltas too
            torch.testing.assert_close(eager[s], drift.full[s], atol=0.05, rtol=0.05)


@pytest.mark.parametrize("model", ["wan", "hunyuanvideo"])
def test_the_shipped_profiles_knob_never_computes_more_blocks_at_a_higher_speedup(model):
    from delta_cache.preset_file import load_adaptive
    from hyvideo.cache_peers import TINY_PROFILE as HY_PROFILE
    from wan.cache_peers import TINY_PROFILE as WAN_PROFILE

    path, depths = {
        "wan": (WAN_PROFILE, {"blocks": 8}),
        "hunyuanvideo": (HY_PROFILE, {"double_blocks": 20, "single_blocks": 40}),
    }[model]
    section = load_adaptive(path, depths)
    assert section["plans"] and len(section["step_costs"]) == 25
    total = 25 * sum(depths.values())
    previous = total + 1
    for speedup in (1.0, 1.25, 1.5, 1.75, 1.92, 2.0, 2.25, 2.5, 2.78, 3.0, 3.5, 4.0, 5.0):
        policy = make_policy("adaptive", {"adaptive": section}, {"speedup": speedup})
        policy.bind(depths)
        plan = policy.plan(25)
        cached = sum(len(ix) for ix in policy.cached().values())
        computed = 25 * (sum(depths.values()) - cached) + cached * len(plan)
        assert computed <= previous and plan[0] == 0
        assert total / computed >= min(speedup, total / (25 * (sum(depths.values()) - cached) + cached * 4)) - 1e-9
        previous = computed


def test_the_online_rule_pools_the_branches_errors_and_decides_once_per_step():
    policy = Adaptive(tolerance=0.1, max_gap=3)
    policy.bind({"blocks": 2})

    def step(s, branch, first, errors=()):
        view = _view(10, s, branch)
        view.first_of_step = first
        decision = policy.decide(view, None)
        for error, size in errors:  # each branch's (or run's) report after the refresh's pass
            policy.forecast_observed(branch, "blocks", 0, torch.tensor(error), torch.tensor(size))
        return decision, view.record.get("indicator", {})

    for s in (0, 1):
        assert step(s, "cond", True)[0] == step(s, "uncond", False)[0] == REFRESH
    step(2, "cond", True, [(0.01, 1.0)])
    step(2, "uncond", False, [(0.05, 3.0)])
    decision, seen = step(3, "cond", True)
    assert seen["forecast_error"] == pytest.approx(0.06 / 4.0)  # summed over both branches, then divided
    assert decision == REUSE and step(3, "uncond", False) == (REUSE, {})  # the second branch follows the first
