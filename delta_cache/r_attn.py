"""R_attn (Eq. 6) and the foreground/background split of the blocks (Eq. 7), with the paper's open choices explicit.

Per frame, the high-attention tokens are those whose ā passes `RAttnRule.threshold`; R_attn of the frame is
the share of the frame's foreground tokens that are high-attention, and a block's R_attn at a step is the mean
over the frames that have foreground. ā is the full-sequence column mean split by frame (option (b) of
method.md §2.1): the softmax the model computes, not one restricted to a frame.

Thresholds (`threshold`, `value`):
  "quantile": the top `value` share of each frame's tokens (default 0.2), so uniform attention scores `value`;
  "mean":     ā above `value` times the frame's mean ā (default 1.0);
  "mean_std": ā above the frame's mean plus `value` standard deviations.
Pooling: mean over the steps from `from_step` (None: from the cache's warm-up, the steps a cache acts on), then
over CFG branches, then over prompts. τ (Eq. 7): an absolute value, or Otsu's split of the blocks' R_attn
values ("otsu"), the largest two-cluster separation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

THRESHOLDS = ("quantile", "mean", "mean_std")
DEFAULT_VALUES = {"quantile": 0.2, "mean": 1.0, "mean_std": 1.0}


@dataclass(frozen=True, kw_only=True)
class RAttnRule:
    threshold: str = "quantile"
    value: float | None = None  # None: DEFAULT_VALUES[threshold]
    from_step: int | None = None

    def __post_init__(self) -> None:
        if self.threshold not in THRESHOLDS:
            raise ValueError(f"unknown R_attn threshold {self.threshold!r}; accepted: {', '.join(THRESHOLDS)}")
        if self.threshold == "quantile" and self.value is not None and not 0 < self.value < 1:
            raise ValueError(f"the quantile threshold takes a share in (0, 1), got {self.value}")

    @property
    def v(self) -> float:
        return DEFAULT_VALUES[self.threshold] if self.value is None else self.value


def high_attention(abar: Tensor, rule: RAttnRule) -> Tensor:
    """[..., f, n] ā per frame's tokens -> bool of the same shape: the frame's high-attention tokens."""
    x = abar.float()
    if rule.threshold == "quantile":
        cut = torch.quantile(x, 1 - rule.v, dim=-1, keepdim=True)
        return x > cut
    mean = x.mean(dim=-1, keepdim=True)
    if rule.threshold == "mean":
        return x > rule.v * mean
    return x > mean + rule.v * x.std(dim=-1, keepdim=True)


def r_attn(abar: Tensor, foreground: Tensor, rule: RAttnRule) -> Tensor:
    """R_attn of Eq. 6 for every leading index: abar [..., f, h, w], foreground [f, h, w] bool -> [...].

    NaN where no frame has foreground.
    """
    f = foreground.shape[0]
    high = high_attention(abar.reshape(*abar.shape[:-3], f, -1), rule)
    fg = foreground.reshape(f, -1).to(high.device)
    n_fg = fg.sum(dim=-1).float()  # [f]
    per_frame = (high & fg).sum(dim=-1).float() / n_fg.clamp(min=1)  # [..., f]
    has = n_fg > 0
    if not has.any():
        return torch.full(abar.shape[:-3], float("nan"))
    return per_frame[..., has].mean(dim=-1)


def pool_steps(r: Tensor, from_step: int) -> Tensor:
    """[steps, blocks] -> [blocks]: mean over the steps from `from_step` (all of them if that leaves none)."""
    tail = r[from_step:] if from_step < r.shape[0] else r
    return tail.nanmean(dim=0)


def split_blocks(r: Tensor, tau: float | str = "otsu") -> tuple[float, tuple[int, ...], tuple[int, ...]]:
    """(τ, background blocks, foreground blocks) of Eq. 7: R_attn >= τ is foreground (always computed)."""
    values = r.float()
    t = largest_split(values) if tau == "otsu" else float(tau)
    fg = tuple(int(i) for i in torch.nonzero(values >= t).flatten())
    bg = tuple(i for i in range(len(values)) if i not in fg)
    return t, bg, fg


def largest_split(values: Tensor) -> float:
    """Otsu's criterion, exact on few values: the cut between sorted neighbours with the most between-class
    variance, returned as the midpoint of that gap."""
    v = values.double().sort().values
    if len(v) < 2 or v[0] == v[-1]:
        return float(v[-1]) + 1.0  # nothing to split: every block is background
    best, cut = -1.0, float(v[-1])
    for k in range(1, len(v)):
        lo, hi = v[:k], v[k:]
        between = len(lo) * len(hi) * float(lo.mean() - hi.mean()) ** 2
        if between > best:
            best, cut = between, float(v[k - 1] + v[k]) / 2
    return cut
