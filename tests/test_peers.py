"""The peer methods as policies: each published rule on a hand-checkable signal sequence, then on real blocks
(a policy's executed decisions replayed as a static plan give the same outputs), per-branch state, and the
registry's constants and errors."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest
import torch
from test_cache_real_blocks import spec_of, tiny_hy, tiny_wan

from delta_cache import CacheConfig, StackSchedule, apply_cache
from delta_cache.peers import DBCache, DiCache, EasyCache, FBCache, MagCache, TaylorSeer, TeaCache, make_policy
from delta_cache.peers.magcache import nearest_interp, table_for
from delta_cache.peers.teacache import polyval
from delta_cache.policy import PassView
from delta_cache.schedule import REFRESH, REUSE


def _view(num_steps: int, step: int, branch: str = "cond", values: dict | None = None, **named) -> PassView:
    view = PassView(num_steps)
    view.branch, view.step, view.values, view.record = branch, step, {**(values or {}), **named}, {}
    return view


# -- TeaCache ------------------------------------------------------------------------------------------
def test_polyval_is_numpy_poly1d():
    from wan.cache_peers import TEA_E0

    for coefficients in TEA_E0.values():
        for x in (0.0, 0.013, 0.2):
            assert polyval(coefficients, x) == pytest.approx(np.poly1d(coefficients)(x), rel=1e-12)


def test_teacache_accumulates_the_rescaled_rel_l1_and_resets():
    # poly(x) = 2x; threshold 0.5: rel 0.1, 0.1 -> acc 0.2, 0.4 (reuse); 0.1 -> 0.6 (compute, reset); 0.2 -> 0.4
    tea = TeaCache(threshold=0.5, coefficients=(2.0, 0.0), indicator="e", ret_steps=1, last_forced=1)
    steps = 7
    signal = [1.0, 1.1, 1.21, 1.331, 1.5972, 1.7, 1.8]  # rel-L1 0.1, 0.1, 0.1, 0.2, ... between consecutive
    decisions, accumulated = [], []
    for s, v in enumerate(signal):
        view = _view(steps, s, e=torch.full((2, 3), v))
        decisions.append(tea.decide(view, None))
        accumulated.append(view.record["indicator"]["accumulated"])
    assert decisions == [REFRESH, REUSE, REUSE, REFRESH, REUSE, REFRESH, REFRESH]
    assert accumulated == pytest.approx([0.0, 0.2, 0.4, 0.0, 0.4, 0.0, 0.0], abs=1e-6)
    # step 5: 0.4 + 2 * (1.7 - 1.5972) / 1.5972 = 0.529 >= 0.5 -> compute; step 6 is the forced last step


def test_teacache_ret_steps_force_the_first_steps_and_the_previous_indicator_moves_every_pass():
    tea = TeaCache(threshold=10.0, coefficients=(1.0, 0.0), indicator="e", ret_steps=3, last_forced=0)
    out = [tea.decide(_view(6, s, e=torch.full((4,), 1.0 + s)), None) for s in range(6)]
    assert out == [REFRESH, REFRESH, REFRESH, REUSE, REUSE, REUSE]
    view = _view(6, 5, e=torch.full((4,), 7.0))
    tea.reset()
    assert tea.decide(view, None) == REFRESH  # after a reset: no previous indicator, compute


# -- MagCache ------------------------------------------------------------------------------------------
def test_magcache_accumulates_ratio_and_error_and_caps_consecutive_skips():
    mag = MagCache(threshold=0.05, K=2, retention_ratio=0.0, ratios=(1.0,), branches=None)
    state = type("S", (), {"ratio": 1.0, "err": 0.0, "steps": 0})()
    # 0.98: ratio .98, err .02 -> reuse; 0.98: ratio .9604, err .0596 -> compute and reset
    assert mag.accumulate(state, 0.98) is True and state.err == pytest.approx(0.02)
    assert mag.accumulate(state, 0.98) is False and (state.ratio, state.err, state.steps) == (1.0, 0.0, 0)
    big = MagCache(threshold=1.0, K=2, retention_ratio=0.0, ratios=(1.0,), branches=None)
    assert [big.accumulate(state, 1.0) for _ in range(4)] == [True, True, False, True]  # K caps the run at 2


def test_magcache_retention_and_interleaved_branches():
    # 4 steps x 2 branches, retention 0.5: calls 0..3 (steps 0 and 1) compute, then the branch tables apply
    ratios = (1.0, 1.0, 0.99, 0.9, 0.99, 0.9, 0.99, 0.9)
    mag = MagCache(threshold=0.05, K=4, retention_ratio=0.5, ratios=ratios)
    out = {b: [mag.decide(_view(4, s, b), None) for s in range(4)] for b in ("cond", "uncond")}
    # per-branch order of calls does not matter: each branch has its own state
    assert out["cond"] == [REFRESH, REFRESH, REUSE, REUSE]  # err .01, then .01 + .0199 = .0299
    assert out["uncond"] == [REFRESH, REFRESH, REFRESH, REFRESH]  # err .1 >= .05 at once


def test_magcache_nearest_interpolation_per_branch():
    values = (10.0, 11.0, 12.0, 13.0)
    assert nearest_interp(values, 3) == (10.0, 12.0, 13.0)  # round(0), round(1.5) = 2, round(3)
    assert nearest_interp(values, 1) == (13.0,)
    interleaved = (1, -1, 2, -2, 3, -3, 4, -4)
    assert table_for(interleaved, 2, 3) == (1, -1, 3, -3, 4, -4)
    assert table_for(interleaved, 2, 4) == interleaved
    with pytest.raises(ValueError, match="interleave"):
        table_for((1, 2, 3), 2, 3)


def _official_indices(length: int, steps: int) -> list[int]:
    """MagCache's nearest_interp arithmetic: np.round(arange(steps) * ((L - 1) / (steps - 1)))."""
    if steps == 1:
        return [length - 1]
    return np.round(np.arange(steps) * ((length - 1) / (steps - 1))).astype(int).tolist()


