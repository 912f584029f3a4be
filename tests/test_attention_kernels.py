"""The flash-attn call path of both attention entry points, on CPU: flash-attn's varlen function replaced by a
reference written from its contract (cu_seqlens segments, each query segment attending its key segment), so the
packing, the key lengths and the bounds we pass are checked against SDPA with the same mask."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F


def reference_varlen(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k):
    out = torch.empty_like(q)
    for i in range(len(cu_seqlens_q) - 1):
        qs, qe, ks, ke = (int(x) for x in (cu_seqlens_q[i], cu_seqlens_q[i + 1], cu_seqlens_k[i], cu_seqlens_k[i + 1]))
        assert qe - qs <= max_seqlen_q and ke - ks <= max_seqlen_k  # the bounds must hold for every segment
        o = F.scaled_dot_product_attention(
            q[None, qs:qe].transpose(1, 2), k[None, ks:ke].transpose(1, 2), v[None, ks:ke].transpose(1, 2)
        )
        out[qs:qe] = o.transpose(1, 2)[0]
    return out


@pytest.mark.parametrize("module", ["wan", "hyvideo"])
@pytest.mark.parametrize("lens", [None, [9, 5]])
def test_flash_path_equals_sdpa_with_the_same_key_mask(monkeypatch, module, lens):
    if module == "wan":
        from wan.modules import attention as mod
    else:
        from hyvideo.modules import attention as mod
    torch.manual_seed(0)
    q = torch.randn(2, 7, 2, 8)  # fewer queries than keys, as in cross-attention
    k, v = torch.randn(2, 9, 2, 8), torch.randn(2, 9, 2, 8)
    k_lens = None if lens is None else torch.tensor(lens)
    if module == "hyvideo" and k_lens is None:
        k_lens = torch.tensor([9, 9])  # HunyuanVideo always passes its key counts
    monkeypatch.setattr(mod, "_flash_varlen", lambda: reference_varlen)
    got = mod._flash(q, k, v, k_lens, torch.float32)
    mask = None if lens is None else (torch.arange(9)[None, :] < torch.tensor(lens)[:, None])[:, None, None, :]
    want = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask)
    torch.testing.assert_close(got, want.transpose(1, 2))
