"""Synthetic video scenes with a static textured background and moving coloured shapes.

The scenes have exactly the structure ProfilingDiT exploits (static background, moving foreground) and
come with ground-truth foreground masks. `scenes.render` draws them; `scenes.metrics` measures prompt
adherence of generated frames with colour segmentation, and full-vs-cached fidelity (PSNR, SSIM).
"""

from .attributes import (
    BACKGROUND_COLOURS,
    DIRECTIONS,
    OBJECT_COLOURS,
    OPPOSITE,
    SHAPES,
    TEXTURES,
    VOCABULARY,
    Scene,
    SceneObject,
    all_combos,
    held_out_combos,
    training_combos,
)
from .render import render_scene, sample_scene

__all__ = [
    "BACKGROUND_COLOURS",
    "DIRECTIONS",
    "OBJECT_COLOURS",
    "OPPOSITE",
    "SHAPES",
    "TEXTURES",
    "VOCABULARY",
    "Scene",
    "SceneObject",
    "all_combos",
    "held_out_combos",
    "training_combos",
    "render_scene",
    "sample_scene",
]