def test_magcache_resampling_matches_the_official_arithmetic_on_every_published_table():
    from hyvideo.cache_peers import MAG_544, MAG_720
    from wan.cache_peers import MAG_I2V_480P, MAG_I2V_720P, MAG_T2V_1_3B, MAG_T2V_14B

    tables = [(t, 2) for t in (MAG_T2V_1_3B, MAG_T2V_14B, MAG_I2V_480P, MAG_I2V_720P)] + [(MAG_720, 1), (MAG_544, 1)]
    for table, branches in tables:
        for steps in range(1, 101):
            resampled = table_for(table, branches, steps)
            for b in range(branches):  # each branch's entries resampled on their own, then interleaved again
                per = table[b::branches]
                assert resampled[b::branches] == tuple(per[k] for k in _official_indices(len(per), steps)), steps
    # the exact halves where the two orders of operations part: Wan T2V at 71 steps, I2V at 75
    assert nearest_interp(tuple(range(50)), 71)[45] == 31
    assert nearest_interp(tuple(range(40)), 75)[37] == 19
    resampled = table_for(MAG_T2V_1_3B, 2, 71)
    assert resampled[2 * 45 : 2 * 45 + 2] == MAG_T2V_1_3B[2 * 31 : 2 * 31 + 2]


# -- FBCache and DBCache -------------------------------------------------------------------------------
def _tapped(policy, steps, residuals, stack="blocks", last=0, branch="cond"):
    out = []
    for s, r in enumerate(residuals):
        x = torch.full((3, 4), 2.0)
        view = _view(steps, s, branch, {(stack, 0, "input"): x, (stack, last, "output"): x + r})
        out.append(policy.decide(view, stack if policy.per_stack else None))
    return out


def test_fbcache_compares_with_the_residual_of_the_last_computed_pass():
    fb = FBCache(threshold=0.05)
    fb.bind({"blocks": 4})
    # residual 1, 1.02 (.02 reuse), 1.04 (.04 against 1: reuse), 1.06 (.06: compute, new reference), 1.07
    assert _tapped(fb, 5, [1.0, 1.02, 1.04, 1.06, 1.07]) == [REFRESH, REUSE, REUSE, REFRESH, REUSE]
    assert fb.cached() == {"blocks": (1, 2, 3)}


def test_fbcache_state_is_per_branch_and_later_stacks_are_cached_whole():
    fb = FBCache(threshold=0.05)
    fb.bind({"double_blocks": 3, "single_blocks": 4})
    assert fb.cached() == {"double_blocks": (1, 2), "single_blocks": (0, 1, 2, 3)}
    cond = _tapped(fb, 3, [1.0, 1.01, 1.02], stack="double_blocks")
    uncond = _tapped(fb, 3, [5.0, 6.0, 6.01], stack="double_blocks", branch="uncond")
    assert cond == [REFRESH, REUSE, REUSE] and uncond == [REFRESH, REFRESH, REUSE]


