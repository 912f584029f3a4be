"""Wan2.1 text-to-video and image-to-video inference (our implementation; upstream module paths and names)."""

from . import configs
from .image2video import WanI2V
from .text2video import WanT2V

__all__ = ["configs", "WanI2V", "WanT2V"]
