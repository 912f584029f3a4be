"""The profiler: ā without the N x N matrix, R_attn, the split, masks, selection, and a planted toy DiT."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from delta_cache import BlockStack, CacheSpec
from delta_cache.attention_stats import received_attention
from delta_cache.masks import iou, load_mask_file, motion_mask, otsu, to_token_grid
from delta_cache.profiler import AttentionProfiler
from delta_cache.r_attn import RAttnRule, r_attn, split_blocks
from delta_cache.selection import candidates, equal_drift_refreshes, max_speedup, speedup


def exact_abar(q, k, k_lens=None, joint_len=0):
    """The definition, with the whole matrix: column mean over video queries and heads."""
    b, rows, h, dh = q.shape
    s = rows - joint_len
    out = []
    for i in range(b):
        n_keys = k.shape[1] if k_lens is None else int(k_lens[i])
        n_video = min(s, n_keys)
        a = torch.einsum("qhd,khd->hqk", q[i, :n_video].double(), k[i, :n_keys].double()) / dh**0.5
        out.append(a.softmax(-1).mean(dim=(0, 1))[:s])
        out[-1] = torch.cat([out[-1], out[-1].new_zeros(s - len(out[-1]))])
    return torch.stack(out).float()


def test_chunked_equals_the_full_matrix_with_padding_and_joint_tokens():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 40, 3, 8, generator=g), torch.randn(2, 40, 3, 8, generator=g)
    lens = torch.tensor([40, 31])
    got = received_attention(q, k, lens, chunk_bytes=4 * 3 * 40 * 5)  # 5 queries per chunk
    torch.testing.assert_close(got, exact_abar(q, k, lens), atol=1e-6, rtol=1e-5)
    assert got[1, 31:].abs().max() == 0  # padded keys receive nothing
    # joint tokens (text) take part in the softmax but are not reported
    got = received_attention(q, k, torch.tensor([36, 40]), joint_len=8)
    assert got.shape == (2, 32)
    torch.testing.assert_close(got, exact_abar(q, k, torch.tensor([36, 40]), joint_len=8), atol=1e-6, rtol=1e-5)
    assert got.sum(dim=1).max() < 1  # the text took a share


def test_sampled_queries_estimate_the_exact_value():
    g = torch.Generator().manual_seed(1)
    n, h, dh = 2048, 4, 16
    k = torch.randn(1, n, h, dh, generator=g)
    k[:, :200] *= 3  # some keys draw far more attention: a structured column mean
    q = torch.randn(1, n, h, dh, generator=g) * 2
    exact = received_attention(q, k)
    for s, tol in ((256, 0.35), (1024, 0.15)):
        est = received_attention(q, k, queries=s, seed=3)
        rel = ((est - exact).abs().sum() / exact.abs().sum()).item()
        assert rel < tol, (s, rel)
    worse = received_attention(q, k, queries=16, seed=3)
    assert ((worse - exact).abs().sum() / exact.abs().sum()).item() > 0.35  # the tolerance can fail


def test_r_attn_of_a_hand_made_map():
    mask = torch.zeros(2, 2, 4, dtype=torch.bool)
    mask[0, 0, :2] = True  # frame 0: tokens 0, 1 foreground
    mask[1, 1, 3] = True  # frame 1: token 7
    abar = torch.zeros(2, 2, 4)
    abar[0, 0, 0] = 1.0  # frame 0: one of its two foreground tokens is high
    abar[1, 0, 0] = 1.0  # frame 1: high token is background
    rule = RAttnRule(threshold="mean", value=1.0)
    assert r_attn(abar, mask, rule).item() == pytest.approx((0.5 + 0.0) / 2)
    abar[1, 1, 3] = 2.0  # now frame 1's foreground token is the highest
    assert r_attn(abar, mask, rule).item() == pytest.approx((0.5 + 1.0) / 2)
    # a frame without foreground does not count; no foreground anywhere is NaN
    assert torch.isnan(r_attn(abar, torch.zeros_like(mask), rule))


def test_split_is_otsus_largest_gap_or_an_absolute_tau():
    r = torch.tensor([0.1, 0.9, 0.15, 0.8, 0.12])
    tau, bg, fg = split_blocks(r)
    assert bg == (0, 2, 4) and fg == (1, 3) and 0.15 < tau < 0.8
    assert split_blocks(r, 0.13)[1] == (0, 4)


def test_token_grid_pooling_and_the_motion_rule():
    pixel = torch.zeros(9, 8, 8, dtype=torch.bool)  # 9 frames -> 3 latent frames (1 + 4 + 4)
    pixel[5, :4, :4] = True  # frame 5: the third group (frames 5-8), as the causal VAE packs them
    tokens = to_token_grid(pixel, (3, 2, 2))
    assert tokens[2, 0, 0] and tokens.sum() == 1
    with pytest.raises(ValueError, match="token grid"):
        to_token_grid(pixel[:, :7], (3, 2, 2))
    # a static background and a block moving across it: the rule finds the block
    g = torch.Generator().manual_seed(0)
    latent = torch.randn(4, 1, 8, 8, generator=g).repeat(1, 5, 1, 1)
    truth = torch.zeros(5, 8, 8, dtype=torch.bool)
    for f in range(5):
        latent[:, f, 3:5, f : f + 2] += 4.0
        truth[f, 3:5, f : f + 2] = True
    assert iou(motion_mask(latent), truth) > 0.6
    assert 0 < otsu(torch.cat([torch.zeros(50), torch.ones(50)])) < 1


def test_mask_file_errors(tmp_path):
    np.save(tmp_path / "m.npy", np.zeros((2, 5, 8, 8)))
    with pytest.raises(ValueError, match="holds masks for 2 prompts"):
        load_mask_file(tmp_path / "m.npy", 3)
    np.save(tmp_path / "bad.npy", np.zeros((8, 8)))
    with pytest.raises(ValueError, match="expected"):
        load_mask_file(tmp_path / "bad.npy", 1)
    assert load_mask_file(tmp_path / "m.npy", 2).shape == (2, 5, 8, 8)


def test_schedule_and_selection_reach_the_target():
    drift = np.array([0.3, 0.2, 0.1] + [0.02] * 15 + [0.1, 0.2, 0.3])  # 22 steps
    steps = equal_drift_refreshes(drift, 3, 6)
    assert steps[0] == 3 and len(steps) == 6
    gaps = np.diff(steps)
    assert gaps[0] > gaps[-1]  # long reuse runs in the flat middle, short ones at the end
    depths = {"blocks": 6}
    order = [("blocks", i, i >= 4) for i in (0, 1, 2, 3, 4, 5)]
    error = {"blocks": np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])}
    cands = candidates(depths, 22, drift, order, 1.8, error, 3, 6)
    assert cands and all(c.speedup >= 1.8 - 1e-9 for c in cands)
    best = cands[0]
    actions = best.schedule.actions(22)
    assert speedup(depths, {"blocks": len(best.cached["blocks"])}, actions) == pytest.approx(best.speedup)
    assert max_speedup(depths, 22) == pytest.approx(11.0)
    assert not candidates(depths, 22, drift, order, 11.5, error, 3, 6)


# ---------------------------------------------------------------------------------------------------
# A planted toy DiT: blocks whose queries are built to look at the foreground tokens, or away from them


class ToyAttention(nn.Module):
    observe = None

    def __init__(self, dim: int, heads: int, keys_weight: torch.Tensor):
        super().__init__()
        self.heads = heads
        self.register_buffer("key_bias", keys_weight)  # [L] large on the tokens this block should look at

    def forward(self, x):
        b, n, d = x.shape
        q = torch.ones(b, n, self.heads, d // self.heads)
        k = self.key_bias.view(1, n, 1, 1).expand(b, n, self.heads, d // self.heads).contiguous()
        k = k + 0.01 * x.view(b, n, self.heads, -1)
        if self.observe is not None:
            self.observe(q, k, None, 0)
        a = torch.einsum("bqhd,bkhd->bhqk", q, k).softmax(-1)
        return torch.einsum("bhqk,bkhd->bqhd", a, x.view(b, n, self.heads, -1)).reshape(b, n, d)


class ToyBlock(nn.Module):
    def __init__(self, dim, heads, bias):
        super().__init__()
        self.attn = ToyAttention(dim, heads, bias)

    def forward(self, x):
        return x + 0.1 * self.attn(x)


class ToyDiT(nn.Module):
    def __init__(self, fg: torch.Tensor, planted: list[bool], dim: int = 8, heads: int = 2):
        super().__init__()
        bias_fg, bias_bg = fg.flatten().float() * 3.0, (~fg.flatten()).float() * 3.0
        self.blocks = nn.ModuleList(ToyBlock(dim, heads, bias_fg if p else bias_bg) for p in planted)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return [x]


def test_profiler_recovers_the_planted_split():
    grid = (2, 4, 4)
    fg = torch.zeros(grid, dtype=torch.bool)
    fg[:, 1:3, 1:3] = True
    planted = [True, False, False, True, False, True]  # True: looks at the foreground
    model = ToyDiT(fg, planted)
    spec = CacheSpec(stacks=(BlockStack(attr="blocks", attention="attn"),), prediction=lambda out: out[0])
    x = torch.randn(1, 32, 8, generator=torch.Generator().manual_seed(0))
    with AttentionProfiler(model, spec, grid) as prof:
        prof.start(3)
        for step in range(3):
            with prof.branch("cond", step):
                model(x + step)
        record = prof.finish()
    assert all(b.attn.observe is None for b in model.blocks)  # removed on exit
    abar = record.scores[("cond", "blocks")]  # [steps, blocks, f, h, w]
    assert abar.shape == (3, 6, *grid)
    r = r_attn(abar.float(), fg, RAttnRule()).mean(dim=0)
    _, bg, fg_blocks = split_blocks(r)
    assert fg_blocks == (0, 3, 5) and bg == (1, 2, 4)
    assert record.drift["cond"].shape == (2,) and (record.drift["cond"] > 0).all()


def test_profiler_refuses_a_spec_without_seams_and_calls_outside_a_branch():
    model = ToyDiT(torch.ones(1, 2, 2, dtype=torch.bool), [True])
    with pytest.raises(ValueError, match="no block stack"):
        AttentionProfiler(model, CacheSpec(stacks=(BlockStack(attr="blocks"),)), (1, 2, 2))
    spec = CacheSpec(stacks=(BlockStack(attr="blocks", attention="attn"),))
    with AttentionProfiler(model, spec, (1, 2, 2)) as prof:
        prof.start(1)
        with pytest.raises(RuntimeError, match="outside"):
            model(torch.randn(1, 4, 8))