def test_dbcache_warmup_interval_and_continuous_cap_in_order():
    db = DBCache(threshold=0.5, Fn=2, Bn=1, max_warmup_steps=4, warmup_interval=2, max_continuous_cached_steps=2)
    db.bind({"blocks": 6})
    assert db.cached() == {"blocks": (2, 3, 4)}
    got = _tapped(db, 9, [1.0] * 9, last=1)
    # warm-up steps 0 and 2 compute (range(0, 4, 2)); step 1 may reuse; at most 2 reuses in a row
    assert got == [REFRESH, REUSE, REFRESH, REUSE, REUSE, REFRESH, REUSE, REUSE, REFRESH]
    db2 = DBCache(threshold=0.1, Fn=1, max_warmup_steps=1, max_cached_steps=1)
    db2.bind({"a": 3, "b": 2})
    assert _tapped(db2, 4, [1.0, 1.0, 1.0, 1.0], stack="a") == [REFRESH, REUSE, REFRESH, REFRESH]
    with pytest.raises(ValueError, match="no middle block"):
        DBCache(Fn=8).bind({"blocks": 8})


# -- EasyCache -----------------------------------------------------------------------------------------
def test_easycache_k_estimate_and_accumulated_predicted_change():
    ec = EasyCache(threshold=0.05, ret_steps=2)
    steps = 7
    decisions = []
    x = [torch.zeros(2, 2)]
    for s in range(steps):
        x = [x[0] + 0.1]  # input change 0.1 per step
        view = _view(steps, s)
        view.first_of_step = True
        reuse = ec.decide_model(view, x)
        decisions.append(reuse)
        if not reuse:
            ec.computed_model(view, x, [x[0] * 2 + 10])  # v = 2x + 10: k = |dv| / |dx| = 2
        if s == 1:
            assert ec._k == pytest.approx(2.0)
    # k = 2, |v_last| ~ 10.4: predicted .1 * 2 / 10.4 = .019 per step: reuse, reuse (.038), compute (.057)
    assert decisions == [False, False, True, True, False, True, False]  # the last step is forced


def test_easycache_pair_follows_the_first_pass_of_the_step():
    ec = EasyCache(threshold=1.0, ret_steps=0, last_forced=0)
    ec._k, ec._x_prev, ec._v_last = 1.0, [torch.zeros(2)], [torch.ones(2)]
    first = _view(4, 2)
    first.first_of_step = True
    assert ec.decide_model(first, [torch.zeros(2) + 0.1]) is True
    follower = _view(4, 2, "uncond")
    follower.first_of_step = False
    assert ec.decide_model(follower, [torch.full((2,), 99.0)]) is True  # not its own input: the pair's decision


# -- on real blocks ------------------------------------------------------------------------------------
def _loop(build, config, steps):
    torch.manual_seed(7)  # the builders draw their inputs from the global generator
    model, run = build()
    outputs = []
    with torch.no_grad(), apply_cache(model, spec_of(build), config, steps) as handle:
        handle.start(steps)
        for s in range(steps):
            with handle.branch("cond", s):
                outputs.append(run(1000 - 70 * s))
        records = [dict(r) for r in handle.records]
    return outputs, records


@pytest.mark.parametrize("build", [tiny_wan, tiny_hy], ids=["wan", "hyvideo"])
@pytest.mark.parametrize("method", ["teacache", "fbcache"])
def test_a_policy_executes_what_the_same_static_plan_executes(build, method):
    steps = 10
    if method == "teacache":
        signal = "timestep_embedding" if build is tiny_wan else "modulated_input"
        policy = TeaCache(threshold=1.8, coefficients=(1.0, 0.0), indicator=signal)  # rel-L1 0.6-1.4 here
    else:
        policy = FBCache(threshold=0.75 if build is tiny_wan else 1.2)
    outputs, records = _loop(build, policy, steps)
    stacks = [s.attr for s in spec_of(build).stacks]
    actions = [r[stacks[0]] for r in records]
    assert REUSE in actions and actions.count(REFRESH) >= 2  # the test needs both
    assert all(r[s] == r[stacks[0]] for r in records for s in stacks)  # one decision for every stack
    model, _ = build()
    depths = {s: len(getattr(model, s)) for s in stacks}
    cached = {s: tuple(range(1 if (method == "fbcache" and s == stacks[0]) else 0, n)) for s, n in depths.items()}
    refresh = tuple(i for i, a in enumerate(actions) if a == REFRESH)
    static = CacheConfig(
        stacks={s: StackSchedule(cached=c, warmup=0, refresh_steps=refresh, for_steps=steps) for s, c in cached.items()}
    )
    replay, replay_records = _loop(build, static, steps)
    assert [r[stacks[0]] for r in replay_records] == actions
    for a, b in zip(outputs, replay, strict=True):
        assert torch.equal(a, b)


