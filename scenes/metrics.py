"""Measuring generated frames: prompt adherence by colour segmentation, and fidelity (PSNR, SSIM).

Adherence of a one-object scene, from the frames alone:
- background: the per-pixel temporal median (the object covers any pixel for under half of the frames);
- foreground: pixels farther than FG_THRESHOLD (max over RGB) from that background;
- colour: the object palette entry nearest to the median foreground colour;
- direction: the sign and axis of the least-squares slope of the foreground centroid over time, required
  to travel at least MIN_TRAVEL of the width, else "static";
- static background: mean temporal standard deviation of pixels that are never foreground.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .attributes import DIRECTIONS, OBJECT_COLOURS, Scene

FG_THRESHOLD = 0.25
MIN_FG_PIXELS = 8  # per frame, for the frame's centroid to count
MIN_TRAVEL = 0.15  # of the width
STATIC_STD = 0.04  # background temporal std above this is "not static"


@dataclass
class Adherence:
    colour: str  # predicted, or "none" when no foreground was found
    direction: str  # predicted: left/right/up/down, "static" or "none"
    colour_ok: bool
    direction_ok: bool
    background_std: float
    background_ok: bool
    travel: tuple[float, float]  # (dx, dy) over the clip, pixels

    def as_dict(self) -> dict:
        return asdict(self)


def to_frames(video) -> np.ndarray:
    """A decoded video [3, F, H, W] in [-1, 1] (tensor or array) -> [F, H, W, 3] float32 in [0, 1]."""
    v = video.detach().cpu().float().numpy() if hasattr(video, "detach") else np.asarray(video, np.float32)
    return np.clip((v.transpose(1, 2, 3, 0) + 1) / 2, 0, 1).astype(np.float32)


def to_video(frames: np.ndarray):
    """Inverse of `to_frames`: frames [F, H, W, 3] in [0, 1] -> a torch video [3, F, H, W] in [-1, 1]."""
    import torch  # only the model side needs tensors; the metrics stay numpy

    return torch.from_numpy(np.asarray(frames, np.float32)).permute(3, 0, 1, 2) * 2 - 1


def foreground_masks(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(masks [F, H, W] bool, background [H, W, 3])."""
    background = np.median(frames, axis=0)
    return np.abs(frames - background).max(axis=-1) > FG_THRESHOLD, background


def nearest_colour(rgb: np.ndarray) -> str:
    names = list(OBJECT_COLOURS)
    dist = [float(np.sum((rgb - np.array(OBJECT_COLOURS[n])) ** 2)) for n in names]
    return names[int(np.argmin(dist))]


def classify_direction(centres: np.ndarray, times: np.ndarray, width: int) -> tuple[str, tuple[float, float]]:
    """Direction word from centroids [N, 2] at frame indices `times`, and the fitted travel (dx, dy)."""
    if len(times) < 3:
        return "none", (0.0, 0.0)
    span = float(times[-1] - times[0]) if times[-1] > times[0] else 1.0
    t = (times - times.mean()) / span
    slope = (t[:, None] * (centres - centres.mean(axis=0))).sum(axis=0) / max(float((t**2).sum()), 1e-9)
    dx, dy = (float(s) for s in slope)
    if max(abs(dx), abs(dy)) < MIN_TRAVEL * width:
        return "static", (dx, dy)
    step = (int(np.sign(dx)), 0) if abs(dx) >= abs(dy) else (0, int(np.sign(dy)))
    return next(k for k, v in DIRECTIONS.items() if v == step), (dx, dy)


def adherence(frames: np.ndarray, scene: Scene) -> Adherence:
    """Measure a one-object scene's colour, direction and static background from frames [F, H, W, 3]."""
    if len(scene.objects) != 1:
        raise ValueError("adherence is defined for one-object scenes")
    (obj,) = scene.objects
    f, h, w, _ = frames.shape
    masks, _ = foreground_masks(frames)
    counts = masks.reshape(f, -1).sum(axis=1)
    valid = np.flatnonzero(counts >= MIN_FG_PIXELS)
    never_fg = ~masks.any(axis=0)
    bg_std = float(frames.std(axis=0).max(axis=-1)[never_fg].mean()) if never_fg.any() else float("inf")
    if len(valid) == 0:
        return Adherence("none", "none", False, False, bg_std, bg_std <= STATIC_STD, (0.0, 0.0))
    colour = nearest_colour(np.median(frames[masks], axis=0))
    yy, xx = np.mgrid[0:h, 0:w]
    centres = np.array([[xx[masks[i]].mean(), yy[masks[i]].mean()] for i in valid])
    direction, travel = classify_direction(centres, valid.astype(np.float64), w)
    return Adherence(
        colour, direction, colour == obj.colour, direction == obj.direction, bg_std, bg_std <= STATIC_STD, travel
    )


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two videos in [0, 1] (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _gaussian_blur(x: np.ndarray, sigma: float = 1.5, radius: int = 5) -> np.ndarray:
    """Separable Gaussian over the two trailing-but-one axes of [..., H, W] with reflect padding."""
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    for axis in (-2, -1):
        pad = [(0, 0)] * x.ndim
        pad[axis] = (radius, radius)
        xp = np.pad(x, pad, mode="reflect")
        x = sum(k[i] * np.take(xp, range(i, i + x.shape[axis]), axis=axis) for i in range(len(k)))
    return x


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM (Gaussian window 11, sigma 1.5, data range 1) over frames and channels of [F, H, W, 3]."""
    a = a.astype(np.float64).transpose(0, 3, 1, 2)
    b = b.astype(np.float64).transpose(0, 3, 1, 2)
    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = _gaussian_blur(a), _gaussian_blur(b)
    var_a = _gaussian_blur(a * a) - mu_a**2
    var_b = _gaussian_blur(b * b) - mu_b**2
    cov = _gaussian_blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())
