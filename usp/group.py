"""The sequence-parallel group: process groups from torchrun's environment, set up as xDiT does.

Ranks are laid out as yunchang's `set_seq_parallel_pg` lays them out (Ulysses groups of consecutive ranks, ring
groups across them), which is also what xfuser's `initialize_model_parallel` calls underneath. On CUDA with
xfuser installed the set-up goes through xfuser, as upstream's; elsewhere (CPU, gloo) through yunchang directly.
The sequence-parallel degree is the world size: no data or CFG parallelism on top, as upstream's two CLIs.
"""

from __future__ import annotations

import datetime
import functools
import gc
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor

# Long enough for the slowest rank to load a 14B checkpoint before the first collective; a rank that dies
# is caught by torchrun, which stops the others, so this only bounds a truly stuck collective.
DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)


def world_from_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) as torchrun sets them; (0, 0, 1) for a plain `python` run."""
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1))


def check_degrees(ulysses: int, ring: int, world_size: int, num_heads: int) -> None:
    """Upstream's validity rules, as one-line ValueErrors (checked before anything is loaded)."""
    if ulysses < 1 or ring < 1:
        raise ValueError(f"the Ulysses and ring degrees must be >= 1, got {ulysses} and {ring}")
    if world_size == 1 and ulysses * ring > 1:
        raise ValueError(
            f"Ulysses x ring = {ulysses * ring} needs that many processes; launch with "
            f"torchrun --nproc_per_node={ulysses * ring} (scripts/launch_*.sh)"
        )
    if ulysses * ring != world_size:
        raise ValueError(
            f"Ulysses degree {ulysses} x ring degree {ring} = {ulysses * ring} must equal the "
            f"world size {world_size} (torchrun --nproc_per_node)"
        )
    if num_heads % ulysses:
        raise ValueError(
            f"the model's {num_heads} attention heads are not divisible by the Ulysses degree {ulysses}; "
            "choose a Ulysses degree that divides them and put the rest in the ring degree"
        )


RING_NEEDS_XFUSER = (
    "a ring degree > 1 needs xfuser's ring attention (CUDA, pip install -e .[gpu]); on CPU use the Ulysses degree alone"
)


def check_layout(ulysses: int, ring: int, num_heads: int) -> int:
    """`check_degrees` against torchrun's world size, and ring attention's need for xfuser; returns the world size.

    What both CLIs check before loading anything.
    """
    world = world_from_env()[2]
    check_degrees(ulysses, ring, world, num_heads)
    if ring > 1 and not xfuser_available():
        raise ValueError(RING_NEEDS_XFUSER)
    return world


def rank_device(requested: str | None) -> torch.device:
    """`requested` if given, else this rank's GPU (`cuda:LOCAL_RANK`) when there is one, else the CPU."""
    if requested:
        return torch.device(requested)
    return torch.device(f"cuda:{world_from_env()[1]}" if torch.cuda.is_available() else "cpu")


@functools.cache
def xfuser_available() -> bool:
    """xfuser imports only with CUDA (and flash-attn); imported lazily, once."""
    if not torch.cuda.is_available():
        return False
    try:
        import xfuser.core.distributed  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class SequenceParallelGroup:
    """Degrees, this rank's place, and the process groups; `attention` is the USP attention over them."""

    ulysses_degree: int
    ring_degree: int
    rank: int
    ulysses_pg: dist.ProcessGroup | None
    ring_pg: dist.ProcessGroup | None
    engine: str  # "xfuser" or "yunchang"
    _xfuser_attn: Callable | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return self.ulysses_degree * self.ring_degree

    @property
    def ulysses_rank(self) -> int:
        return dist.get_rank(self.ulysses_pg) if self.ulysses_degree > 1 else 0

    def all_gather(self, x: Tensor, dim: int) -> Tensor:
        """Concatenate every rank's `x` along `dim`, in rank order (the sequence order of the shards)."""
        parts = [torch.empty_like(x) for _ in range(self.size)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=dim)

    def broadcast_object(self, obj):
        """Rank 0's `obj` on every rank (seeds drawn at random, for instance)."""
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def attention(self, q: Tensor, k: Tensor, v: Tensor, k_lens: Tensor | None, joint_len: int, local: Callable):
        from .attention import usp_attention

        return usp_attention(self, q, k, v, k_lens, joint_len, local)

    def xfuser_attention(self) -> Callable:
        if self._xfuser_attn is None:
            from xfuser.core.long_ctx_attention import xFuserLongContextAttention

            self._xfuser_attn = xFuserLongContextAttention()
        return self._xfuser_attn


def init_sequence_parallel(
    ulysses: int, ring: int, device: torch.device, timeout: datetime.timedelta = DEFAULT_TIMEOUT
) -> SequenceParallelGroup:
    """Join the torchrun group and build the Ulysses and ring process groups (call once per process).

    NCCL on CUDA, gloo on CPU. Ring degrees > 1 need xfuser's ring attention, hence CUDA.
    """
    rank, local_rank, world_size = world_from_env()
    if ulysses * ring != world_size:
        raise ValueError(f"Ulysses {ulysses} x ring {ring} != world size {world_size}")
    use_xfuser = device.type == "cuda" and xfuser_available()
    if ring > 1 and not use_xfuser:
        raise ValueError(RING_NEEDS_XFUSER)
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    if use_xfuser:
        from xfuser.core.distributed import init_distributed_environment, initialize_model_parallel

        if not dist.is_initialized():
            dist.init_process_group("nccl", rank=rank, world_size=world_size, timeout=timeout)
        init_distributed_environment(rank=rank, world_size=world_size)
        initialize_model_parallel(sequence_parallel_degree=world_size, ring_degree=ring, ulysses_degree=ulysses)
    elif not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=timeout)
    from yunchang import set_seq_parallel_pg
    from yunchang.globals import PROCESS_GROUP

    if not use_xfuser or PROCESS_GROUP.ULYSSES_PG is None:  # xfuser sets them only when it finds yunchang
        set_seq_parallel_pg(ulysses, ring, rank, world_size)

    return SequenceParallelGroup(
        ulysses_degree=ulysses,
        ring_degree=ring,
        rank=rank,
        ulysses_pg=PROCESS_GROUP.ULYSSES_PG,
        ring_pg=PROCESS_GROUP.RING_PG,
        engine="xfuser" if use_xfuser else "yunchang",
    )


def destroy_sequence_parallel() -> None:
    if dist.is_initialized():
        # Free what still refers to the groups (an FSDP model left as garbage by its caller) while they exist,
        # not at interpreter teardown after them.
        gc.collect()
        dist.destroy_process_group()
