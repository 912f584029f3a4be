"""Writing videos: mp4 through imageio-ffmpeg, atomically (temp file + rename), never clobbering by accident."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from torch import Tensor


def to_uint8_frames(video: Tensor) -> np.ndarray:
    """[3, F, H, W] in [-1, 1] -> [F, H, W, 3] uint8."""
    frames = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to("cpu").byte()
    return frames.permute(1, 2, 3, 0).numpy()


def save_video(video: Tensor, path: str | Path, fps: int) -> Path:
    """Encode `video` to H.264 mp4 at `fps`; the final path appears only once the file is complete."""
    import imageio.v2 as imageio

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}.mp4")
    try:
        writer = imageio.get_writer(
            str(tmp),
            format="FFMPEG",
            mode="I",
            fps=fps,
            codec="libx264",
            quality=8,
            pixelformat="yuv420p",
            macro_block_size=1,
        )
        with writer:
            for frame in to_uint8_frames(video):
                writer.append_data(frame)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def unique_path(path: str | Path) -> Path:
    """`path`, or `stem_1.ext`, `stem_2.ext`, ... : the first name that does not exist yet."""
    path = Path(path)
    candidate, i = path, 0
    while candidate.exists():
        i += 1
        candidate = path.with_name(f"{path.stem}_{i}{path.suffix}")
    return candidate
