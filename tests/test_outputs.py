"""What the CLIs publish: automatic names that fit the file-name limit whatever the prompt, and nothing under a
final name (nor a partial file) when the disk fills while the video or its stats file is written."""

from __future__ import annotations

import errno
import os
import subprocess
import types

import pytest
import torch
from conftest import HY_DEBUG, REPO

from delta_cache import write_report
from wan.utils.video import MAX_STEM_BYTES, mp4_complete, name_part, save_video

CJK = "一只红色的猫在草地上奔跑" * 9  # 108 characters, 3 bytes each
EMOJI = "🐈" * 60  # 4 bytes each
PROMPTS = [CJK[:104], EMOJI, "a red circle\nmoving left", "a/b\\c: d*e?f", "x" * 300]


def _files_named_after(directory, video_name: str) -> list:
    """Every file a run writes next to `video_name`, created for real: the filesystem judges the lengths."""
    stem = video_name.removesuffix(".mp4")
    names = [
        video_name,
        f"{stem}_12.mp4",  # unique_path's suffix
        f".{stem}_12.partial-4194304.mp4",  # save_video's temporary file
        f"{stem}_12.delta_cache.json",
        f".{stem}_12.delta_cache.json.partial",
    ]
    for name in names:
        (directory / name).write_bytes(b"")
    return names


@pytest.mark.parametrize("prompt", PROMPTS)
def test_automatic_names_fit_the_limit_and_hold_safe_characters(tmp_path, prompt):
    import importlib.util

    def script(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    generate = script("wan_generate_names", REPO / "Wan2.1" / "generate.py")
    sample = script("hy_sample_video_names", REPO / "HunyuanVideo" / "sample_video.py")
    args = types.SimpleNamespace(task="t2v-14B", size="1280*720", ulysses_size=8, ring_size=1, prompt=prompt)
    for name in (str(generate.default_save_file(args)), sample.video_name(2**64 - 1, prompt, "_v" * 32)):
        assert len(name.removesuffix(".mp4").encode()) <= MAX_STEM_BYTES
        assert not any(c in name for c in "\n/\\:*?") and " " not in name
        _files_named_after(tmp_path, name)  # ENAMETOOLONG here was the bug
    assert name_part(CJK, 10) == "一只红"  # cut at a character boundary: 9 bytes, never a broken character
    assert name_part("a red  circle\n", 100) == "a_red_circle"


def test_an_explicit_save_file_too_long_for_its_stats_file_is_refused(tmp_path, generate_main, capsys):
    with pytest.raises(SystemExit):
        generate_main(["--save_file", str(tmp_path / ("v" * 240 + ".mp4"))])
    assert "--save_file name is 240 bytes before .mp4; give at most 200" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


VIDEO = torch.zeros(3, 5, 16, 16)


def test_a_complete_mp4_passes_and_any_truncation_of_it_fails(tmp_path):
    out = save_video(VIDEO, tmp_path / "v.mp4", fps=16)
    assert mp4_complete(out)
    data = out.read_bytes()
    for cut in (8, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.mp4").write_bytes(data[:cut])
        assert not mp4_complete(tmp_path / "cut.mp4")


class _TruncatingWriter:
    """imageio's FFMPEG writer as it behaves on a full disk: frames accepted, the trailer lost, no error raised."""

    def __init__(self, path, **kw):
        self.path = path

    def __enter__(self):
        return self

    def append_data(self, frame):
        with open(self.path, "ab") as f:
            f.write(b"\x00\x00\x00\x18ftypisom" + bytes(12))

    def __exit__(self, *exc):
        with open(self.path, "ab") as f:
            f.write(b"\x00\x00\x10\x00mdat")  # a box announced longer than the file: the rest never came
        return False


def test_save_video_publishes_nothing_when_the_trailer_is_lost(tmp_path, monkeypatch):
    import imageio.v2

    monkeypatch.setattr(imageio.v2, "get_writer", lambda path, **kw: _TruncatingWriter(path, **kw))
    with pytest.raises(OSError, match=r"could not write .*v\.mp4: ffmpeg left the mp4 unfinished"):
        save_video(VIDEO, tmp_path / "v.mp4", fps=16)
    assert not list(tmp_path.iterdir())


def test_write_report_leaves_no_partial_file_when_the_disk_fills(tmp_path, monkeypatch):
    from pathlib import Path

    def full(self, text, *a, **kw):
        with open(self, "w") as f:
            f.write(text[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError, match=r"could not write .*v\.delta_cache\.json: No space left on device"):
        write_report({"a": 1}, tmp_path / "v.mp4")
    assert not list(tmp_path.iterdir())


def test_a_failed_stats_file_takes_the_video_with_it(tmp_path, generate_main, capsys, monkeypatch):
    import delta_cache.report

    def full(report, video):
        raise OSError(errno.ENOSPC, f"could not write {video}: No space left on device")

    monkeypatch.setattr(delta_cache.report, "write_report", full)
    assert generate_main(["--sample_steps", "2", "--base_seed", "0", "--save_file", str(tmp_path / "v.mp4")]) == 1
    assert "No space left on device" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not list(tmp_path.iterdir())


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs filled up to its last 1 KiB by a file named "filler" (mounting needs root, as on CI)."""
    where = tmp_path / "small"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        (where / "filler").write_bytes(bytes(63 * 1024))
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_both_clis_on_a_full_disk_write_nothing_and_say_so_in_one_line(
    full_disk, generate_main, sample_video_main, capsys
):
    assert generate_main(["--sample_steps", "2", "--base_seed", "0", "--save_file", str(full_disk / "v.mp4")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: could not write") and "no space left on the device" in err
    assert [p.name for p in full_disk.iterdir()] == ["filler"]
    hy = [*HY_DEBUG, "--infer-steps", "2", "--seed", "0", "--save-path", str(full_disk)]
    assert sample_video_main(hy) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: could not write") and "no space left on the device" in err
    assert [p.name for p in full_disk.iterdir()] == ["filler"]