def test_easycache_reuses_the_model_output_transformation_exactly():
    from wan.cache_spec import WAN_CACHE_SPEC

    model, _ = tiny_wan()
    ctx = torch.randn(5, 24)
    xs = [torch.randn(16, 2, 4, 4) * (1 - 0.05 * s) for s in range(8)]
    policy = EasyCache(threshold=1.0, ret_steps=2)  # predicted change about 0.7 per step here
    outs = []
    with torch.no_grad(), apply_cache(model, WAN_CACHE_SPEC, policy, 8) as handle:
        handle.start(8)
        for s, x in enumerate(xs):
            with handle.branch("cond", s):
                outs.append(model([x], t=torch.tensor([1000 - 100 * s]), context=[ctx], seq_len=8)[0])
        records = [dict(r) for r in handle.records]
        stats = handle.stats()
    reused = [i for i, r in enumerate(records) if r["blocks"] == REUSE]
    assert reused and stats["per_branch_stack"]["cond/blocks"]["reused"] == 6 * len(reused)
    last = max(i for i in range(reused[0]) if records[i]["blocks"] == REFRESH)
    with torch.no_grad():
        v_last = model([xs[last]], t=torch.tensor([1000 - 100 * last]), context=[ctx], seq_len=8)[0]
    assert torch.allclose(outs[reused[0]], xs[reused[0]] + (v_last - xs[last]), atol=1e-6)
    assert "forward" not in model.__dict__  # removed with the handle


# -- registry and constants ----------------------------------------------------------------------------
def test_published_constants_and_the_registry():
    from hyvideo.cache_peers import peer_constants as hy_constants
    from wan.cache_peers import MAG_SETTINGS, peer_constants

    for key, (ratios, *_rest) in MAG_SETTINGS.items():
        assert len(ratios) == (80 if key.startswith("i2v") else 100) and ratios[:2] == (1.0, 1.0)
    wan = peer_constants("t2v-14B")
    slow, fast = make_policy("teacache", wan, {"speed": "slow"}), make_policy("teacache", wan)
    assert (slow.threshold, fast.threshold) == (0.14, 0.20) and fast.indicator == "timestep_embedding"
    ret = make_policy("teacache", wan, {"use_ret_steps": True})
    assert (ret.threshold, ret.indicator, ret.ret_steps, ret.last_forced) == (0.20, "timestep_projection", 5, 0)
    mag = make_policy("magcache", peer_constants("t2v-1.3B"), {"K": 2})
    assert (mag.threshold, mag.K, mag.retention_ratio) == (0.12, 2, 0.2)
    hy = hy_constants(544)
    assert make_policy("magcache", hy).ratios[1] == 1.06971 and make_policy("teacache", hy).threshold == 0.15
    with pytest.raises(ValueError, match="unknown cache method 'foo'; accepted: delta, teacache"):
        make_policy("foo", wan)
    with pytest.raises(ValueError, match="magcache has no setting 'Fn'"):
        make_policy("magcache", wan, {"Fn": 2})
    with pytest.raises(ValueError, match="use_ret_steps=True has no published"):
        make_policy("teacache", hy, {"use_ret_steps": True})


def test_a_signal_the_model_does_not_declare_fails_before_anything_is_wrapped():
    from delta_cache.wrappers import CachedBlock
    from hyvideo.cache_spec import HY_CACHE_SPEC

    model, _ = tiny_hy()
    policy = TeaCache(threshold=0.1, coefficients=(1.0, 0.0), indicator="timestep_embedding")  # Wan's signal
    with pytest.raises(ValueError, match="reads signal 'timestep_embedding'; this model's spec declares: modulated"):
        apply_cache(model, HY_CACHE_SPEC, policy, 4)
    assert not any(isinstance(b, CachedBlock) for b in [*model.double_blocks, *model.single_blocks])


