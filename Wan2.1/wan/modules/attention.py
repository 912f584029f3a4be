"""The one attention entry point of the Wan DiT.

Every self- and cross-attention call of `WanModel` goes through `attention()`. Kernel choice lives here:
flash-attn 3, then flash-attn 2, when installed and the tensors are on CUDA; torch SDPA otherwise. Both paths
honour key lengths (padded keys are masked), which upstream's SDPA fallback silently dropped.

Under sequence parallelism (`sp` set by `wan.parallel.parallelize`), q/k/v are this rank's shard of the token
sequence; the Ulysses all-to-all of `usp` gives this kernel the whole sequence for a slice of the heads.

Shapes: B batch, Lq/Lk query/key length, H heads, Dh head dim.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from usp import SequenceParallelGroup


@functools.cache
def _flash_varlen() -> Callable | None:
    """Return flash-attn's varlen function (FA3 preferred), or None; imported lazily, once."""
    try:
        from flash_attn_interface import flash_attn_varlen_func  # FA3

        return flash_attn_varlen_func
    except ImportError:
        pass
    try:
        from flash_attn import flash_attn_varlen_func  # FA2

        return flash_attn_varlen_func
    except ImportError:
        return None


def flash_available(device: torch.device) -> bool:
    return device.type == "cuda" and _flash_varlen() is not None


def _flash(q: Tensor, k: Tensor, v: Tensor, k_lens: Tensor | None, half: torch.dtype) -> Tensor:
    b, lq, h, dh = q.shape
    lk = k.shape[1]
    if k_lens is None:  # nothing padded: every sample's keys are already back to back, no host sync
        k_valid, v_valid = k.reshape(b * lk, h, dh).to(half), v.reshape(b * lk, h, dh).to(half)
        cu_k = torch.arange(0, (b + 1) * lk, lk, dtype=torch.int32, device=q.device)
    else:
        # Pack the valid keys of each sample back to back, as flash-attn's varlen API wants (the lengths are
        # read on the host: only padded inputs pay this sync).
        kl = k_lens.to(device=q.device, dtype=torch.int32)
        lens = kl.tolist()
        k_valid = torch.cat([k[i, : lens[i]] for i in range(b)]).to(half)
        v_valid = torch.cat([v[i, : lens[i]] for i in range(b)]).to(half)
        cu_k = F.pad(kl.cumsum(0, dtype=torch.int32), (1, 0))
    cu_q = torch.arange(0, (b + 1) * lq, lq, dtype=torch.int32, device=q.device)
    out = _flash_varlen()(
        q.reshape(b * lq, h, dh).to(half),
        k_valid,
        v_valid,
        cu_seqlens_q=cu_q,
        cu_seqlens_k=cu_k,
        max_seqlen_q=lq,
        max_seqlen_k=lk,  # lk bounds every length
    )
    if isinstance(out, tuple):  # FA3 returns (out, lse)
        out = out[0]
    return out.view(b, lq, h, dh)


def _sdpa(q: Tensor, k: Tensor, v: Tensor, k_lens: Tensor | None) -> Tensor:
    lk = k.shape[1]
    mask = None
    if k_lens is not None:  # the caller passes lengths only when something is padded: no host check here
        # Boolean key-padding mask [B, 1, 1, Lk]: True = attend.
        mask = torch.arange(lk, device=q.device)[None, :] < k_lens.to(q.device)[:, None]
        mask = mask[:, None, None, :]
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
    )  # [B, H, Lq, Dh]
    return out.transpose(1, 2)


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    k_lens: Tensor | None = None,
    half_dtype: torch.dtype = torch.bfloat16,
    sp: SequenceParallelGroup | None = None,
) -> Tensor:
    """Scaled dot-product attention over [B, L, H, Dh] tensors with optional key lengths.

    Args:
        q: queries [B, Lq, H, Dh].
        k: keys [B, Lk, H, Dh].
        v: values [B, Lk, H, Dh].
        k_lens: valid key count per sample [B]; keys at positions >= k_lens[b] are ignored. None when nothing
            is padded (then no mask and no host sync on any path).
        half_dtype: compute dtype on CUDA (upstream always runs its kernels in bf16).
        sp: sequence-parallel group when q/k/v are this rank's shard of the sequence (self-attention only);
            `k_lens` then counts keys of the whole sequence.

    Returns:
        [B, Lq, H, Dh] in the dtype of `q`.
    """
    if sp is not None:
        return sp.attention(q, k, v, k_lens, 0, functools.partial(_local_attention, half_dtype=half_dtype))
    return _local_attention(q, k, v, k_lens, half_dtype)


def _local_attention(q: Tensor, k: Tensor, v: Tensor, k_lens: Tensor | None, half_dtype: torch.dtype) -> Tensor:
    out_dtype = q.dtype
    if flash_available(q.device) and q.shape[-1] <= 256:
        return _flash(q, k, v, k_lens, half_dtype).to(out_dtype)
    if q.device.type == "cuda":
        q, k, v = q.to(half_dtype), k.to(half_dtype), v.to(half_dtype)
    return _sdpa(q, k, v, k_lens).to(out_dtype)
