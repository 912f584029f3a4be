"""Wan2.1 text-to-video inference (our implementation; upstream module paths and names)."""

from . import configs
from .text2video import WanT2V

__all__ = ["configs", "WanT2V"]
