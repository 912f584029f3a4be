"""HunyuanVideo text-to-video inference (our implementation; upstream module paths and names)."""

from . import configs
from .inference import HunyuanVideoSampler

__all__ = ["configs", "HunyuanVideoSampler"]
