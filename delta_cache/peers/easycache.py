"""EasyCache: reuse the model's whole output transformation (output - input) while the predicted change is small.

Output level: a reused pass runs no embedding, block or head; it returns input + the branch's cached
(output - input). The first pass of each step (cond) decides for the pair, each branch keeps its own cache.
On a deciding pass after the forced first `ret_steps` steps: predicted change = k * mean|x - x_prev| /
mean|v_last| (x_prev: the previous deciding pass's input; v_last: the last computed output), accumulated; reuse
while below the threshold, else compute and reset. After a computed deciding pass k = mean|v - v_last| /
mean|x - x_last| between the two latest computed passes. The last step computes (baselines.md §4).
"""

from __future__ import annotations

from ..policy import PassView, Policy


class EasyCache(Policy):
    name = "easycache"
    level = "model"
    settings = {"threshold": float, "ret_steps": int}
    about = "EasyCache (output level)"

    def __init__(self, *, threshold: float, ret_steps: int, last_forced: int = 1):
        if not threshold >= 0 or ret_steps < 0 or last_forced < 0:
            raise ValueError("easycache: threshold, ret_steps and last_forced must be >= 0")
        self.threshold, self.ret_steps, self.last_forced = threshold, ret_steps, last_forced
        self.reset()

    def reset(self) -> None:
        self._x_prev = self._v_last = self._x_last = self._k = None
        self._err = 0.0
        self._pair_reuse = False

    def predict(self, k: float, input_change: float, output_scale: float) -> bool:
        """The published rule on one pass: accumulate k * dx / |v|; True (reuse) while below the threshold."""
        self._err += k * input_change / output_scale
        if self._err < self.threshold:
            return True
        self._err = 0.0
        return False

    def decide_model(self, view: PassView, inputs) -> bool:
        if not view.first_of_step:
            return self._pair_reuse  # the pair follows its first pass
        forced = view.step < self.ret_steps or view.step >= view.num_steps - self.last_forced
        reuse, change = False, None
        if forced:
            self._err = 0.0
        elif self._k is not None and self._x_prev is not None and self._v_last is not None:
            change = view.mean_abs([x.detach().float() - p for x, p in zip(inputs, self._x_prev, strict=True)])
            reuse = self.predict(self._k, change, view.mean_abs(self._v_last))
        self._x_prev = [x.detach().float() for x in inputs]
        self._pair_reuse = reuse
        view.note(k=self._k, input_change=change, err=self._err)
        return reuse

    def computed_model(self, view: PassView, inputs, outputs) -> None:
        if not view.first_of_step:
            return
        v = [o.detach().float() for o in outputs]
        x = [i.detach().float() for i in inputs]
        if self._v_last is not None and self._x_last is not None:
            dv = view.mean_abs([a - b for a, b in zip(v, self._v_last, strict=True)])
            dx = view.mean_abs([a - b for a, b in zip(x, self._x_last, strict=True)])
            self._k = dv / dx if dx > 0 else None
        self._v_last, self._x_last = v, x
