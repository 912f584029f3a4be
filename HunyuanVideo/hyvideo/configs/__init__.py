"""Variant registry: HUNYUAN_VIDEO_CONFIG (upstream's name), frozen dataclasses."""

from .models import HYVIDEO_DEBUG, HYVIDEO_T2, HYVIDEO_T2_CFGDISTILL, HYVIDEO_TINY
from .shared import NEGATIVE_PROMPT, PRECISION_TO_TYPE, HYVideoConfig

HUNYUAN_VIDEO_CONFIG: dict[str, HYVideoConfig] = {
    c.name: c for c in (HYVIDEO_T2, HYVIDEO_T2_CFGDISTILL, HYVIDEO_DEBUG, HYVIDEO_TINY)
}
DEBUG_MODEL = HYVIDEO_DEBUG.name

__all__ = ["HUNYUAN_VIDEO_CONFIG", "DEBUG_MODEL", "HYVideoConfig", "NEGATIVE_PROMPT", "PRECISION_TO_TYPE"]
