"""The profiler's `observe` seam on diffusers' self-attention modules, put there from outside.

Our own stacks call `observe(q, k, k_lens, joint_len)` from inside their attention (`delta_cache.profiler`).
diffusers' attention processors build q and k inside `__call__` and hand them to `dispatch_attention_fn`, a name
each transformer module imports from `diffusers.models.attention_dispatch`. `add_observe_seams` therefore:
- gives each self-attention module the spec names (`BlockStack.attention`) an `observe` attribute, None;
- marks, with torch forward hooks, which of them is running (and how many text rows it joins: its
  `encoder_hidden_states`, HunyuanVideo's joint tokens, which the processor appends after the video rows);
- replaces `dispatch_attention_fn` in the processor's module by a pass-through that shows the running module's
  `observe` the q and k of its first dispatch (the self-attention; nothing else is dispatched inside these
  modules), and the valid keys per sample from the attention mask.
q and k then have our layout: [B, video + joint, heads, head_dim], after the norms and RoPE. Removing the seams
puts the original function back once no model uses it; with `observe` None the pass-through only forwards.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

NAME = "dispatch_attention_fn"

_running: list[tuple[nn.Module, dict]] = []  # observed modules whose forward is running (innermost last)
_patched: dict[int, list] = {}  # id(module globals) -> [globals, the original function, users]


def _key_lens(mask: Tensor | None, num_keys: int) -> Tensor | None:
    """Valid keys per sample from an attention mask ([B, 1, 1 or Q, K], bool or additive), or None. The first
    query row is a video token, valid in every supported model; its row says which keys count. Our statistic
    takes the valid keys as a prefix (diffusers' HunyuanVideo 1.0 and 1.5 put the padding last)."""
    if mask is None:
        return None
    row = mask.reshape(mask.shape[0], -1, mask.shape[-1])[:, 0]
    valid = row if row.dtype == torch.bool else row > torch.finfo(row.dtype).min / 2
    lens = valid.sum(dim=-1)
    prefix = torch.arange(mask.shape[-1], device=mask.device)[None] < lens[:, None]
    if not torch.equal(valid, prefix):
        raise ValueError("observe: the attention mask's valid keys are not a prefix of the sequence")
    return lens if int(lens.min()) < num_keys else None


def _observing(original: Callable) -> Callable:
    def dispatch_attention_fn(query, key, value, *args, **kwargs):
        if _running:
            module, state = _running[-1]
            if module.observe is not None and not state["seen"]:
                state["seen"] = True
                k_lens = _key_lens(kwargs.get("attn_mask", args[0] if args else None), key.shape[1])
                module.observe(query, key, k_lens, state["joint"])
        return original(query, key, value, *args, **kwargs)

    return dispatch_attention_fn


def _enter(module: nn.Module, args: tuple, kwargs: dict) -> None:
    context = kwargs.get("encoder_hidden_states", args[1] if len(args) > 1 else None)
    _running.append((module, {"seen": False, "joint": 0 if context is None else int(context.shape[1])}))


def _leave(module: nn.Module, args: tuple, kwargs: dict, output) -> None:
    if _running and _running[-1][0] is module:
        _running.pop()


class ObserveSeams:
    """What `add_observe_seams` returns; `remove()` takes every hook, attribute and patch off again."""

    def __init__(self):
        self.modules: list[nn.Module] = []
        self.hooks: list = []
        self.globals: list[dict] = []

    def remove(self) -> None:
        for hook in self.hooks:
            hook.remove()
        for module in self.modules:
            module.__dict__.pop("observe", None)
        for namespace in self.globals:
            entry = _patched[id(namespace)]
            entry[2] -= 1
            if entry[2] == 0:
                namespace[NAME] = entry[1]
                del _patched[id(namespace)]
        self.modules, self.hooks, self.globals = [], [], []


def add_observe_seams(model: nn.Module, spec) -> ObserveSeams:
    """Put the `observe` seam on every self-attention module of `model` that `spec` names (its stacks'
    `attention` paths), for `delta_cache.AttentionProfiler`."""
    seams = ObserveSeams()
    try:
        for stack in spec.stacks:
            if stack.attention is None:
                continue
            for block in getattr(model, stack.attr):
                module = block.get_submodule(stack.attention)
                processor = getattr(module, "processor", None)
                if processor is None or NAME not in type(processor).__call__.__globals__:
                    raise ValueError(
                        f"{type(module).__name__}'s processor {type(processor).__name__} does not call {NAME}; "
                        "the profiler cannot see its q and k"
                    )
                namespace = type(processor).__call__.__globals__
                if not any(g is namespace for g in seams.globals):
                    entry = _patched.setdefault(id(namespace), [namespace, namespace[NAME], 0])
                    entry[2] += 1
                    namespace[NAME] = namespace[NAME] if entry[2] > 1 else _observing(entry[1])
                    seams.globals.append(namespace)
                module.observe = None
                seams.modules.append(module)
                seams.hooks.append(module.register_forward_pre_hook(_enter, with_kwargs=True))
                seams.hooks.append(module.register_forward_hook(_leave, with_kwargs=True, always_call=True))
    except Exception:
        seams.remove()
        raise
    return seams
