"""Sequence parallelism for WanModel, applied from outside the model (upstream's xDiT USP layout).

    parallelize(model, group)   # after loading (and before or after delta_cache: they compose)

Shard rule, as upstream's `usp_dit_forward`: after patchify the flattened token sequence is zero-padded to
`seq_len`, a multiple of the group size (the pipeline chooses it), and split contiguously; rank r holds rows
[r*L/n, (r+1)*L/n). The RoPE table is split with the same rule, so every token keeps its global position.
Time embedding, modulation and the text context are replicated: each rank cross-attends its own queries to the
whole context. Self-attention runs over the whole sequence through `usp` (key padding masked, unlike
upstream's USP). The head runs on the shard; the shards are gathered before unpatchify.

`apply_fsdp` is upstream's `--dit_fsdp` / `--t5_fsdp`: weights sharded per block across the ranks (memory, not
compute), CUDA only.
"""

from __future__ import annotations

import functools

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
            raise ValueError(f"seq_len {x.shape[1]} is not a multiple of the sequence-parallel size {self.size}; "
                             "pad it with wan.text2video.sequence_length(..., sp_size)")  # fmt: skip
        r = self.group.rank
        return x.chunk(self.size, dim=1)[r], seq_lens, rope.chunk(self.size, dim=1)[r]

    def gather(self, x: Tensor) -> Tensor:
        return self.group.all_gather(x, dim=1)


def parallelize(model: WanModel, group: SequenceParallelGroup) -> WanModel:
    """Install the sharding seam and route every self-attention through the group; returns `model`."""
    if model.num_heads % group.ulysses_degree:
        raise ValueError(f"the model's {model.num_heads} heads are not divisible by the Ulysses degree "
                         f"{group.ulysses_degree}")  # fmt: skip
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
    module: nn.Module, blocks: nn.ModuleList, device: torch.device, sync_module_states: bool = True
) -> nn.Module:
    """Shard `module` with FSDP, one unit per entry of `blocks`, as upstream (FULL_SHARD, bf16 parameters).

    Apply after `parallelize` (it sets attributes on the unwrapped model) and before `delta_cache.apply_cache`.
    """
    if device.type != "cuda":
        raise ValueError("FSDP (--dit_fsdp/--t5_fsdp) needs CUDA; on CPU every rank holds the full weights")
    from torch.distributed.fsdp import FullyShardedDataParallel, MixedPrecision, ShardingStrategy
    from torch.distributed.fsdp.wrap import lambda_auto_wrap_policy

    units = {id(b) for b in blocks}
    return FullyShardedDataParallel(
        module,
        auto_wrap_policy=functools.partial(lambda_auto_wrap_policy, lambda_fn=lambda m: id(m) in units),
        sharding_strategy=ShardingStrategy.FULL_SHARD,
        mixed_precision=MixedPrecision(
            param_dtype=torch.bfloat16, reduce_dtype=torch.float32, buffer_dtype=torch.float32
        ),  # fmt: skip
        device_id=device,
        sync_module_states=sync_module_states,
        use_orig_params=True,
    )
