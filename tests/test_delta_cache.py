"""delta_cache on toy block stacks and on tiny WanModels: semantics, presets, state handling, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from delta_cache import (
    FULL,
    REFRESH,
    REUSE,
    BlockStack,
    CacheConfig,
    CacheSpec,
    StackSchedule,
    apply_cache,
    parse_index_list,
    runs_of,
)
from delta_cache.wrappers import CachedBlock


class AddBlock(nn.Module):
    """x -> x * w + b: a block whose output we can predict exactly."""

    def __init__(self, i: int):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0 + 0.1 * i))
        self.b = nn.Parameter(torch.tensor(float(i)))

    def forward(self, x, step_bias):
        return x * self.w + self.b + step_bias


class TwoStreamBlock(nn.Module):
    def forward(self, img, txt, bias):
        return img * 1.5 + bias, txt - bias


class ToyModel(nn.Module):
    def __init__(self, n: int = 8, n_double: int = 0):
        super().__init__()
        self.blocks = nn.ModuleList(AddBlock(i) for i in range(n))
        self.double_blocks = nn.ModuleList(TwoStreamBlock() for _ in range(n_double))

    def forward(self, x, bias):
        txt = x.clone()
        for block in self.double_blocks:
            x, txt = block(x, txt, bias)
        for block in self.blocks:
            x = block(x, bias)
        return x + txt.mean()


SPEC = CacheSpec(stacks=(BlockStack(attr="blocks"), BlockStack(attr="double_blocks", streams=("img", "txt"))))


def run(model, handle, steps, branches=("cond",)):
    outs = []
    for s in range(steps):
        for b in branches:
            with handle.branch(b, step=s) if handle else _null():
                outs.append(model(torch.full((3,), 1.0), torch.tensor(0.01 * s + (b == "uncond"))))
    return outs


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def config(cached, **kw):
    return CacheConfig(stacks={"blocks": StackSchedule(cached=cached, **kw)})


def test_always_refresh_is_bit_identical_with_wrappers_installed():
    base = run(ToyModel(), None, 10)
    for cfg in (config(tuple(range(8)), warmup=0, interval=1), config((0, 1, 2, 5, 7), warmup=2, interval=1)):
        model = ToyModel()
        h = apply_cache(model, SPEC, cfg, 10)
        cached = cfg.stacks["blocks"].cached
        assert [isinstance(b, CachedBlock) for b in model.blocks] == [i in cached for i in range(8)]
        assert all(torch.equal(a, b) for a, b in zip(base, run(model, h, 10), strict=True))
        assert h.stats()["block_evals_computed"] == 80


def test_reuse_adds_exactly_the_stored_delta_for_runs_from_block_zero():
    model = ToyModel(n=6)
    h = apply_cache(model, SPEC, config((0, 1, 2, 4), warmup=1, interval=3), 4)  # runs 0-2 and 4
    assert h.actions["blocks"] == (FULL, REFRESH, REUSE, REUSE)
    x, b1, b2 = torch.full((3,), 1.0), torch.tensor(0.1), torch.tensor(0.2)
    raw = [blk.block if hasattr(blk, "block") else blk for blk in model.blocks]
    with h.branch("cond", 0):
        model(x, b1)
    with h.branch("cond", 1):
        model(x, b1)
    # expected deltas from step 1, applied on step 2 with another bias
    h0 = x
    h3_in = raw[2](raw[1](raw[0](h0, b1), b1), b1)
    d_run0 = h3_in - h0
    h4_in = raw[3](h3_in, b1)
    d_run4 = raw[4](h4_in, b1) - h4_in
    with h.branch("cond", 2):
        out = model(x, b2)
    y = h0 + d_run0
    y = raw[3](y, b2)
    y = y + d_run4
    y = raw[5](y, b2)
    assert torch.equal(out, y + x.mean())


def test_two_stream_run_reuses_each_streams_own_delta():
    model = ToyModel(n=2, n_double=4)
    cfg = CacheConfig(stacks={"double_blocks": StackSchedule(cached=(1, 2, 3), warmup=0, interval=2)})
    h = apply_cache(model, SPEC, cfg, 2)
    raw = [b.block if isinstance(b, CachedBlock) else b for b in model.double_blocks]
    x, b0, b1 = torch.full((3,), 1.0), torch.tensor(0.3), torch.tensor(0.7)
    with h.branch("cond", 0):  # refresh
        model(x, b0)
    with h.branch("cond", 1):  # reuse
        out = model(x, b1)
    img, txt = raw[0](x, x.clone(), b0)
    img_in, txt_in = img, txt
    for blk in raw[1:]:
        img, txt = blk(img, txt, b0)
    d_img, d_txt = img - img_in, txt - txt_in  # img is scaled, txt is shifted: the two deltas differ
    img, txt = raw[0](x, x.clone(), b1)
    y, txt = img + d_img, txt + d_txt
    for blk in model.blocks:
        y = blk(y, b1)
    assert not torch.equal(d_img, d_txt)
    assert torch.equal(out, y + txt.mean())


def test_branches_never_mix():
    cfg = config((1, 2, 3), warmup=1, interval=4)
    model = ToyModel()
    both = run(model, apply_cache(model, SPEC, cfg, 6), 6, branches=("cond", "uncond"))
    alone = {}
    for b in ("cond", "uncond"):
        m = ToyModel()
        alone[b] = run(m, apply_cache(m, SPEC, cfg, 6), 6, branches=(b,))
    # each branch's outputs in the interleaved run equal that branch run alone: it reused its own deltas only
    assert all(torch.equal(a, b) for a, b in zip(both[0::2], alone["cond"], strict=True))
    assert all(torch.equal(a, b) for a, b in zip(both[1::2], alone["uncond"], strict=True))
    assert not torch.equal(alone["cond"][3], alone["uncond"][3])  # so a mix-up would show


def test_apply_remove_restores_the_model_and_state_resets():
    model = ToyModel()
    before = [id(b) for b in model.blocks]
    keys = list(model.state_dict())
    h = apply_cache(model, SPEC, config((0, 3, 4), warmup=0, interval=2), 5)
    assert "role=run_start" in repr(model)
    first = run(model, h, 5)
    h.reset()
    second = run(model, h, 5)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    h.remove()
    assert [id(b) for b in model.blocks] == before and list(model.state_dict()) == keys


def test_calls_outside_a_branch_or_step_are_refused():
    model = ToyModel()
    h = apply_cache(model, SPEC, config((1,), warmup=0, interval=1), 3)
    with pytest.raises(RuntimeError, match="outside"):
        model(torch.ones(3), torch.tensor(0.0))
    with pytest.raises(ValueError, match="outside the 3 steps"):
        with h.branch("cond", 3):
            pass


def test_first_step_after_warmup_always_refreshes():
    sched = StackSchedule(cached=(1,), warmup=4, refresh_steps=(10, 20), for_steps=30)
    assert sched.refreshes(30) == (4, 10, 20)


def test_schedules():
    assert StackSchedule(cached=(), warmup=6, interval=6).refreshes(50) == (6, 12, 18, 24, 30, 36, 42, 48)
    # the paper's linear interval with the fit that reproduces the release's HunyuanVideo list
    assert StackSchedule(cached=(), warmup=6, linear=(11, 2)).refreshes(50) == (6, 18, 26, 32, 38, 42, 46, 48)
    listed = StackSchedule(cached=(), warmup=3, refresh_steps=(6, 18, 26, 32, 38, 42, 46, 48), for_steps=50)
    assert listed.refreshes(25) == (3, 9, 13, 16, 19, 21, 23, 24)  # scaled for 25 steps
    assert listed.refreshes(8) == (3, 4, 5, 6, 7)  # 48 -> round(7.68) = 8: past the end of 8 steps, dropped
    last = StackSchedule(cached=(), warmup=2, interval=3, last_full=2).actions(8)
    assert last == (FULL, FULL, REFRESH, REUSE, REUSE, REFRESH, FULL, FULL)


def test_release_presets_reproduce_the_release_counts():
    from hyvideo.cache_spec import HY_CACHE_SPEC, HY_T2V_RELEASED
    from wan.cache_spec import T2V_14B_RELEASED, WAN_CACHE_SPEC

    wan = ToyModel(n=40)
    h = apply_cache(wan, WAN_CACHE_SPEC, T2V_14B_RELEASED, 50)
    run(wan, h, 50, branches=("cond", "uncond"))
    s = h.stats()
    assert (s["block_evals_computed"], s["block_evals_total"]) == (1984, 4000)
    assert round(s["theoretical_speedup"], 2) == 2.02

    class HY(nn.Module):
        def __init__(self):
            super().__init__()
            self.double_blocks = nn.ModuleList(TwoStreamBlock() for _ in range(20))
            self.single_blocks = nn.ModuleList(AddBlock(i) for i in range(40))

        def forward(self, x, bias):
            txt = x
            for b in self.double_blocks:
                x, txt = b(x, txt, bias)
            for b in self.single_blocks:
                x = b(x, bias)
            return x

    hy = HY()
    h = apply_cache(hy, HY_CACHE_SPEC, HY_T2V_RELEASED, 50)
    run(hy, h, 50, branches=("cfg",))
    s = h.stats()
    assert (s["block_evals_computed"], s["block_evals_total"]) == (1632, 3000)
    assert round(s["theoretical_speedup"], 2) == 1.84
    # the single-stream half of the preset alone: measured against all 60 blocks a pass, not the 40 it caches
    hy = HY()
    h = apply_cache(
        hy, HY_CACHE_SPEC, CacheConfig(stacks={"single_blocks": HY_T2V_RELEASED.stacks["single_blocks"]}), 50
    )
    run(hy, h, 50, branches=("cfg",))
    s = h.stats()
    assert (s["block_evals_computed"], s["block_evals_total"]) == (2136, 3000)
    assert round(s["theoretical_speedup"], 2) == 1.40  # counting the single stack only would say 1.76x


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,2-x", "malformed"),
        ("3,3", "duplicate"),
        ("1-3,2", "duplicate"),
        ("40", "out of range"),
        ("-1", "malformed"),
        ("5-2", "descending"),
    ],
)
def test_bad_lists(text, message):
    with pytest.raises(ValueError, match=message):
        parse_index_list(text, upper=40)


def test_list_parsing_and_runs():
    idx = parse_index_list("0, 2-7,10-20,25-32,37,38", upper=40)
    assert len(idx) == 28
    assert runs_of(idx) == [(0, 0), (2, 7), (10, 20), (25, 32), (37, 38)]


def test_bad_schedules_and_out_of_range_blocks():
    with pytest.raises(ValueError, match="exactly one"):
        StackSchedule(cached=(1,), interval=2, refresh_steps=(3,))
    with pytest.raises(ValueError, match="beyond"):
        StackSchedule(cached=(1,), warmup=0, refresh_steps=(0, 12), for_steps=10).refreshes(10)
    with pytest.raises(ValueError, match="out of range"):
        apply_cache(ToyModel(n=8), SPEC, config((7, 8), warmup=0, interval=1), 4)


def test_wan_model_with_cache_always_refreshing_equals_baseline():
    from wan.cache_spec import WAN_CACHE_SPEC
    from wan.modules.model import WanModel

    torch.manual_seed(0)
    model = WanModel(dim=32, ffn_dim=64, freq_dim=32, text_dim=24, num_heads=2, num_layers=6, text_len=16).eval()
    x, ctx = torch.randn(16, 2, 4, 4), torch.randn(5, 24)
    with torch.no_grad():
        base = [model([x], t=torch.tensor([t]), context=[ctx], seq_len=8)[0] for t in (900, 500)]
        h = apply_cache(model, WAN_CACHE_SPEC, config((0, 1, 2, 4), warmup=0, interval=1), 2)
        cached = []
        for i, t in enumerate((900, 500)):
            with h.branch("cond", i):
                cached.append(model([x], t=torch.tensor([t]), context=[ctx], seq_len=8)[0])
    assert all(torch.equal(a, b) for a, b in zip(base, cached, strict=True))


# ---------------------------------------------------------------------------------------------------
# Lifecycle, memory, honest stats, compile


def test_a_bad_second_stack_leaves_nothing_wrapped():
    model = ToyModel(n=4, n_double=2)
    cfg = CacheConfig(
        stacks={
            "blocks": StackSchedule(cached=(0, 1), warmup=0, interval=2),
            "double_blocks": StackSchedule(cached=(5,), warmup=0, interval=2),
        }
    )
    with pytest.raises(ValueError, match=r"double_blocks indices \[5\] out of range"):
        apply_cache(model, SPEC, cfg, 4)
    assert not any(isinstance(b, CachedBlock) for b in [*model.blocks, *model.double_blocks])


def test_a_cached_model_is_refused_and_the_context_manager_removes_itself():
    model = ToyModel()
    originals = list(model.blocks)
    with pytest.raises(KeyError):
        with apply_cache(model, SPEC, config((1, 2), warmup=0, interval=2), 4) as h:
            with pytest.raises(ValueError, match="already has delta_cache wrappers"):
                apply_cache(model, SPEC, config((5,), warmup=0, interval=2), 4)
            run(model, h, 2)
            raise KeyError("boom")
    assert list(model.blocks) == originals
    with apply_cache(model, SPEC, config((5,), warmup=0, interval=2), 4):  # free to cache again
        assert isinstance(model.blocks[5], CachedBlock)
    assert list(model.blocks) == originals


def test_start_refuses_another_step_count_and_resets():
    model = ToyModel()
    h = apply_cache(model, SPEC, config((1, 2), warmup=0, interval=2), 4)
    with pytest.raises(ValueError, match="runs 5 steps but this cache was built for 4"):
        h.start(5)
    first = run(model, h, 4)
    h.start(4)
    assert h.records == [] and h.stats()["block_evals_total"] == 0
    assert all(torch.equal(a, b) for a, b in zip(first, run(model, h, 4), strict=True))


def test_speedup_counts_every_stack_of_the_model():
    model = ToyModel(n=4, n_double=4)  # 8 blocks a pass; only two single-stream blocks cached
    h = apply_cache(model, SPEC, config((1, 2), warmup=0, interval=4), 4)  # reuse on 3 of 4 steps
    run(model, h, 4)
    s = h.stats()
    assert (s["block_evals_total"], s["block_evals_computed"]) == (32, 26)
    assert s["theoretical_speedup"] == pytest.approx(32 / 26)
    assert s["per_branch_stack"]["cond/double_blocks"] == {"computed": 16, "total": 16, "reused": 0}


def test_records_are_what_the_wrappers_executed():
    model = ToyModel(n=4)
    h = apply_cache(model, SPEC, config((1, 2), warmup=1, interval=2), 4)
    run(model, h, 4)
    assert h.records == [
        {"step": 0, "branch": "cond", "blocks": FULL},
        {"step": 1, "branch": "cond", "blocks": REFRESH},
        {"step": 2, "branch": "cond", "blocks": REUSE, "blocks_reused": 2},
        {"step": 3, "branch": "cond", "blocks": REFRESH},
    ]
    with h.branch("cond", 0):  # a pass that never reaches the stack records no action for it
        pass
    assert h.records[-1] == {"step": 0, "branch": "cond"}


def test_cache_bytes_peak_is_the_true_peak_and_everything_is_freed_after_the_last_use():
    # one 3-float fp32 stream (12 bytes); runs 0-2 and 4. At a refresh a run holds its input until its end,
    # then its delta: peak = delta of run 0 + input and delta of run 4 = 36 bytes.
    model = ToyModel(n=6)
    h = apply_cache(model, SPEC, config((0, 1, 2, 4), warmup=1, interval=2, last_full=2), 8)
    held_after = []
    for s in range(8):
        with h.branch("cond", s):
            model(torch.full((3,), 1.0), torch.tensor(0.01 * s))
        held_after.append(h.bytes_held)
    assert h.actions["blocks"] == (FULL, REFRESH, REUSE, REFRESH, REUSE, REFRESH, FULL, FULL)
    assert h.bytes_peak == 36
    assert held_after == [0, 24, 24, 24, 0, 0, 0, 0]  # freed after the last reuse (step 4)
    assert h._slots == {}


def test_bf16_storage_halves_the_memory_and_keeps_the_stream_dtype():
    outs, peaks = {}, {}
    for dtype in (None, torch.bfloat16):
        model = ToyModel(n=6)
        h = apply_cache(model, SPEC, config((0, 1, 2, 4), warmup=1, interval=3), 6, cache_dtype=dtype)
        outs[dtype] = run(model, h, 6)
        peaks[dtype] = h.bytes_peak
        assert h.stats()["cache_dtype"] == (None if dtype is None else "bfloat16")
    assert all(o.dtype == torch.float32 for o in outs[torch.bfloat16])
    reuse = outs[torch.bfloat16][2]
    assert not torch.equal(reuse, outs[None][2])  # the delta was rounded to bf16 ...
    torch.testing.assert_close(reuse, outs[None][2], rtol=1e-2, atol=1e-2)  # ... and only rounded
    # the held input stays fp32 (12 bytes); deltas shrink from 12 to 6 bytes: peak 6 + 12 + 6 = 24
    assert (peaks[None], peaks[torch.bfloat16]) == (36, 24)


class CountingBackend:
    """A torch.compile backend that counts calls of the graphs it compiled, by the ops they hold."""

    def __init__(self):
        self.calls: dict[str, int] = {}

    def __call__(self, gm, example_inputs):
        ops = ",".join(sorted({str(n.target).split(" ")[-1] for n in gm.graph.nodes if n.op == "call_function"}))

        def compiled(*args):
            self.calls[ops] = self.calls.get(ops, 0) + 1
            return gm(*args)

        return compiled


def _run_compiled(compile_mode: str) -> tuple[list, CountingBackend, dict]:
    import torch._dynamo

    from delta_cache import compile_blocks

    torch._dynamo.reset()
    backend = CountingBackend()
    model = ToyModel(n=6)
    h = apply_cache(model, SPEC, config((0, 1, 2, 4), warmup=1, interval=3), 7)
    if compile_mode == "regional":
        assert compile_blocks(model, SPEC, backend=backend) == 6
        assert all(b.block._compiled_call_impl is not None for b in model.blocks if isinstance(b, CachedBlock))
        fn = model
    else:
        fn = torch.compile(model, backend=backend)
    outs = []
    for s in range(7):
        with h.branch("cond", s):
            outs.append(fn(torch.full((3,), 1.0), torch.tensor(0.01 * s)))
    return outs, backend, h.stats()


@pytest.mark.parametrize("mode", ["regional", "whole_model"])
def test_cached_blocks_run_compiled_with_the_eager_output(mode):
    model = ToyModel(n=6)
    h = apply_cache(model, SPEC, config((0, 1, 2, 4), warmup=1, interval=3), 7)
    eager = run(model, h, 7)
    outs, backend, stats = _run_compiled(mode)
    for a, b in zip(eager, outs, strict=True):
        torch.testing.assert_close(a, b)
    # the block's graph (x * w + b + bias) ran once per computed block evaluation, wrapped ones included:
    # a recursive compiler.disable on the wrapper would leave the cached blocks eager (26 computed; 14 of them
    # are the unwrapped blocks 3 and 5)
    block_graph = [n for ops, n in backend.calls.items() if "mul" in ops]
    assert sum(block_graph) == stats["block_evals_computed"] == 26


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_steps=4.0), "num_steps must be an int >= 1, got 4.0"),
        (dict(num_steps=True), "num_steps must be an int >= 1"),
        (dict(num_steps=0), "num_steps must be an int >= 1"),
        (dict(num_steps=4, cache_dtype="bfloat16"), "cache_dtype must be None or one of bf16"),
        (dict(num_steps=4, cache_dtype=torch.int8), "cache_dtype must be None"),
    ],
)
def test_bad_api_arguments_are_refused_before_wrapping(kwargs, message):
    model = ToyModel()
    originals = list(model.blocks)
    with pytest.raises(ValueError, match=message):
        apply_cache(model, SPEC, config((1, 2), warmup=0, interval=2), **kwargs)
    assert list(model.blocks) == originals


def test_cache_dtype_by_name_stores_deltas_in_that_dtype():
    model = ToyModel()
    with apply_cache(model, SPEC, config((1, 2), warmup=0, interval=4), 4, cache_dtype="bf16") as h:
        run(model, h, 2)
        assert h.cache_dtype is torch.bfloat16 and h.stats()["cache_dtype"] == "bfloat16"


def test_an_output_level_policy_cannot_be_applied_twice_and_removal_restores_the_model():
    from delta_cache.peers import EasyCache
    from delta_cache.spec import ModelIO

    io = ModelIO(inputs=lambda args, kw: [args[0]], outputs=lambda out: [out], pack=lambda ts, args, kw: ts[0])
    spec = CacheSpec(stacks=SPEC.stacks, io=io)
    model = ToyModel()
    first = apply_cache(model, spec, EasyCache(threshold=1.0, ret_steps=1), 4)
    for again in (EasyCache(threshold=1.0, ret_steps=1), config((1,), warmup=0, interval=2)):
        with pytest.raises(ValueError, match="already reuses outputs"):
            apply_cache(model, spec, again, 4)
    first.remove()
    assert "forward" not in model.__dict__
    with apply_cache(model, spec, EasyCache(threshold=1.0, ret_steps=1), 4):  # free to apply again
        assert "forward" in model.__dict__
    assert "forward" not in model.__dict__
