"""OutputReuse: output-level reuse (EasyCache), the model-level counterpart of `CachedBlock`.

For the lifetime of its handle it stands in front of the model instance's own `forward` (an instance attribute,
removed again with the handle; the class's forward is never touched). On a pass the policy reuses it returns
input + the branch's (output - input) of its last computed pass and runs no embedding, block or head; on a
computed pass the model's own forward runs unchanged and its (output - input) goes into the handle's slot for
the branch. With a forecasting policy (`adaptive`'s output-level skip) the slot works as a block run's does: the
last two (output - input) are held and a reuse adds their first-order extrapolation. The tensors live in the
handle; the wrapper only points at it, like the block wrappers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from .handle import CacheHandle
    from .policy import PassView, Policy
    from .spec import ModelIO

# An attribute of the installed forward, so that a second handle sees that one is in place.
OUTPUT_REUSE_MARK = "_delta_cache_output_reuse"
MODEL_OUTPUT = "model_output"  # the handle's slot name of output-level deltas (never a block stack's name)


class OutputReuse:
    def __init__(self, model: nn.Module, handle: CacheHandle, policy: Policy, view: PassView, io: ModelIO):
        self.model, self.handle, self.policy, self.view, self.io = model, handle, policy, view, io
        self._forward_was = None
        self._original = None

    def install(self) -> None:
        self._forward_was = self.model.__dict__.get("forward")
        self._original = self.model.forward

        @torch.compiler.disable
        def forward(*args, **kwargs):
            return self(*args, **kwargs)

        setattr(forward, OUTPUT_REUSE_MARK, True)
        self.model.forward = forward

    def remove(self) -> None:
        if self._forward_was is None:
            self.model.__dict__.pop("forward", None)
        else:
            self.model.forward = self._forward_was

    def __call__(self, *args, **kwargs):
        view, handle, io = self.view, self.handle, self.io
        if view.step is None:
            raise RuntimeError("delta_cache: model called outside `with handle.branch(name, step)`")
        inputs = io.inputs(args, kwargs)
        if self.policy.decide_model(view, inputs):
            # with `forecast`, the output delta extrapolated from the last two computed passes, as a block run's
            delta = handle.delta(MODEL_OUTPUT, 0, -1) if handle.forecast else handle.output_delta()
            if delta is None:
                raise RuntimeError(f"{self.policy.name}: reuse in branch {view.branch!r} before any computed pass")
            handle.reuse_model_pass()
            return io.pack([x + d.to(x.dtype) for x, d in zip(inputs, delta, strict=True)], args, kwargs)
        if handle.forecast:
            handle.set_anchor(MODEL_OUTPUT, 0, tuple(x.detach() for x in inputs))
        out = self._original(*args, **kwargs)
        outputs = io.outputs(out)
        if handle.forecast:
            handle.store_delta(MODEL_OUTPUT, 0, tuple(o.detach() for o in outputs))
        else:
            handle.store_output_delta(tuple(o.detach() - x.detach() for o, x in zip(outputs, inputs, strict=True)))
        self.policy.computed_model(view, inputs, outputs)
        handle.compute_model_pass()
        return out
