"""The paper's fidelity metrics: sewar's PSNR/SSIM per frame on uint8, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation import read_mp4, to_uint8, video_psnr, video_ssim


def test_psnr_is_the_per_frame_mean_of_the_hand_computed_value():
    ref = np.full((2, 16, 16, 3), 100, np.uint8)
    out = ref.copy()
    out[0] += 5  # MSE 25 on frame 0
    out[1] += 10  # MSE 100 on frame 1
    expected = (10 * math.log10(255**2 / 25) + 10 * math.log10(255**2 / 100)) / 2
    assert video_psnr(ref, out) == pytest.approx(expected, abs=1e-9)
    assert video_psnr(ref, ref) == math.inf


def test_floats_are_rounded_to_uint8_first():
    levels = np.random.default_rng(1).integers(0, 256, (2, 16, 16, 3))
    frames = levels / 255.0
    assert np.array_equal(to_uint8(frames), levels)
    assert video_psnr(frames, frames + 0.4 / 255) == math.inf  # under half a level: the same uint8 frames
    assert video_psnr(frames, np.clip(frames + 0.6 / 255, 0, 1)) < math.inf  # over it: one level up


def test_ssim_is_one_for_equal_frames_and_drops_with_noise():
    g = np.random.default_rng(0)
    ref = g.integers(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    assert video_ssim(ref, ref) == pytest.approx(1.0)
    noisy = np.clip(ref.astype(int) + g.integers(-40, 40, ref.shape), 0, 255).astype(np.uint8)
    value = video_ssim(ref, noisy)
    assert 0 < value < 0.99
    from sewar.full_ref import ssim

    per_frame = [ssim(r, n, ws=11)[0] for r, n in zip(ref, noisy, strict=True)]
    assert value == pytest.approx(np.mean(per_frame), abs=1e-12)  # the 11x11 uniform window, frame means


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="cannot be scored"):
        video_psnr(np.zeros((2, 16, 16, 3)), np.zeros((2, 16, 8, 3)))


def test_mp4_round_trip(tmp_path):
    import imageio.v3 as iio

    frames = np.zeros((5, 32, 32, 3), np.uint8)
    frames[:, 8:24, 8:24] = 200
    iio.imwrite(tmp_path / "v.mp4", frames, fps=8)
    back = read_mp4(tmp_path / "v.mp4")
    assert back.shape == frames.shape and video_psnr(frames, back) > 30  # compressed, close
