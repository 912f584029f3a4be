"""Regional compilation: every block of every stack compiled once, the cache wrappers left outside.

The way diffusers' `compile_repeated_blocks` and torchtitan's `apply_compile` do it: a DiT is a stack of
identical blocks, so compiling each block (Dynamo reuses one graph for them) costs one compile, and the
per-step cache decision, which runs in the wrapper, never enters a graph.
"""

from __future__ import annotations

from torch import nn

from .spec import CacheSpec
from .wrappers import CachedBlock


def compile_blocks(model: nn.Module, spec: CacheSpec, **compile_kwargs) -> int:
    """`torch.compile` each block of the spec's stacks in place (`nn.Module.compile`); returns the count.

    Call before or after `apply_cache`: a wrapped block's inner block is compiled, never the wrapper.
    """
    n = 0
    for stack in spec.stacks:
        blocks = getattr(model, stack.attr, None)
        if not isinstance(blocks, nn.ModuleList):
            continue
        for block in blocks:
            (block.block if isinstance(block, CachedBlock) else block).compile(**compile_kwargs)
            n += 1
    return n
