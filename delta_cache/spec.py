"""What the cache needs to know about a model: which block lists to wrap and which tensors are streams.

Block I/O contract (data, not code per model): a block's first `len(streams)` positional arguments are its
hidden streams, and it returns them in the same order (a bare tensor when there is one stream).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class BlockStack:
    """One `nn.ModuleList` of transformer blocks, e.g. `BlockStack(attr="blocks", streams=("x",))`."""

    attr: str
    streams: tuple[str, ...] = ("x",)

    def __post_init__(self) -> None:
        if not self.streams:
            raise ValueError(f"block stack {self.attr!r} needs at least one stream")


@dataclass(frozen=True, kw_only=True)
class CacheSpec:
    """All block stacks of a model that the cache may wrap."""

    stacks: tuple[BlockStack, ...]

    def stack(self, attr: str) -> BlockStack:
        for s in self.stacks:
            if s.attr == attr:
                return s
        raise ValueError(f"unknown block stack {attr!r}; this model has: {', '.join(s.attr for s in self.stacks)}")
