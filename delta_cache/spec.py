"""What the cache needs to know about a model: which block lists to wrap and which tensors are streams.

Block I/O contract (data, not code per model): a block's first `len(streams)` positional arguments are its
hidden streams, and it returns them in the same order (a bare tensor when there is one stream).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor


@dataclass(frozen=True, kw_only=True)
class BlockStack:
    """One `nn.ModuleList` of transformer blocks, e.g. `BlockStack(attr="blocks", streams=("x",))`.

    `attention` is where the block's profiling seam lives (a submodule path, "" = the block itself, None = not
    profiled): a module attribute `observe`, None by default, called with the self-attention's q and k.
    """

    attr: str
    streams: tuple[str, ...] = ("x",)
    attention: str | None = None

    def __post_init__(self) -> None:
        if not self.streams:
            raise ValueError(f"block stack {self.attr!r} needs at least one stream")


@dataclass(frozen=True, kw_only=True)
class CacheSpec:
    """All block stacks of a model that the cache may wrap.

    `prediction` maps the model's output to the first sample's prediction [C, F, H, W] (profiler: step statistic).
    """

    stacks: tuple[BlockStack, ...]
    prediction: Callable[[Any], Tensor] | None = None

    def stack(self, attr: str) -> BlockStack:
        for s in self.stacks:
            if s.attr == attr:
                return s
        raise ValueError(f"unknown block stack {attr!r}; this model has: {', '.join(s.attr for s in self.stacks)}")
