"""USP attention: each rank holds a shard of the token sequence; attention still runs over all of it.

Layout contract (both models): q, k, v are [B, S + J, H, Dh] where the first S rows are this rank's shard of
the sharded sequence and the last J rows ("joint" tokens, HunyuanVideo's text) are replicated on every rank,
as xDiT's `joint_strategy="rear"`. `k_lens[b]` counts valid keys of the *gathered* sequence
[shard of rank 0 | shard of rank 1 | ... | joint], so padding at the end of the sequence (Wan) and padded text
(HunyuanVideo) are masked exactly as on one device.

Ulysses only (ring degree 1): yunchang's all-to-all turns the sequence shards into head shards, the model's
own kernel (flash-attn or SDPA, with the key mask) attends over the whole sequence, and the inverse all-to-all
gives each rank its rows back with all heads. This is xDiT's Ulysses step with the mask kept, and it is the
path that runs on CPU (gloo). Ring degree > 1: xfuser's `xFuserLongContextAttention` (CUDA), which cannot mask
keys: the valid text is passed as its joint keys (equal text lengths across the batch), and padded sequence
tokens are attended, as upstream's Wan USP does (never the case at upstream's sizes; a warning says so).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from loguru import logger
from torch import Tensor

if TYPE_CHECKING:
    from .group import SequenceParallelGroup

# The model's local kernel: (q, k, v, k_lens) over [B, L, H, Dh] -> [B, L, H, Dh].
LocalAttention = Callable[[Tensor, Tensor, Tensor, Tensor | None], Tensor]


def usp_attention(
    group: SequenceParallelGroup,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    k_lens: Tensor | None,
    joint_len: int,
    local: LocalAttention,
) -> Tensor:
    """Attention over the gathered sequence for this rank's rows; returns [B, S + J, H, Dh].

    The heads must divide by the Ulysses degree: `parallelize` checks it once per model.
    """
    if group.ring_degree > 1:
        return _xfuser_usp(group, q, k, v, k_lens, joint_len)
    return _ulysses(group, q, k, v, k_lens, joint_len, local)


def _ulysses(group, q, k, v, k_lens, joint_len, local) -> Tensor:
    from yunchang.comm.all_to_all import SeqAllToAll4D

    n, pg = group.ulysses_degree, group.ulysses_pg
    s = q.shape[1] - joint_len
    h = q.shape[2] // n
    mine = slice(group.ulysses_rank * h, (group.ulysses_rank + 1) * h)

    def heads_shard(x: Tensor) -> Tensor:  # [B, S + J, H, Dh] -> [B, n*S + J, H/n, Dh]
        seq = SeqAllToAll4D.apply(pg, x[:, :s].contiguous(), 2, 1, False)  # scatter heads, gather sequence
        return torch.cat([seq, x[:, s:, mine]], dim=1) if joint_len else seq

    out = local(heads_shard(q), heads_shard(k), heads_shard(v), k_lens)  # [B, n*S + J, H/n, Dh]
    seq_out = SeqAllToAll4D.apply(pg, out[:, : n * s].contiguous(), 1, 2, False)  # [B, S, H, Dh]
    if not joint_len:
        return seq_out
    # The joint rows were computed for this rank's heads only: gather the other heads from the Ulysses group.
    parts = [torch.empty_like(out[:, n * s :]) for _ in range(n)]
    dist.all_gather(parts, out[:, n * s :].contiguous(), group=pg)
    return torch.cat([seq_out, torch.cat(parts, dim=2)], dim=1)


_warned_padding = False


def _xfuser_usp(group, q, k, v, k_lens, joint_len) -> Tensor:
    global _warned_padding
    attn = group.xfuser_attention()
    s = q.shape[1] - joint_len
    dtype = q.dtype
    half = torch.bfloat16 if dtype == torch.float32 else dtype
    q, k, v = q.to(half), k.to(half), v.to(half)
    full = s * group.size
    if joint_len:
        valid = (k_lens - full).tolist() if k_lens is not None else [joint_len] * q.shape[0]
        if len(set(valid)) != 1:
            raise ValueError(
                "ring attention needs equal text lengths across the batch (xfuser masks no keys); "
                "use a batch of 1 or a Ulysses-only layout"
            )
        t = valid[0]
        out = attn(
            None,
            q[:, :s],
            k[:, :s],
            v[:, :s],
            joint_tensor_query=q[:, s:],
            joint_tensor_key=k[:, s : s + t],
            joint_tensor_value=v[:, s : s + t],
            joint_strategy="rear",
        )
    else:
        if k_lens is not None and bool((k_lens < full).any()) and not _warned_padding:
            _warned_padding = True
            logger.warning(
                "ring attention attends the padding tokens of a sequence not divisible by the group "
                "(xfuser masks no keys; upstream's Wan USP does the same); use a Ulysses-only layout "
                "for exact results at this size"
            )
        out = attn(None, q, k, v)
    return out.to(dtype)
