"""Sequence parallelism for WanModel, applied from outside the model (upstream's xDiT USP layout).

    parallelize(model, group)   # after loading (and before or after delta_cache: they compose)

Shard rule, as upstream's `usp_dit_forward`: after patchify the flattened token sequence is zero-padded to
`seq_len`, a multiple of the group size (the pipeline chooses it), and split contiguously; rank r holds rows
[r*L/n, (r+1)*L/n). The RoPE table is split with the same rule, so every token keeps its global position.
Time embedding, modulation and the text context are replicated: each rank cross-attends its own queries to the
whole context. Self-attention runs over the whole sequence through `usp` (key padding masked, unlike
upstream's USP). The head runs on the shard; the shards are gathered before unpatchify.

`apply_fsdp` is upstream's `--dit_fsdp` / `--t5_fsdp`: weights sharded per block across the ranks (memory, not
compute), from a model loaded on the CPU.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from usp import SequenceParallelGroup

from .modules.model import LocalSequence, WanModel, WanSelfAttention


class ShardedSequence:
    """The sharding seam `WanModel.forward` calls: `shard` after patchify, `gather` before unpatchify."""

    def __init__(self, group: SequenceParallelGroup):
        self.group = group
        self.size = group.size

    def shard(self, x: Tensor, seq_lens: Tensor | None, rope: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        """x [B, L, D] and rope [B, L, 1, Dh/2] -> this rank's rows; seq_lens stays global (it masks keys)."""
        if x.shape[1] % self.size:
            raise ValueError(
                f"seq_len {x.shape[1]} is not a multiple of the sequence-parallel size {self.size}; "
                "pad it with wan.text2video.sequence_length(..., sp_size)"
            )
        r = self.group.rank
        return x.chunk(self.size, dim=1)[r], seq_lens, rope.chunk(self.size, dim=1)[r]

    def gather(self, x: Tensor) -> Tensor:
        return self.group.all_gather(x, dim=1)


def parallelize(model: WanModel, group: SequenceParallelGroup) -> WanModel:
    """Install the sharding seam and route every self-attention through the group; returns `model`."""
    if model.num_heads % group.ulysses_degree:
        raise ValueError(
            f"the model's {model.num_heads} heads are not divisible by the Ulysses degree {group.ulysses_degree}"
        )
    model.sp = ShardedSequence(group)
    for m in model.modules():
        if type(m) is WanSelfAttention:  # not WanCrossAttention: its keys are the replicated text
            m.sp = group
    return model


def unparallelize(model: WanModel) -> WanModel:
    """Back to single-device behaviour (same modules, nothing else changed)."""
    model.sp = LocalSequence()
    for m in model.modules():
        if type(m) is WanSelfAttention:
            m.sp = None
    return model


def apply_fsdp(
    module: nn.Module, blocks: nn.ModuleList, device: torch.device, param_dtype: torch.dtype | None = None
) -> nn.Module:
    """Shard `module` with FSDP2 (`fully_shard`), one unit per entry of `blocks` plus the root, as upstream.

    `module` should still be on the CPU: each unit's parameters are cut into shards and only this rank's shard
    moves to `device`, so no GPU ever holds the whole model (upstream's order; loading onto the GPU first runs
    a 14B model out of memory on 40 GB cards). `param_dtype` is the all-gathered dtype (upstream: bf16 on CUDA;
    None keeps the stored one). NCCL on CUDA, gloo on CPU (tests). A block that is not called (a cached
    block on a reuse step) is never all-gathered. Apply after `parallelize` and before `apply_cache`.
    """
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(device.type, (torch.distributed.get_world_size(),))
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    for block in blocks:
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(module, mesh=mesh, mp_policy=policy)
    return module
