"""What a sampling loop asks of a step cache: the one protocol every pipeline here is written against.

A `CacheHandle` follows it, and so do the profiler, the calibration recorder and the harness's phased cache:
each is handed to a pipeline as `cache=` and sees the generation only through these three calls.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol


class StepCache(Protocol):
    def start(self, num_steps: int) -> None:
        """A generation begins: check the step count, forget every state of the last one."""

    def clear_deltas(self) -> None:
        """A new denoising batch of the same generation (HunyuanVideo's --batch-size): forget cached tensors."""

    def branch(self, name: str, step: int) -> AbstractContextManager:
        """The context of one model pass: its CFG branch name and its step."""
