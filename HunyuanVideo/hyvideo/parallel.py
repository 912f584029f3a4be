"""Sequence parallelism for HYVideoDiffusionTransformer, applied from outside the model (upstream's xDiT layout).

    parallelize(model, group)   # after loading (and before or after delta_cache: they compose)

Shard rule, as upstream's `parallelize_transformer`: the image is split along the token grid's height if
`(H'/2) % n == 0`, else along its width if `(W'/2) % n == 0`, else the size is refused (`split_axis`).
Upstream chunks the latent before patchify; chunking the (T, H'/2, W'/2) token grid after it gives the same
tokens, because patchify is per patch. The RoPE tables are chunked on the same axis, so positions stay global.
The text is replicated on every rank and joins the attention as xDiT's "rear" joint tokens (`usp`), with the
padded text masked. The final layer runs on the shard; the shards are gathered along the split axis.
"""

from __future__ import annotations

from torch import Tensor

from usp import SequenceParallelGroup

from .modules.models import HYVideoDiffusionTransformer, LocalSequence, MMDoubleStreamBlock, MMSingleStreamBlock


def split_axis(grid: tuple[int, int, int], size: int) -> int:
    """Axis of the [B, T, H, W, D] token grid to split: 2 (height) if it divides, else 3 (width), else error."""
    _, h, w = grid
    if h % size == 0:
        return 2
    if w % size == 0:
        return 3
    raise ValueError(
        f"neither the latent token height {h} nor width {w} is divisible by the sequence-parallel "
        f"size {size}; choose a --video-size whose H/16 or W/16 is a multiple of {size}"
    )


class GridShardedSequence:
    """The sharding seam the model's forward calls: `shard` after patchify, `gather` before unpatchify."""

    def __init__(self, group: SequenceParallelGroup):
        self.group = group
        self.size = group.size

    def shard(
        self, img: Tensor, freqs: tuple[Tensor, Tensor] | None, grid: tuple[int, int, int]
    ) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
        """img [B, T*H*W, D] and freqs cos/sin [T*H*W, Dh] -> this rank's slab of the grid, flattened."""
        axis, r = split_axis(grid, self.size), self.group.rank
        b, _, d = img.shape
        img = img.view(b, *grid, d).chunk(self.size, dim=axis)[r].reshape(b, -1, d)
        if freqs is not None:
            freqs = tuple(f.view(*grid, -1).chunk(self.size, dim=axis - 1)[r].reshape(-1, f.shape[-1]) for f in freqs)
        return img, freqs

    def gather(self, img: Tensor, grid: tuple[int, int, int]) -> Tensor:
        axis = split_axis(grid, self.size)
        t, h, w = grid
        local = (t, h // self.size, w) if axis == 2 else (t, h, w // self.size)
        b, _, c = img.shape
        full = self.group.all_gather(img.view(b, *local, c), dim=axis)
        return full.reshape(b, -1, c)


def parallelize(model: HYVideoDiffusionTransformer, group: SequenceParallelGroup) -> HYVideoDiffusionTransformer:
    """Install the sharding seam and route every joint attention through the group; returns `model`."""
    if model.heads_num % group.ulysses_degree:
        raise ValueError(
            f"the model's {model.heads_num} heads are not divisible by the Ulysses degree {group.ulysses_degree}"
        )
    model.sp = GridShardedSequence(group)
    for m in model.modules():
        if isinstance(m, MMDoubleStreamBlock | MMSingleStreamBlock):
            m.sp = group
    return model


def unparallelize(model: HYVideoDiffusionTransformer) -> HYVideoDiffusionTransformer:
    """Back to single-device behaviour (same modules, nothing else changed)."""
    model.sp = LocalSequence()
    for m in model.modules():
        if isinstance(m, MMDoubleStreamBlock | MMSingleStreamBlock):
            m.sp = None
    return model