# -- TaylorSeer ----------------------------------------------------------------------------------------
def test_taylorseer_computes_on_its_interval_and_reuses_between():
    ts = TaylorSeer(interval=5, first_steps=1)
    ts.bind({"blocks": 4})
    assert ts.cached() == {"blocks": (0, 1, 2, 3)}
    decisions = [ts.decide(_view(12, s), None) for s in range(12)]
    assert [s for s, d in enumerate(decisions) if d == REFRESH] == [0, 5, 10]  # the official 0, 5, 10, ...
    ts = TaylorSeer(interval=4, first_steps=3)
    assert [s for s in range(9) if ts.decide(_view(9, s), None) == REFRESH] == [0, 1, 2, 4, 8]
    with pytest.raises(ValueError, match="interval and first_steps must be >= 1"):
        TaylorSeer(interval=0)


class _Drift(torch.nn.Module):
    """A block whose delta is `w * step`: linear in the step, so a first-order forecast of it is exact."""

    def __init__(self, clock: dict, w: float):
        super().__init__()
        self.clock, self.w = clock, w

    def forward(self, x):
        return x + self.w * self.clock["step"]


class _Drifting:
    """Three `_Drift` blocks over 6 steps (one "cond" pass each): full compute's output per step, and a cached
    run's with its handle's records and stats."""

    steps = 6

    def __init__(self):
        from delta_cache import BlockStack, CacheSpec

        self.spec = CacheSpec(stacks=(BlockStack(attr="blocks"),))
        self.clock = {"step": 0}
        self.model = torch.nn.Module()
        self.model.blocks = torch.nn.ModuleList(_Drift(self.clock, w) for w in (0.5, -1.0, 2.0))
        self.model.forward = lambda x: [x := b(x) for b in self.model.blocks][-1]
        self.x = torch.ones(2, 3)
        self.full = self._outputs(None)

    def _outputs(self, handle) -> dict:
        out = {}
        for s in range(self.steps):
            self.clock["step"] = s
            with handle.branch("cond", s) if handle is not None else nullcontext():
                out[s] = self.model(self.x)
        return out

    def cached(self, config) -> tuple[dict, list, dict]:
        with apply_cache(self.model, self.spec, config, num_steps=self.steps) as handle:
            handle.start(self.steps)
            out = self._outputs(handle)
            return out, handle.records, handle.stats()


def test_the_forecast_is_exact_on_a_delta_that_changes_linearly_and_held_without_two_refreshes():
    drift = _Drifting()
    full, x = drift.full, drift.x
    # interval 2: refreshes at 0, 2, 4; step 1 has one refresh (held), steps 3 and 5 two (extrapolated)
    cached, _, stats = drift.cached(TaylorSeer(interval=2))
    assert torch.equal(cached[1], full[0])  # the step-0 delta as is
    for s in (3, 5):
        assert torch.allclose(cached[s], full[s], atol=1e-6), s
    # without the forecast a schedule that refreshes at 2 and 4 holds the last delta: off by a step of drift
    static = CacheConfig(name="hold", stacks={"blocks": StackSchedule(cached=(0, 1, 2), warmup=2, interval=2)})
    held, _, _ = drift.cached(static)
    assert not torch.allclose(held[5], full[5])
    # memory: the previous delta beside the last one and the anchor of a refresh: three tensors of x at the peak
    assert stats["cache_bytes_peak"] == 3 * x.numel() * x.element_size()
    assert stats["block_evals_computed"] == 3 * 3 and stats["method"] == "taylorseer"


def test_taylorseer_needs_no_model_constants_and_is_in_the_harness():
    from evaluation.methods import METHODS, ModelContext

    policy = make_policy("taylorseer", {})  # the published interval, for any model
    assert (policy.interval, policy.first_steps, policy.order) == (5, 1, 1) and policy.forecast
    assert not make_policy("taylorseer", {}, {"order": 0}).forecast
    with pytest.raises(ValueError, match="order must be 0"):
        make_policy("taylorseer", {}, {"order": 2})
    assert make_policy("taylorseer", {"taylorseer": {"interval": 3}}, {"first_steps": 2}).interval == 3
    built = METHODS["taylorseer"].build(ModelContext(depths={"blocks": 4}, num_steps=10, preset=None), "interval=2")
    assert isinstance(built, TaylorSeer) and built.interval == 2
    with pytest.raises(ValueError, match="taylorseer interval must be an integer"):
        make_policy("taylorseer", {}, {"interval": 2.5})


# -- DiCache -------------------------------------------------------------------------------------------
def _probe_view(num_steps, step, x, y, branch="cond"):
    return _view(num_steps, step, branch, {("blocks", 0, "input"): x, ("blocks", 0, "output"): y})


