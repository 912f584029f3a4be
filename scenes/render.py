"""Drawing scenes: a static textured background and shapes moving in a straight line, with masks.

Geometry is relative to the frame width so that any size works: an object spans 19-25% of the width and
travels 50-60% of it over the clip, so it covers any background pixel for less than half of the frames
(a per-pixel temporal median recovers the background). The middle of its path is uniform over the frame
whatever the direction, so it may enter or leave the frame at either end of the clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .attributes import BACKGROUND_COLOURS, DIRECTIONS, OBJECT_COLOURS, SHAPES, TEXTURES, Scene, SceneObject

OBJECT_SIZE = (0.19, 0.25)  # fraction of the width
TRAVEL = (0.50, 0.60)  # fraction of the width covered over the clip
TEXTURE_PERIOD = 16  # pixels at 64 wide: 8-pixel stripes and checks, coarse enough for an 8x VAE


@dataclass
class RenderedScene:
    scene: Scene
    video: np.ndarray  # [F, H, W, 3] float32 in [0, 1]
    masks: np.ndarray  # [N_objects, F, H, W] bool, ground-truth foreground per object
    centres: np.ndarray  # [N_objects, F, 2] (x, y) in pixels

    @property
    def foreground(self) -> np.ndarray:
        """[F, H, W] bool: any object."""
        return self.masks.any(axis=0)


def _background(colour: str, texture: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = np.array(BACKGROUND_COLOURS[colour], dtype=np.float32)
    light = np.clip(base * 1.45 + 0.06, 0, 1)  # second shade of the same hue
    period = max(4, round(TEXTURE_PERIOD * w / 64))
    yy, xx = np.mgrid[0:h, 0:w]
    dx, dy = rng.integers(0, period, size=2)  # random phase: textures are not pinned to the grid
    if texture == "plain":
        pattern = np.zeros((h, w), dtype=bool)
    elif texture == "striped":
        pattern = ((xx + dx) // (period // 2)) % 2 == 1
    elif texture == "checkered":
        pattern = (((xx + dx) // (period // 2)) + ((yy + dy) // (period // 2))) % 2 == 1
    elif texture == "dotted":
        cx = (xx + dx) % period - period / 2 + 0.5
        cy = (yy + dy) % period - period / 2 + 0.5
        pattern = cx**2 + cy**2 <= (period / 4) ** 2
    else:
        raise ValueError(f"unknown texture {texture!r}; accepted: {', '.join(TEXTURES)}")
    return np.where(pattern[..., None], light, base).astype(np.float32)


def _shape_mask(shape: str, cx: float, cy: float, size: float, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5  # pixel centres
    r = size / 2
    if shape == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
    if shape == "square":
        return (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
    if shape == "triangle":  # apex up, base at the bottom of the size x size box
        inside_y = (yy >= cy - r) & (yy <= cy + r)
        half_width = (yy - (cy - r)) / 2  # grows from 0 at the apex to r at the base
        return inside_y & (np.abs(xx - cx) <= half_width)
    raise ValueError(f"unknown shape {shape!r}; accepted: {', '.join(SHAPES)}")


def _trajectory(obj: SceneObject, frames: int, h: int, w: int, rng: np.random.Generator):
    size = w * rng.uniform(*OBJECT_SIZE)
    travel = w * rng.uniform(*TRAVEL)
    ux, uy = DIRECTIONS[obj.direction]
    r = size / 2
    # The path's middle is anywhere the whole object fits, for every direction alike, so that where an object
    # is says nothing about where it goes: only the prompt does. (Pinning start and end inside the frame made
    # the first frame's position give the direction away, and a model trained on that ignored the word.)
    # An object may therefore leave, or enter, the frame during the clip; it is whole at the middle frame.
    mx, my = rng.uniform(r, w - r), rng.uniform(r, h - r)
    t = np.linspace(-0.5, 0.5, frames)
    return size, np.stack([mx + ux * travel * t, my + uy * travel * t], axis=1)


def render_scene(scene: Scene, frames: int, height: int, width: int, seed: int) -> RenderedScene:
    """Draw `scene` deterministically from `seed` (positions, sizes, speeds and texture phase vary)."""
    if frames < 2 or height < 16 or width < 16:
        raise ValueError(f"need >= 2 frames and >= 16x16 pixels, got {frames} frames of {width}x{height}")
    rng = np.random.default_rng(seed)
    bg = _background(scene.background, scene.texture, height, width, rng)
    video = np.repeat(bg[None], frames, axis=0)
    masks = np.zeros((len(scene.objects), frames, height, width), dtype=bool)
    centres = np.zeros((len(scene.objects), frames, 2), dtype=np.float32)
    for k, obj in enumerate(scene.objects):
        size, path = _trajectory(obj, frames, height, width, rng)
        colour = np.array(OBJECT_COLOURS[obj.colour], dtype=np.float32)
        for f, (cx, cy) in enumerate(path):
            m = _shape_mask(obj.shape, cx, cy, size, height, width)
            masks[k, f] = m
            video[f][m] = colour  # later objects are drawn on top
        centres[k] = path
    return RenderedScene(scene, video, masks, centres)


def sample_scene(
    rng: np.random.Generator, pool: list[Scene], frames: int, height: int, width: int, two_object_prob: float = 0.0
) -> RenderedScene:
    """Draw a scene whose one-object combination comes from `pool` (e.g. `training_combos()`).

    With probability `two_object_prob` a second object from another pool entry is added; its background is
    the first one's, so the first object's combination stays in the pool.
    """
    scene = pool[int(rng.integers(len(pool)))]
    if rng.random() < two_object_prob:
        other = pool[int(rng.integers(len(pool)))]
        scene = Scene((*scene.objects, *other.objects), scene.background, scene.texture)
    return render_scene(scene, frames, height, width, seed=int(rng.integers(2**31)))
