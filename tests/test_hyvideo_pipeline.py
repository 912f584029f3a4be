"""HunyuanVideoSampler on the debug model: determinism, batched real CFG, and the delta cache on both stacks."""

from __future__ import annotations

import pytest
import torch

from delta_cache import CacheConfig, StackSchedule, apply_cache
from hyvideo.cache_spec import HY_CACHE_SPEC, HY_DEBUG_DEMO


@pytest.fixture(scope="module")
def sampler(hy_ckpt, hy_debug_config):
    from hyvideo.inference import HunyuanVideoSampler

    return HunyuanVideoSampler.from_checkpoint(hy_debug_config, hy_ckpt)


def _run(sampler, **kw):
    args = dict(prompt="a red circle", height=48, width=32, video_length=5, seed=7, infer_steps=6, progress=False)
    return sampler.predict(**{**args, **kw})


def test_deterministic_for_a_seed_and_seeds_count_up(sampler):
    a, seeds = _run(sampler)
    b, _ = _run(sampler)
    assert seeds == [7] and a.shape == (1, 3, 5, 48, 32) and torch.equal(a, b)
    assert float(a.abs().max()) <= 1.0
    c, seeds = _run(sampler, num_videos_per_prompt=3, batch_size=2)
    assert seeds == [7, 8, 9] and c.shape[0] == 3
    assert torch.allclose(c[0], a[0], atol=1e-5)  # video 0 of a batch equals the single run
    assert not torch.allclose(c[1], c[0])


def test_real_cfg_runs_one_doubled_batch(sampler):
    calls = []
    hook = sampler.model.register_forward_pre_hook(lambda m, args: calls.append(args[0].shape[0]))
    try:
        v, _ = _run(sampler, guidance_scale=4.0, negative_prompt="blurry", num_videos_per_prompt=2, batch_size=2)
    finally:
        hook.remove()
    assert v.shape[0] == 2 and calls == [4] * 6
    with pytest.raises(ValueError, match="negative prompt"):
        _run(sampler, guidance_scale=4.0)


@pytest.mark.parametrize("cfg_scale", [1.0, 3.0])
def test_cache_always_refreshing_is_bit_identical_and_demo_preset_reuses(sampler, cfg_scale):
    kw = dict(guidance_scale=cfg_scale, negative_prompt="blurry" if cfg_scale > 1 else None)
    base, _ = _run(sampler, **kw)
    every = CacheConfig(
        stacks={
            "double_blocks": StackSchedule(cached=(0, 1), warmup=0, interval=1),
            "single_blocks": StackSchedule(cached=(0, 1, 2, 3), warmup=0, interval=1),
        }
    )
    handle = apply_cache(sampler.model, HY_CACHE_SPEC, every, 6)
    try:
        same, _ = _run(sampler, cache=handle, **kw)
    finally:
        handle.remove()
    assert torch.equal(same, base)
    handle = apply_cache(sampler.model, HY_CACHE_SPEC, HY_DEBUG_DEMO, 6)
    try:
        cached, _ = _run(sampler, cache=handle, **kw)
        stats = handle.stats()
        branches = {r["branch"] for r in handle.records}
    finally:
        handle.remove()
    # 6 steps, warm-up 2, refresh every 3: reuse on 3, 4 -> 1 double + 2 single blocks skipped each
    assert stats["block_evals_total"] == 36 and stats["block_evals_computed"] == 30
    assert branches == ({"uncond|cond"} if cfg_scale > 1 else {"cond"})
    assert not torch.equal(cached, base) and (cached - base).abs().max() < 0.5


def test_predict_starts_the_cache_refuses_other_step_counts_and_decodes_with_it_empty(sampler):
    with apply_cache(sampler.model, HY_CACHE_SPEC, HY_DEBUG_DEMO, 6) as handle:
        with pytest.raises(ValueError, match="runs 4 steps but this cache was built for 6"):
            _run(sampler, cache=handle, infer_steps=4)
        held_at_decode = []
        decode = sampler.decode
        sampler.decode = lambda z: (held_at_decode.append((handle.bytes_held, len(handle._slots))), decode(z))[1]
        try:
            first, _ = _run(sampler, cache=handle, num_videos_per_prompt=2, batch_size=1)
            second, _ = _run(sampler, cache=handle, num_videos_per_prompt=2, batch_size=1)
        finally:
            del sampler.decode
        # two batches of one video: counts cover both batches of the last generation only
        assert handle.stats()["block_evals_total"] == 2 * 36 and handle.bytes_peak > 0
    assert held_at_decode == [(0, 0), (0, 0)]
    assert torch.equal(first, second)
