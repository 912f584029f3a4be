"""The one attention entry point of the HunyuanVideo DiT and its token refiner.

Upstream packs each sample as two flash-attn segments (image + valid text | padded text). We use a key-padding
rule instead: every query attends to the first `k_lens[b]` keys of its sample (image tokens, then valid text),
which is what diffusers does and gives the same image output (padded text never reaches a valid token).
Kernels: flash-attn 3, then 2, varlen when installed and on CUDA; torch SDPA otherwise. An explicit boolean
`attn_mask` (the token refiner's square mask) always takes the SDPA path, as upstream's `mode="torch"`.

Under sequence parallelism (`sp` set by `hyvideo.parallel.parallelize`), the image rows of q/k/v are this rank's
shard and the last `joint_len` rows (the text) are replicated; `usp` gives this kernel the whole sequence for a
slice of the heads, with `k_lens` counting keys of [all image tokens | text].

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


# Copied from wan/modules/attention.py (_flash_varlen, flash_available); a test keeps the copies equal.
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


def _flash(q: Tensor, k: Tensor, v: Tensor, k_lens: Tensor, half: torch.dtype) -> Tensor:
    b, lq, h, dh = q.shape
    kl = k_lens.to(device=q.device, dtype=torch.int32)
    # Valid keys of each sample packed back to back; all queries kept, so padded rows stay finite. The packing
    # needs the lengths on the host: one sync per call (the SDPA path has none).
    lens = kl.tolist()
    k_valid = torch.cat([k[i, : lens[i]] for i in range(b)]).to(half)
    v_valid = torch.cat([v[i, : lens[i]] for i in range(b)]).to(half)
    cu_q = torch.arange(0, (b + 1) * lq, lq, dtype=torch.int32, device=q.device)
    cu_k = F.pad(kl.cumsum(0, dtype=torch.int32), (1, 0))
    out = _flash_varlen()(
        q.reshape(b * lq, h, dh).to(half),
        k_valid,
        v_valid,
        cu_seqlens_q=cu_q,
        cu_seqlens_k=cu_k,
        max_seqlen_q=lq,
        max_seqlen_k=k.shape[1],  # bounds every length
    )
    if isinstance(out, tuple):  # FA3 returns (out, lse)
        out = out[0]
    return out.view(b, lq, h, dh)


def _sdpa(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
    )  # [B, H, Lq, Dh]
    return out.transpose(1, 2)


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    k_lens: Tensor | None = None,
    attn_mask: Tensor | None = None,
    half_dtype: torch.dtype = torch.bfloat16,
    sp: SequenceParallelGroup | None = None,
    joint_len: int = 0,
) -> Tensor:
    """Scaled dot-product attention over [B, L, H, Dh] tensors; returns [B, Lq, H, Dh] (as Wan's).

    Args:
        q: queries [B, Lq, H, Dh].
        k: keys [B, Lk, H, Dh].
        v: values [B, Lk, H, Dh].
        k_lens: valid key count per sample [B]; keys at positions >= k_lens[b] are ignored.
        attn_mask: boolean mask broadcastable to [B, H, Lq, Lk] (True = attend); excludes `k_lens`.
        half_dtype: compute dtype on CUDA (upstream runs its kernels in bf16).
        sp: sequence-parallel group when the image rows are this rank's shard (joint attention only).
        joint_len: under `sp`, the number of trailing rows replicated on every rank (the text).
    """
    if k_lens is not None and attn_mask is not None:
        raise ValueError("give k_lens or attn_mask, not both")
    if sp is not None:
        if attn_mask is not None:
            raise ValueError("sequence-parallel attention takes k_lens, not attn_mask")
        local = functools.partial(_local_attention, attn_mask=None, half_dtype=half_dtype)
        return sp.attention(q, k, v, k_lens, joint_len, local)
    return _local_attention(q, k, v, k_lens, attn_mask, half_dtype)


def _local_attention(
    q: Tensor, k: Tensor, v: Tensor, k_lens: Tensor | None, attn_mask: Tensor | None, half_dtype: torch.dtype
) -> Tensor:
    """The kernel on this device: [B, Lq, H, Dh] -> [B, Lq, H, Dh]."""
    out_dtype = q.dtype
    b, lq, h, dh = q.shape
    lk = k.shape[1]
    if attn_mask is None and flash_available(q.device) and dh <= 256:
        kl = k_lens if k_lens is not None else torch.full((b,), lk, dtype=torch.int32, device=q.device)
        return _flash(q, k, v, kl, half_dtype).to(out_dtype)
    if q.device.type == "cuda":
        q, k, v = q.to(half_dtype), k.to(half_dtype), v.to(half_dtype)
    if k_lens is not None:
        attn_mask = (torch.arange(lk, device=q.device)[None, :] < k_lens.to(q.device)[:, None])[:, None, None, :]
    return _sdpa(q, k, v, attn_mask).to(out_dtype)
