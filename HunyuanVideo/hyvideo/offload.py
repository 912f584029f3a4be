"""`--use-cpu-offload`: keep the DiT's blocks on the CPU and move each one to the GPU only for its forward.

Upstream calls diffusers' sequential offload; this does the same at block granularity with forward hooks, so
the model code is untouched and a block the delta cache skips is never uploaded. Text encoders and the VAE are
moved to the GPU only while they run (`on_device`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


def enable_block_offload(model: nn.Module, device: torch.device, stacks: tuple[str, ...]) -> list:
    """Blocks of `stacks` live on the CPU between forwards; everything else of `model` moves to `device`."""
    blocks = [b for attr in stacks for b in getattr(model, attr)]
    block_ids = {id(b) for b in blocks}
    for name, child in model.named_children():
        if id(child) not in block_ids and name not in stacks:
            child.to(device)
    handles = []
    for block in blocks:
        block.to("cpu")
        handles.append(block.register_forward_pre_hook(lambda m, args: m.to(device)))
        handles.append(block.register_forward_hook(lambda m, args, out: m.to("cpu")))
    return handles


@contextmanager
def on_device(module: nn.Module, device: torch.device, offload: bool) -> Iterator[nn.Module]:
    """Run `module` on `device`; with `offload`, send it back to the CPU afterwards."""
    module.to(device)
    try:
        yield module
    finally:
        if offload:
            module.to("cpu")
            if device.type == "cuda":
                torch.cuda.empty_cache()
