"""CachedBlock: the wrapper installed in place of a block of a cached run.

Roles within a run first..last: `isolated` (a run of one), `run_start`, `run_inner`, `run_end`. On a reuse
step the start and inner blocks pass their streams through untouched and the end block adds the run's delta,
so the run's output equals its input plus (output - input) recorded at the last refresh.

Only the decision is kept out of compiled graphs: `forward` is disabled for Dynamo non-recursively, so the
wrapped block, called from it, is still traced and compiled (under `torch.compile(model)`, or once per block
with `compile_blocks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from .schedule import FULL, REFRESH

if TYPE_CHECKING:
    from .handle import CacheHandle

ISOLATED, RUN_START, RUN_INNER, RUN_END = "isolated", "run_start", "run_inner", "run_end"


class CachedBlock(nn.Module):
    def __init__(self, block: nn.Module, handle: CacheHandle, stack: str, index: int, run: int, role: str, n: int):
        super().__init__()
        self.block = block
        self.stack, self.index, self.run, self.role, self.num_streams = stack, index, run, role, n
        # A plain attribute (not a submodule): the handle owns the state, the wrapper only points at it.
        object.__setattr__(self, "_handle", handle)

    def extra_repr(self) -> str:
        return f"stack={self.stack}, index={self.index}, role={self.role}, run={self.run}"

    def _split(self, out) -> tuple[Tensor, ...]:
        return (out,) if self.num_streams == 1 else tuple(out)

    def _join(self, streams: tuple[Tensor, ...]):
        return streams[0] if self.num_streams == 1 else streams

    @torch.compiler.disable(recursive=False)
    def forward(self, *args, **kwargs):
        handle = self._handle
        action = handle.action(self.stack)
        handle.note_executed(self.stack, action)
        if action == FULL:
            return self.block(*args, **kwargs)
        streams_in = tuple(args[: self.num_streams])
        if action == REFRESH:
            if self.role in (ISOLATED, RUN_START):
                # A reference, not a copy: no block changes its inputs in place (tested for both models).
                handle.set_anchor(self.stack, self.run, streams_in)
            out = self.block(*args, **kwargs)
            if self.role in (ISOLATED, RUN_END):
                handle.store_delta(self.stack, self.run, self._split(out))
            return out
        handle.count_reuse(self.stack)  # REUSE: the runtime returns nothing else
        if self.role in (RUN_START, RUN_INNER):
            return self._join(streams_in)
        delta = handle.delta(self.stack, self.run, self.index)
        # The stored dtype may be narrower than the stream's (`cache_dtype`); the sum keeps the stream's dtype.
        return self._join(tuple(s + d.to(s.dtype) for s, d in zip(streams_in, delta, strict=True)))
