"""Synthetic scenes: prompts, the held-out split, rendering, and the adherence metric on true renderings."""

from __future__ import annotations

import numpy as np
import pytest

from scenes import (
    DIRECTIONS,
    OBJECT_COLOURS,
    SHAPES,
    VOCABULARY,
    Scene,
    SceneObject,
    all_combos,
    held_out_combos,
    render_scene,
    sample_scene,
    training_combos,
)
from scenes.metrics import adherence, classify_direction, psnr, ssim


def test_prompt_is_derived_from_attributes():
    s = Scene.single("red", "circle", "left", "blue", "striped")
    assert s.prompt == "a red circle moving left over a blue striped background"
    two = Scene((SceneObject("red", "circle", "left"), SceneObject("green", "square", "up")), "gray", "plain")
    assert two.prompt == "a red circle moving left and a green square moving up over a gray plain background"
    assert set(two.prompt.split()) <= set(VOCABULARY)


def test_unknown_attributes_are_refused():
    with pytest.raises(ValueError, match="unknown object"):
        Scene.single("pink", "circle", "left", "blue", "plain")
    with pytest.raises(ValueError, match="unknown background"):
        Scene.single("red", "circle", "left", "blue", "wavy")


def test_held_out_split_is_fixed_disjoint_and_covers_every_value_in_training():
    held, train = held_out_combos(), training_combos()
    assert len(all_combos()) == 768 and len(held) == 64 and len(train) == 704
    assert held == held_out_combos()  # deterministic
    assert not {s.combo() for s in held} & {s.combo() for s in train}
    for position in range(5):
        assert {s.combo()[position] for s in held} <= {s.combo()[position] for s in train}


def test_render_is_seeded_and_masks_are_the_object():
    scene = Scene.single("yellow", "triangle", "down", "purple", "dotted")
    a, b = render_scene(scene, 17, 64, 64, seed=3), render_scene(scene, 17, 64, 64, seed=3)
    np.testing.assert_array_equal(a.video, b.video)
    assert not np.array_equal(a.video, render_scene(scene, 17, 64, 64, seed=4).video)
    fg = a.foreground
    assert fg.any(axis=(1, 2)).sum() >= 9  # visible for at least half of the clip (it may leave the frame)
    np.testing.assert_allclose(a.video[fg], np.broadcast_to(OBJECT_COLOURS["yellow"], a.video[fg].shape), atol=1e-6)
    assert (a.centres[0, -1, 1] - a.centres[0, 0, 1]) > 0.45 * 64  # moves down by half the width or more


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_is_whole_mid_clip_and_moves_only_along_its_direction(shape):
    for seed in range(5):
        for direction, (ux, _) in DIRECTIONS.items():
            r = render_scene(Scene.single("red", shape, direction, "gray", "plain"), 17, 64, 64, seed=seed)
            area = r.masks[0].sum(axis=(1, 2))
            assert (area > 0).sum() >= 9  # in view from the middle frame to one end at least
            mid = r.centres[0, 8]
            assert (0.09 * 64 <= mid).all() and (mid <= 0.91 * 64).all()  # whole at the middle frame
            across = r.centres[0, :, 1 if ux else 0]  # the coordinate the motion does not change
            assert np.ptp(across) == 0 and 0.09 * 64 <= across[0] <= 0.91 * 64


def test_position_does_not_give_the_direction_away():
    # Left- and right-moving objects are found anywhere across the frame mid-clip, and their first-frame
    # positions overlap widely (pinned paths put every left-mover's start right of every right-mover's).
    paths = {
        d: np.stack(
            [
                render_scene(Scene.single("red", "circle", d, "gray", "plain"), 17, 64, 64, s).centres[0]
                for s in range(200)
            ]
        )
        for d in ("left", "right")
    }
    for d, c in paths.items():
        assert c[:, 8, 0].std() > 10 and abs(c[:, 8, 0].mean() - 32) < 3, d
    assert paths["left"][:, 0, 0].min() < paths["right"][:, 0, 0].max() - 10


def test_adherence_is_perfect_on_true_renderings():
    rng = np.random.default_rng(0)
    pool = all_combos()
    for _ in range(40):
        r = sample_scene(rng, pool, 17, 64, 64)
        a = adherence(r.video, r.scene)
        assert a.colour_ok and a.direction_ok and a.background_ok, (r.scene.prompt, a)


def test_adherence_detects_a_wrong_direction_and_a_missing_object():
    r = render_scene(Scene.single("green", "square", "right", "brown", "checkered"), 17, 64, 64, seed=1)
    reversed_video = r.video[::-1].copy()
    a = adherence(reversed_video, r.scene)
    assert a.colour_ok and a.direction == "left" and not a.direction_ok
    still = np.repeat(r.video[:1], 17, axis=0)
    b = adherence(still, r.scene)
    assert b.colour == "none" and not b.colour_ok and not b.direction_ok


def test_two_object_scenes_render_both():
    rng = np.random.default_rng(5)
    r = sample_scene(rng, training_combos(), 17, 64, 64, two_object_prob=1.0)
    assert len(r.scene.objects) == 2 and r.masks.shape[0] == 2 and (r.masks.any(axis=(2, 3)).sum(axis=1) >= 9).all()


def test_direction_classifier_and_fidelity_metrics():
    t = np.arange(10, dtype=np.float64)
    assert classify_direction(np.stack([50 - 3 * t, 30 + 0 * t], 1), t, 64)[0] == "left"
    assert classify_direction(np.stack([30 + 0 * t, 20 + 3 * t], 1), t, 64)[0] == "down"
    assert classify_direction(np.stack([30 + 0.1 * t, 30 + 0 * t], 1), t, 64)[0] == "static"
    v = render_scene(Scene.single("blue", "circle", "up", "gray", "striped"), 5, 32, 32, seed=0).video
    assert psnr(v, v) == float("inf") and ssim(v, v) == pytest.approx(1.0)
    noisy = np.clip(v + np.random.default_rng(0).normal(0, 0.05, v.shape), 0, 1).astype(np.float32)
    noisier = np.clip(v + np.random.default_rng(0).normal(0, 0.1, v.shape), 0, 1).astype(np.float32)
    assert psnr(noisy, v) == pytest.approx(26.0, abs=0.5)  # 20 log10(1 / 0.05), a little less after clipping
    assert ssim(noisier, v) < ssim(noisy, v) < 0.95
    a, b = np.full((2, 16, 16, 3), 0.3), np.full((2, 16, 16, 3), 0.6)  # flat: SSIM is the luminance term alone
    assert ssim(a, b) == pytest.approx((2 * 0.3 * 0.6 + 1e-4) / (0.3**2 + 0.6**2 + 1e-4))


@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_a_clip_played_backwards_is_the_reversed_scene(direction):
    scene = Scene.single("green", "triangle", direction, "brown", "dotted")
    back = scene.reversed()
    assert back.objects[0].direction != direction and back.reversed() == scene
    assert back.prompt == scene.prompt.replace(f"moving {direction}", f"moving {back.objects[0].direction}")
    forward, backward = render_scene(scene, 17, 64, 64, seed=5), render_scene(back, 17, 64, 64, seed=5)
    np.testing.assert_array_equal(backward.video, forward.video[::-1])  # what the twins of training rely on
    np.testing.assert_array_equal(backward.foreground, forward.foreground[::-1])
    assert adherence(forward.video[::-1], back).direction_ok
