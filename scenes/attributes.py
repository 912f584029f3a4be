"""What a scene is made of, how it is worded, and which attribute combinations are held out.

Object colours are bright and saturated, background colours dark or muted, so that a foreground object
is always separable from its background by colour distance (the evaluation relies on it). "blue" names
both a bright object blue and a dark background blue; the words are the same, the RGB values are not.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

# RGB in [0, 1].
OBJECT_COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.92, 0.12, 0.10),
    "green": (0.15, 0.85, 0.20),
    "blue": (0.15, 0.35, 1.00),
    "yellow": (0.98, 0.88, 0.10),
}
BACKGROUND_COLOURS: dict[str, tuple[float, float, float]] = {
    "gray": (0.42, 0.42, 0.42),
    "blue": (0.10, 0.14, 0.38),
    "brown": (0.36, 0.22, 0.10),
    "purple": (0.30, 0.14, 0.36),
}
SHAPES = ("circle", "square", "triangle")
TEXTURES = ("plain", "striped", "checkered", "dotted")
# Image axes: x grows to the right, y grows downwards. Unit displacement per direction word.
DIRECTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
OPPOSITE: dict[str, str] = {"left": "right", "right": "left", "up": "down", "down": "up"}

# Every word a prompt can contain, in a fixed order (the tiny model's tokenizer is built from it).
VOCABULARY: tuple[str, ...] = tuple(
    dict.fromkeys(
        ["a", "moving", "over", "and", "background"]
        + list(OBJECT_COLOURS)
        + list(BACKGROUND_COLOURS)
        + list(SHAPES)
        + list(TEXTURES)
        + list(DIRECTIONS)
    )
)

NUM_HELD_OUT = 64
SPLIT_SEED = 0


@dataclass(frozen=True)
class SceneObject:
    colour: str
    shape: str
    direction: str

    def phrase(self) -> str:
        return f"a {self.colour} {self.shape} moving {self.direction}"


@dataclass(frozen=True)
class Scene:
    """Attributes of one scene; the prompt is derived from them and nothing else."""

    objects: tuple[SceneObject, ...]
    background: str
    texture: str

    def __post_init__(self) -> None:
        if not 1 <= len(self.objects) <= 2:
            raise ValueError(f"a scene has one or two objects, got {len(self.objects)}")
        for o in self.objects:
            if o.colour not in OBJECT_COLOURS or o.shape not in SHAPES or o.direction not in DIRECTIONS:
                raise ValueError(f"unknown object attributes {o}")
        if self.background not in BACKGROUND_COLOURS or self.texture not in TEXTURES:
            raise ValueError(f"unknown background {self.background!r} / texture {self.texture!r}")

    @property
    def prompt(self) -> str:
        objects = " and ".join(o.phrase() for o in self.objects)
        return f"{objects} over a {self.background} {self.texture} background"

    @classmethod
    def single(cls, colour: str, shape: str, direction: str, background: str, texture: str) -> Scene:
        return cls((SceneObject(colour, shape, direction),), background, texture)

    def reversed(self) -> Scene:
        """The scene of this one's clip played backwards (straight paths at constant speed, static background):
        every object moving the opposite way."""
        objects = tuple(SceneObject(o.colour, o.shape, OPPOSITE[o.direction]) for o in self.objects)
        return Scene(objects, self.background, self.texture)

    def combo(self) -> tuple[str, ...]:
        """(colour, shape, direction, background, texture) of a one-object scene."""
        (o,) = self.objects
        return (o.colour, o.shape, o.direction, self.background, self.texture)


def all_combos() -> list[Scene]:
    """All one-object scenes, in a fixed order (4 * 3 * 4 * 4 * 4 = 768)."""
    return [
        Scene.single(*c) for c in itertools.product(OBJECT_COLOURS, SHAPES, DIRECTIONS, BACKGROUND_COLOURS, TEXTURES)
    ]


def held_out_combos() -> list[Scene]:
    """The evaluation combinations: a fixed random 64 of the 768, never drawn for training.

    Every single attribute value still occurs in training; only these exact combinations do not.
    """
    combos = all_combos()
    order = random.Random(SPLIT_SEED).sample(range(len(combos)), k=NUM_HELD_OUT)
    return [combos[i] for i in sorted(order)]


def training_combos() -> list[Scene]:
    held = {s.combo() for s in held_out_combos()}
    return [s for s in all_combos() if s.combo() not in held]
