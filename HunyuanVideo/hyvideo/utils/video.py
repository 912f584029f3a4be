"""Copied from wan/utils/video.py (a test checks that the copies stay equal).

Writing videos: mp4 through imageio-ffmpeg, atomically (temp file + rename), never clobbering by accident."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from torch import Tensor


def to_uint8_frames(video: Tensor) -> np.ndarray:
    """[3, F, H, W] in [-1, 1] -> [F, H, W, 3] uint8."""
    frames = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to("cpu").byte()
    return frames.permute(1, 2, 3, 0).numpy()


def save_video(video: Tensor, path: str | Path, fps: int) -> Path:
    """Encode `video` to H.264 mp4 at `fps`; the final path appears only once the file is complete.

    A write that fails (a full disk, above all) leaves no file under either name and raises one OSError line.
    """
    import imageio.v2 as imageio

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}.mp4")
    try:
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
        except OSError as err:  # ffmpeg stopped taking frames; imageio-ffmpeg's message runs over many lines
            raise OSError(f"could not write {path}: {_why(tmp, str(err).splitlines()[0])}") from None
        # imageio-ffmpeg never reads ffmpeg's exit status: a trailer that could not be written (a full disk)
        # leaves a truncated file and no error, so the file itself is checked before it is published.
        if not mp4_complete(tmp):
            raise OSError(f"could not write {path}: {_why(tmp, 'ffmpeg left the mp4 unfinished')}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _why(tmp: Path, fallback: str) -> str:
    free = shutil.disk_usage(tmp.parent).free
    return f"no space left on the device ({free} bytes free in {tmp.parent})" if free < 2**20 else fallback


def mp4_complete(path: str | Path) -> bool:
    """The file's top-level boxes tile it exactly and include `mdat` and `moov` (the index ffmpeg writes last)."""
    path = Path(path)
    size, pos, kinds = path.stat().st_size, 0, set()
    with open(path, "rb") as f:
        while pos < size:
            f.seek(pos)
            head = f.read(16)
            if len(head) < 8:
                return False
            length, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if length == 1:  # a 64-bit size follows the type
                length = int.from_bytes(head[8:16], "big") if len(head) == 16 else 0
            elif length == 0:  # the box runs to the end of the file
                length = size - pos
            if length < 8:
                return False
            kinds.add(kind)
            pos += length
    return pos == size and {b"mdat", b"moov"} <= kinds


def unique_path(path: str | Path) -> Path:
    """`path`, or `stem_1.ext`, `stem_2.ext`, ... : the first name that does not exist yet."""
    path = Path(path)
    candidate, i = path, 0
    while candidate.exists():
        i += 1
        candidate = path.with_name(f"{path.stem}_{i}{path.suffix}")
    return candidate


# Bytes of a name's stem, so that every file named after it fits the 255-byte file-name limit of common
# filesystems: "<stem>.delta_cache.json", its ".<...>.partial" twin and a "_N" suffix of unique_path add < 40.
MAX_STEM_BYTES = 200


def name_part(text: str, max_bytes: int) -> str:
    """`text` made safe inside a file name: whitespace runs become "_", only letters and digits (any script) and
    "-_.+" are kept, and it is cut to `max_bytes` bytes of UTF-8 without splitting a character."""
    words = ("".join(c for c in word if c.isalnum() or c in "-_.+") for word in text.split())
    safe = "_".join(w for w in words if w)
    return safe.encode()[:max_bytes].decode(errors="ignore")
