"""The attention a key token receives, ā_i of the paper's Eq. 5, without ever holding the N x N matrix.

    ā_i = mean over queries j and heads h of softmax_k(q_j · k_k / sqrt(Dh))[i]

Queries are taken in chunks, so memory is one [chunk, H, N] block of scores at a time. With `queries=S` only
S seeded random queries are used (each with its exact softmax row over all keys): an unbiased estimate of the
column mean whose error `docs/profiler.md` measures against the exact value.

Token layout (the same contract as `usp`): q and k are [B, S + J, H, Dh]; the first S rows are video tokens
(this rank's shard of them under sequence parallelism) and the last J rows are joint tokens (HunyuanVideo's
text) that join the softmax but are not scored. `k_lens[b]` counts the valid keys of the whole sequence
[video of every rank | joint]; with no joint tokens, video keys at or past it are padding (Wan).
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor


class Group(Protocol):
    """What the statistic needs of a sequence-parallel group (`usp.SequenceParallelGroup` has it)."""

    size: int
    rank: int

    def all_gather(self, x: Tensor, dim: int) -> Tensor: ...


def query_positions(num_video: int, queries: int | None, seed: int) -> Tensor:
    """Global video positions whose rows are scored: all of them, or `queries` drawn without replacement."""
    if queries is None or queries >= num_video:
        return torch.arange(num_video)
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(num_video, generator=g)[:queries].sort().values


def received_attention(
    q: Tensor,
    k: Tensor,
    k_lens: Tensor | None = None,
    joint_len: int = 0,
    *,
    queries: int | None = None,
    seed: int = 0,
    group: Group | None = None,
    token_order: Tensor | None = None,
    chunk_bytes: int = 1 << 28,
) -> Tensor:
    """ā over the video keys, [B, N_video] float32 (N_video = every rank's video rows together).

    Args:
        q, k: [B, S + J, H, Dh] after the model's norms and RoPE (what its attention kernel receives).
        k_lens: valid keys per sample over the whole sequence, or None (nothing padded).
        joint_len: J, trailing joint rows (scored as keys of the softmax, never reported).
        queries: None = every valid video query (exact); an int = that many seeded random video queries.
        seed: the sampling seed (the same positions on every rank, so the group agrees).
        group: the sequence-parallel group when q/k hold this rank's shard; the result is reduced over it and
            identical on every rank.
        token_order: the natural position of each gathered video row, when shards are not contiguous: sampled
            queries are then drawn in natural positions, the same ones as on a single device.
        chunk_bytes: bound on one chunk of fp32 scores.
    """
    b, rows, h, dh = q.shape
    s = rows - joint_len
    if group is not None and group.size > 1:
        video_k = group.all_gather(k[:, :s].contiguous(), dim=1)  # [B, n*S, H, Dh] in rank order
        keys = torch.cat([video_k, k[:, s:]], dim=1)
        offset, n_video = group.rank * s, group.size * s
    else:
        keys, offset, n_video = k, 0, s
    n_keys = keys.shape[1]
    scale = dh**-0.5
    keys = keys.float().permute(0, 2, 3, 1)  # [B, H, Dh, Lk]
    sums = torch.zeros(b, n_keys, dtype=torch.float32, device=q.device)
    counts = torch.zeros(b, dtype=torch.float32, device=q.device)
    chunk = max(1, chunk_bytes // (4 * h * n_keys))
    for i in range(b):
        valid_keys = n_keys if k_lens is None else int(k_lens[i])
        valid_video = min(n_video, valid_keys)
        picked = query_positions(valid_video, queries, seed)
        counts[i] = len(picked)
        if token_order is not None and queries is not None:  # natural positions -> gathered rows
            inverse = torch.empty_like(token_order)
            inverse[token_order] = torch.arange(len(token_order))
            picked = inverse[picked].cpu()
        mine = picked[(picked >= offset) & (picked < offset + s)] - offset  # this rank's rows of them
        key_mask = None
        if valid_keys < n_keys:
            key_mask = torch.arange(n_keys, device=q.device) >= valid_keys
        for start in range(0, len(mine), chunk):
            rows_q = q[i, mine[start : start + chunk].to(q.device)].float().transpose(0, 1)  # [H, c, Dh]
            scores = torch.matmul(rows_q, keys[i]) * scale  # [H, c, Lk]
            if key_mask is not None:
                scores = scores.masked_fill(key_mask, float("-inf"))
            sums[i] += scores.softmax(dim=-1).sum(dim=(0, 1))
    if group is not None and group.size > 1:
        sums = group.all_gather(sums[None], dim=0).sum(dim=0)
    return sums[:, :n_video] / (counts[:, None] * h)
