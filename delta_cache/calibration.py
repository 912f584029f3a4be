"""Calibrating the peer methods on a model without published constants, the way their authors did.

`CalibrationRecorder` is a step cache (it takes the pipeline's `start` / `branch` calls) that computes nothing
differently: during full-compute generations it records, per pass and against the previous pass of the same
branch, the rel-L1 change of each named indicator signal, of the model output, and MagCache's magnitude ratio
of the whole-stack residual (mean over tokens of |r_t| / |r_prev|, L2 over the hidden size; the residual is the
first stream leaving the last block minus the first stream entering block 0, its first tokens when the last
stack also carries text tokens). Then:
    TeaCache:  np.polyfit(indicator rel-L1, output rel-L1, 4) over all recorded steps (TeaCache issue #2);
    MagCache:  the per-step ratios (mean over the calibration prompts), [1.0] per branch for step 0, interleaved.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager

import numpy as np
from torch import Tensor, nn

from .spec import CacheSpec


def _rel_l1(cur: Tensor, prev: Tensor) -> float:
    return float((cur - prev).abs().mean() / prev.abs().mean())


def _first(out):
    if isinstance(out, dict):
        out = next(iter(out.values()))
    return out if isinstance(out, Tensor) else out[0]


class CalibrationRecorder:
    def __init__(self, model: nn.Module, spec: CacheSpec, signals: tuple[str, ...]):
        self.model, self.spec, self.signal_names = model, spec, signals
        self.rows: list[dict] = []  # one per pass: branch, step, {signal}_rel_l1, output_rel_l1, mag_ratio
        self._prev: dict[str, dict[str, Tensor]] = defaultdict(dict)  # branch -> name -> last tensor
        self._now: dict[str, Tensor] = {}
        self._hooks = []
        for name in signals:
            sig = spec.signals[name]
            module = model.get_submodule(sig.module)
            if sig.when == "output":
                self._hooks.append(module.register_forward_hook(lambda m, a, o, n=name: self._take(n, _first(o))))
            else:
                self._hooks.append(
                    module.register_forward_pre_hook(
                        lambda m, a, kw, n=name, f=sig.fn: self._take(n, f(m, a, kw)), with_kwargs=True
                    )
                )
        first = getattr(model, spec.stacks[0].attr)[0]
        last = getattr(model, spec.stacks[-1].attr)[-1]
        self._hooks.append(first.register_forward_pre_hook(lambda m, a: self._take("stack_in", a[0])))
        self._hooks.append(last.register_forward_hook(lambda m, a, o: self._take("stack_out", _first(o))))
        self._hooks.append(model.register_forward_hook(lambda m, a, o: self._take("output", _first(o))))

    def _take(self, name: str, tensor: Tensor) -> None:
        self._now[name] = tensor.detach().float()

    def remove(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []

    # the step-cache protocol of both pipelines
    def start(self, num_steps: int) -> None:
        self._prev.clear()

    def clear_deltas(self) -> None:
        self._prev.clear()

    @contextmanager
    def branch(self, name: str, step: int):
        self._now = {}
        yield
        now, prev = self._now, self._prev[name]
        residual = now["stack_out"][:, : now["stack_in"].shape[1]] - now["stack_in"]
        row = {"branch": name, "step": step}
        if prev:
            for key in (*self.signal_names, "output"):
                row[f"{key}_rel_l1"] = _rel_l1(now[key], prev[key])
            row["mag_ratio"] = float((residual.norm(dim=-1) / prev["residual"].norm(dim=-1)).mean())
        self.rows.append(row)
        self._prev[name] = {**{k: now[k] for k in (*self.signal_names, "output")}, "residual": residual}


def fit_polynomial(x: list[float], y: list[float], degree: int = 4) -> tuple[float, ...]:
    """TeaCache's rescaling: output change as a polynomial of indicator change, highest power first."""
    return tuple(float(c) for c in np.polyfit(np.asarray(x), np.asarray(y), degree))


def mag_table(rows: list[dict], branches: tuple[str, ...], num_steps: int) -> tuple[float, ...]:
    """Interleaved per-step ratios (mean over the recorded generations), 1.0 for every branch at step 0."""
    table = []
    for step in range(num_steps):
        for b in branches:
            values = [r["mag_ratio"] for r in rows if r["branch"] == b and r["step"] == step and "mag_ratio" in r]
            table.append(round(float(np.mean(values)), 5) if values else 1.0)
    return tuple(table)
