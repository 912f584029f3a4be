"""AttentionProfiler: what every block's self-attention looks at, step by step, during full-compute generations.

    profiler = AttentionProfiler(model, spec, grid=(f, h, w))   # installs the observers
    latent = pipe.generate(prompt, ..., cache=profiler)          # a StepCache: start(num_steps) + branch(name, step)
    record = profiler.finish()                                   # ā per (branch, stack) [steps, blocks, f, h, w]
    profiler.remove()

The model side is one no-op seam per attention: a module attribute `observe` (None by default) that the model
calls as `observe(q, k, k_lens, joint_len)` just before its attention entry point, with the `usp` token layout
(`attention_stats`). The spec says where it lives (`BlockStack.attention`); the profiler sets it per block from
outside and puts None back on `remove`. The model's prediction per pass (`CacheSpec.prediction`) gives the step
statistic of the paper's Fig. 4, mean |ε_s − ε_{s+1}| per CFG branch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .attention_stats import Group, received_attention
from .spec import CacheSpec


@dataclass
class ProfileRecord:
    """One generation's statistics. `scores[(branch, stack)]`: ā [steps, blocks, f, h, w] (fp32, CPU:
    fp16 would tie the near-uniform values of an untrained model);
    `drift[branch]`: [steps - 1] mean |ε_s − ε_{s+1}|."""

    scores: dict[tuple[str, str], Tensor] = field(default_factory=dict)
    drift: dict[str, Tensor] = field(default_factory=dict)


def gathered_token_order(shard: Callable[[Tensor], Tensor], num_tokens: int, group: Group) -> Tensor:
    """`token_order` for a model whose shards are not contiguous: the natural position of each gathered row.

    `shard` is the model's own sharding rule applied to a [1, N, 1] tensor (e.g. HunyuanVideo's
    `lambda x: model.sp.shard(x, None, grid)[0]`); call on every rank of the group.
    """
    positions = torch.arange(num_tokens, dtype=torch.float32).view(1, -1, 1)
    return group.all_gather(shard(positions).contiguous(), dim=1).view(-1).round().long()


def seam_owner(block: nn.Module, path: str) -> nn.Module:
    """The module of `block` that carries the `observe` seam ("" = the block itself)."""
    from .wrappers import CachedBlock

    if isinstance(block, CachedBlock):  # a reused block is never called: its statistic would be missing
        raise ValueError("the model has delta_cache wrappers; profile it without a cache (remove the handle first)")
    owner = block.get_submodule(path) if path else block
    if not hasattr(owner, "observe"):
        raise ValueError(f"{type(owner).__name__} has no `observe` seam; the spec's attention path is wrong")
    return owner


class AttentionProfiler:
    def __init__(
        self,
        model: nn.Module,
        spec: CacheSpec,
        grid: tuple[int, int, int],
        *,
        queries: int | None = None,
        seed: int = 0,
        group: Group | None = None,
        token_order: Tensor | None = None,
    ):
        """
        Args:
            grid: the token grid (f, h, w) of the generations to profile (the video tokens' natural order).
            queries: None = exact ā; an int = that many sampled queries (`received_attention`).
            group: the sequence-parallel group if the model is parallelized; every rank gets the same record.
            token_order: under sequence parallelism, the natural position of each gathered video row (rank
                order), when the shards are not contiguous slices of the natural order (HunyuanVideo's slabs).
        """
        self.model, self.spec, self.grid = model, spec, tuple(grid)
        self.queries, self.seed, self.group, self.token_order = queries, seed, group, token_order
        self.stacks = [s for s in spec.stacks if s.attention is not None]
        if not self.stacks:
            raise ValueError("the spec marks no block stack with an attention seam (BlockStack.attention)")
        self._owners: list[nn.Module] = []
        for s in self.stacks:
            for i, block in enumerate(getattr(model, s.attr)):
                owner = seam_owner(block, s.attention)
                owner.observe = functools.partial(self._observe, s.name, i)
                self._owners.append(owner)
        self._hook = model.register_forward_hook(self._on_output) if spec.prediction is not None else None
        self._branch: str | None = None
        self._step: int | None = None
        self.num_steps = 0
        self.record = ProfileRecord()

    # -- the StepCache protocol ------------------------------------------------------------------------
    def start(self, num_steps: int) -> None:
        self.num_steps = num_steps
        self.record = ProfileRecord()
        self._previous: dict[str, Tensor] = {}

    def clear_deltas(self) -> None:
        """A new denoising batch of the same generation (HunyuanVideo): the step statistic restarts."""
        self._previous = {}

    @contextmanager
    def branch(self, name: str, step: int) -> Iterator[None]:
        if not 0 <= step < self.num_steps:
            raise ValueError(f"step {step} outside the {self.num_steps} steps of this profile")
        self._branch, self._step = name, step
        try:
            yield
        finally:
            self._branch = self._step = None

    def finish(self) -> ProfileRecord:
        return self.record

    def remove(self) -> None:
        for owner in self._owners:
            owner.observe = None
        self._owners = []
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def __enter__(self) -> AttentionProfiler:
        return self

    def __exit__(self, *exc) -> bool:
        self.remove()
        return False

    # -- observation -----------------------------------------------------------------------------------
    def _observe(self, stack: str, index: int, q: Tensor, k: Tensor, k_lens: Tensor | None, joint_len: int) -> None:
        if self._step is None:
            raise RuntimeError("AttentionProfiler: model called outside `with profiler.branch(name, step)`")
        with torch.no_grad():
            abar = received_attention(
                q,
                k,
                k_lens,
                joint_len,
                queries=self.queries,
                seed=self.seed,
                group=self.group,
                token_order=self.token_order,
            )
        f, h, w = self.grid
        n = f * h * w
        if abar.shape[1] < n:
            raise ValueError(f"AttentionProfiler: {abar.shape[1]} video tokens, fewer than the {self.grid} grid")
        abar = abar[:, :n].mean(dim=0)  # trailing rows are sequence padding; batch (batched CFG) averaged
        if self.token_order is not None:
            natural = torch.empty_like(abar)
            natural[self.token_order.to(abar.device)] = abar
            abar = natural
        key = (self._branch, stack)
        if key not in self.record.scores:
            depth = len(self.spec.blocks(self.model, stack))
            self.record.scores[key] = torch.zeros(self.num_steps, depth, f, h, w, dtype=torch.float32)
        self.record.scores[key][self._step, index] = abar.view(f, h, w).to("cpu", torch.float32)

    def _on_output(self, module: nn.Module, args, output) -> None:
        if self._step is None:
            return
        prediction = self.spec.prediction(output).detach().float()
        previous = self._previous.get(self._branch)
        if previous is not None:
            drift = self.record.drift.setdefault(self._branch, torch.full((self.num_steps - 1,), float("nan")))
            drift[self._step - 1] = (prediction - previous).abs().mean().item()
        self._previous[self._branch] = prediction
