"""Fidelity to the full-compute reference, as the paper measured it: sewar's PSNR and SSIM per frame on uint8 RGB.

The release scored its videos with `sewar.full_ref.psnr` and `sewar.full_ref.ssim` (an 11 x 11 uniform window,
K1 0.01, K2 0.03, 'valid' borders, the mean over the three channels), frame by frame, then averaged over the
frames. These functions call sewar itself; they only fix the input format (uint8 [F, H, W, 3], values rounded
from [0, 1] floats) and the averaging. A frame equal to its reference has an infinite PSNR (sewar's value), so
a video with such a frame averages to infinity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """[F, H, W, 3] floats in [0, 1] (or uint8 already) -> uint8, rounded as an mp4 writer quantises them."""
    if frames.dtype == np.uint8:
        return frames
    return np.clip(np.rint(np.asarray(frames, np.float64) * 255.0), 0, 255).astype(np.uint8)


def _pairs(reference: np.ndarray, video: np.ndarray):
    ref, out = to_uint8(reference), to_uint8(video)
    if ref.shape != out.shape:
        raise ValueError(f"video of shape {list(out.shape)} cannot be scored against a reference {list(ref.shape)}")
    return zip(ref, out, strict=True)


def video_psnr(reference: np.ndarray, video: np.ndarray) -> float:
    """Mean over frames of sewar's PSNR (dB, MAX 255)."""
    from sewar.full_ref import psnr

    return float(np.mean([psnr(r, v) for r, v in _pairs(reference, video)]))


def video_ssim(reference: np.ndarray, video: np.ndarray) -> float:
    """Mean over frames of sewar's SSIM (its first value; 11 x 11 uniform window)."""
    from sewar.full_ref import ssim

    return float(np.mean([ssim(r, v)[0] for r, v in _pairs(reference, video)]))


def read_mp4(path: str | Path) -> np.ndarray:
    """The frames of a written video, [F, H, W, 3] uint8 (the paper scored the mp4s, after compression)."""
    import imageio.v3 as iio

    return np.asarray(iio.imread(path))
