"""What the cache needs to know about a model: which block lists to wrap and which tensors are streams.

Block I/O contract (data, not code per model): a block's first `len(streams)` positional arguments are its
hidden streams, and it returns them in the same order (a bare tensor when there is one stream).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor


@dataclass(frozen=True, kw_only=True)
class BlockStack:
    """One `nn.ModuleList` of transformer blocks, e.g. `BlockStack(attr="blocks", streams=("x",))`.

    `name` is the stack's name in presets, policies and stats (the original checkpoint's, so that one preset
    applies to every implementation of a model); it defaults to `attr`, the model's attribute holding the list
    (diffusers' HunyuanVideo: `BlockStack(attr="transformer_blocks", name="double_blocks", ...)`).
    `attention` is where the block's profiling seam lives (a submodule path, "" = the block itself, None = not
    profiled): a module attribute `observe`, None by default, called with the self-attention's q and k.
    """

    attr: str
    name: str = ""
    streams: tuple[str, ...] = ("x",)
    attention: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.attr)
        if not self.streams:
            raise ValueError(f"block stack {self.name!r} needs at least one stream")


@dataclass(frozen=True, kw_only=True)
class Signal:
    """A tensor a data-dependent policy reads, taken by a hook on the submodule at `module` (a path).

    `when="output"`: the module's output (its first stream); `when="input"`: `fn(module, args, kwargs)` before it
    runs (e.g. HunyuanVideo's modulated input of double block 0, from the block's own submodules). A wrapped
    block is reached through the wrapper, so the signal is taken on reuse passes too.
    """

    module: str
    when: str = "output"
    fn: Callable[..., Tensor] | None = None

    def __post_init__(self) -> None:
        if self.when not in ("input", "output") or (self.when == "input" and self.fn is None):
            raise ValueError(f"signal on {self.module!r}: when must be 'output', or 'input' with an fn")


@dataclass(frozen=True, kw_only=True)
class ModelIO:
    """The model's call seen as tensors, for output-level reuse (EasyCache): the latents in and out of a pass.

    `inputs(args, kwargs)` and `outputs(out)` give one tensor per sample; `pack(tensors, args, kwargs)` builds
    the model's return value from such tensors, as the model would return it for that call.
    """

    inputs: Callable[[tuple, dict], list[Tensor]]
    outputs: Callable[[Any], list[Tensor]]
    pack: Callable[[list[Tensor], tuple, dict], Any]


@dataclass(frozen=True, kw_only=True)
class CacheSpec:
    """All block stacks of a model that the cache may wrap.

    `prediction` maps the model's output to the first sample's prediction [C, F, H, W] (profiler: step statistic).
    `signals` (name -> Signal) and `io` are what the data-dependent policies (`delta_cache.peers`) read.
    """

    stacks: tuple[BlockStack, ...]
    prediction: Callable[[Any], Tensor] | None = None
    signals: dict[str, Signal] = field(default_factory=dict)
    io: ModelIO | None = None

    def stack(self, name: str) -> BlockStack:
        for s in self.stacks:
            if s.name == name:
                return s
        raise ValueError(f"unknown block stack {name!r}; this model has: {', '.join(s.name for s in self.stacks)}")

    def blocks(self, model, name: str):
        """The model's block list of the stack called `name` (None where the model lacks it)."""
        return getattr(model, self.stack(name).attr, None)
