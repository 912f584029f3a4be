"""delta_cache on real Wan and HunyuanVideo blocks: reuse against a known answer, and blocks that never
mutate their inputs (the cache keeps a reference to a run's input instead of a copy)."""

from __future__ import annotations

import pytest
import torch

from delta_cache import CacheConfig, StackSchedule, apply_cache, runs_of
from delta_cache.schedule import REFRESH, REUSE
from delta_cache.wrappers import CachedBlock


def _randomize(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(std=0.2)  # zero-initialised heads and gates would make every delta zero
    return model.eval()


def tiny_wan():
    from wan.modules.model import WanModel

    model = WanModel(dim=32, ffn_dim=64, freq_dim=32, text_dim=24, num_heads=2, num_layers=6, text_len=16)
    x, ctx = torch.randn(16, 2, 4, 4), torch.randn(5, 24)
    return _randomize(model, 0), lambda t: model([x], t=torch.tensor([t]), context=[ctx], seq_len=8)[0]


def tiny_hy():
    from hyvideo.modules.models import HYVideoDiffusionTransformer
    from hyvideo.modules.posemb_layers import get_nd_rotary_pos_embed

    model = HYVideoDiffusionTransformer(
        in_channels=4,
        hidden_size=32,
        heads_num=2,
        mlp_width_ratio=2.0,
        mm_double_blocks_depth=3,
        mm_single_blocks_depth=4,
        rope_dim_list=(4, 6, 6),
        text_states_dim=16,
        text_states_dim_2=8,
    )
    x, text, pooled = torch.randn(1, 4, 2, 4, 4), torch.randn(1, 6, 16), torch.randn(1, 8)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    freqs = get_nd_rotary_pos_embed((4, 6, 6), (2, 2, 2), 256.0)
    model = _randomize(model, 1)
    return model, lambda t: model(x, torch.tensor([float(t)]), text, mask, pooled, *freqs)["x"]


def spec_of(build):
    from hyvideo.cache_spec import HY_CACHE_SPEC
    from wan.cache_spec import WAN_CACHE_SPEC

    return WAN_CACHE_SPEC if build is tiny_wan else HY_CACHE_SPEC


def _streams(x, n: int) -> tuple:
    return (x,) if n == 1 else tuple(x)


@pytest.mark.parametrize(
    ("build", "stack", "n_streams", "cached"),
    [
        (tiny_wan, "blocks", 1, (1, 2, 4)),
        (tiny_hy, "double_blocks", 2, (1, 2)),
        (tiny_hy, "single_blocks", 1, (0, 1, 3)),
    ],
)
def test_on_a_reuse_step_each_run_outputs_its_input_plus_the_delta_recorded_at_the_refresh(
    build, stack, n_streams, cached
):
    model, forward = build()
    config = CacheConfig(stacks={stack: StackSchedule(cached=cached, warmup=1, interval=3)})
    handle = apply_cache(model, spec_of(build), config, 4)
    assert handle.actions[stack][1:] == (REFRESH, REUSE, REUSE)
    blocks = getattr(model, stack)
    runs = runs_of(cached)
    seen: dict = {}

    def grab(key):
        def pre(module, args):
            seen[(key, handle._step)] = tuple(a.clone() for a in args[:n_streams])

        def post(module, args, out):
            seen[(key, handle._step)] = tuple(o.clone() for o in _streams(out, n_streams))

        return pre, post

    hooks = []
    for first, last in runs:
        raw_first, raw_last = handle._originals[stack][first], handle._originals[stack][last]
        hooks += [
            raw_first.register_forward_pre_hook(grab(("raw_in", first))[0]),
            raw_last.register_forward_hook(grab(("raw_out", first))[1]),
            blocks[first].register_forward_pre_hook(grab(("in", first))[0]),
            blocks[last].register_forward_hook(grab(("out", first))[1]),
        ]
    with torch.no_grad():
        for step, t in enumerate((900, 700, 500, 300)):
            with handle.branch("cond", step):
                forward(t)
    for h in hooks:
        h.remove()
    for first, _ in runs:
        delta = [o - i for o, i in zip(seen[(("raw_out", first), 1)], seen[(("raw_in", first), 1)], strict=True)]
        assert all(d.abs().max() > 1e-3 for d in delta)  # the run does change its streams
        for step in (2, 3):
            assert (("raw_in", first), step) not in seen  # the original blocks did not run
            want = [i + d for i, d in zip(seen[(("in", first), step)], delta, strict=True)]
            got = seen[(("out", first), step)]
            assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))
    assert handle.stats()["per_branch_stack"][f"cond/{stack}"]["reused"] == 2 * len(cached)


@pytest.mark.parametrize(
    ("build", "stack"), [(tiny_wan, "blocks"), (tiny_hy, "double_blocks"), (tiny_hy, "single_blocks")]
)
def test_blocks_do_not_change_their_inputs(build, stack):
    model, forward = build()
    inputs = []

    def keep(module, args):
        inputs.append((module, [a.clone() if torch.is_tensor(a) else a for a in args], list(args)))

    hooks = [b.register_forward_pre_hook(keep) for b in getattr(model, stack)]
    with torch.no_grad():
        forward(500)
    for h in hooks:
        h.remove()
    assert len(inputs) == len(getattr(model, stack))
    for _, before, after in inputs:
        for a, b in zip(before, after, strict=True):
            if torch.is_tensor(a):
                assert torch.equal(a, b)
            elif isinstance(a, tuple):  # RoPE (cos, sin)
                assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not any(isinstance(b, CachedBlock) for b in getattr(model, stack))


def test_compiled_wan_blocks_under_the_cache_match_eager():
    """Regional compile (inductor, as `--compile`) of real Wan blocks, the cache wrapped around them."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    from delta_cache import compile_blocks

    torch._dynamo.reset()
    counters.clear()
    model, forward = tiny_wan()
    config = CacheConfig(stacks={"blocks": StackSchedule(cached=(1, 2, 4), warmup=1, interval=3)})
    outs = {}
    for mode in ("eager", "compiled"):
        with apply_cache(model, spec_of(tiny_wan), config, 4) as handle, torch.no_grad():
            if mode == "compiled":
                assert compile_blocks(model, spec_of(tiny_wan)) == 6
            outs[mode] = []
            for step, t in enumerate((900, 700, 500, 300)):
                with handle.branch("cond", step):
                    outs[mode].append(forward(t))
    assert all(b._compiled_call_impl is not None for b in model.blocks)  # compiled in place, wrappers gone again
    assert counters["stats"]["unique_graphs"] >= 1 and not counters["graph_break"]  # whole blocks in one graph
    for a, b in zip(outs["eager"], outs["compiled"], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