def test_dicache_accumulates_the_probe_change_and_moves_its_reference_every_pass():
    dc = DiCache(threshold=0.25, ret_ratio=0.25, gamma_max=2.0)
    dc.bind({"blocks": 4})
    assert dc.cached() == {"blocks": (1, 2, 3)}
    x = torch.ones(4)
    # probe outputs 1, 1.1, 1.21, ...: a change of 0.1 against the previous pass, reused or not; steps 0-1 are
    # the first 25% of 8
    outs = [1.1**s for s in range(8)]
    decisions, accumulated = [], []
    for s, v in enumerate(outs):
        view = _probe_view(8, s, x, torch.full((4,), v))
        decisions.append(dc.decide(view, None))
        accumulated.append(view.record["indicator"]["accumulated"])
    # after the warm-up: 0.1, 0.2 (reuse), 0.3 (compute, back to 0), 0.1, 0.2 (reuse), 0.3 (compute)
    assert decisions == [REFRESH, REFRESH, REUSE, REUSE, REFRESH, REUSE, REUSE, REFRESH]
    assert accumulated[2:] == pytest.approx([0.1, 0.2, 0.0, 0.1, 0.2, 0.0], abs=1e-6)
    # HunyuanVideo's script compares with <=: changes of exactly 0.5 reach a threshold of 1.0 on the second pass
    outs = [1.5**s for s in range(5)]
    for inclusive, expected in ((False, REFRESH), (True, REUSE)):
        dc = DiCache(threshold=1.0, ret_ratio=0.2, inclusive=inclusive)
        dc.bind({"blocks": 4})
        decisions = [dc.decide(_probe_view(5, s, x, torch.full((4,), v)), None) for s, v in enumerate(outs)]
        assert decisions[1:3] == [REUSE, expected], inclusive
    with pytest.raises(ValueError, match="leaves no blocks block to cache"):
        DiCache(threshold=0.1, probe_depth=4).bind({"blocks": 4})


def test_dicache_extrapolates_along_the_probe_trend_exactly_on_a_linear_drift_and_clips_it():
    drift = _Drifting()
    full = drift.full

    def run(gamma_max):
        # steps 0-1 compute (a third of 6), then every pass reuses (threshold far above the probe's change)
        out, records, _ = drift.cached(DiCache(threshold=10.0, ret_ratio=1 / 3, gamma_max=gamma_max))
        return out, records

    # the probe residual is 0.5 s, the cached one s: g = (s - 0) / (1 - 0) = s, and R_-2 + g (R_-1 - R_-2) = s
    out, records = run(gamma_max=10.0)
    assert [r["blocks"] for r in records] == ["refresh"] * 2 + ["reuse"] * 4
    assert [r["indicator"]["gamma"] for r in records[2:]] == pytest.approx([2.0, 3.0, 4.0, 5.0])
    for s in range(6):
        assert torch.allclose(out[s], full[s], atol=1e-6), s
    clipped, records = run(gamma_max=2.0)  # g capped at 2: step 3 adds the cached blocks' residual of step 2
    assert records[3]["indicator"]["gamma"] == 2.0
    assert torch.allclose(clipped[3], full[3] - 1.0, atol=1e-6)  # 2 where 3 was due (the probe still runs)


def test_dicache_constants_per_model_beside_a_calibration_file():
    from conftest import REPO

    from hyvideo.cache_peers import peer_constants as hy_constants
    from wan.cache_peers import peer_constants as wan_constants

    tiny_wan = make_policy("dicache", wan_constants("t2v-tiny", REPO / "Wan2.1" / "Wan2.1-T2V-tiny"))
    assert (tiny_wan.threshold, tiny_wan.gamma_max, tiny_wan.inclusive) == (0.08, 2.0, False)
    hy_dit = REPO / "HunyuanVideo" / "ckpts-tiny" / "hunyuan-video-t2v-720p" / "transformers"
    assert (hy_dit / "cache_peers.json").is_file()  # the shipped calibration, which holds no DiCache entry
    tiny_hy = make_policy("dicache", hy_constants(64, hy_dit, "HYVideo-tiny"))
    assert (tiny_hy.threshold, tiny_hy.gamma_max, tiny_hy.inclusive) == (0.1, 1.5, True)
    assert make_policy("dicache", wan_constants("t2v-14B"), {"threshold": 0.2}).threshold == 0.2
