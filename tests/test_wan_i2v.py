"""Wan2.1 image-to-video: the size rule, the conditioning against diffusers' WanImageToVideoPipeline, the
pipeline on i2v-debug's official-format folder, and generate.py end to end with its one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import REPO, rel_err

from wan.configs import WAN_CONFIGS

I2V = WAN_CONFIGS["i2v-14B"]
EXAMPLE = REPO / "assets" / "i2v_example.png"


@pytest.fixture(scope="module")
def i2v_ckpt(tmp_path_factory):
    from wan.debug import write_random_checkpoint

    return write_random_checkpoint(tmp_path_factory.mktemp("i2v"), WAN_CONFIGS["i2v-debug"], seed=0)


@pytest.mark.parametrize(
    ("image_hw", "max_area", "latent"),
    [
        # upstream's float rule, kept: sqrt(399360 * 480 / 832) = 479.99999999999994 px -> 59 cells -> 58 (even)
        ((480, 832), 480 * 832, (58, 104)),
        ((832, 480), 480 * 832, (104, 60)),  # portrait: here the rounding falls the other way
        ((720, 1280), 720 * 1280, (90, 160)),  # the 720P size itself
        ((480, 832), 720 * 1280, (90, 156)),  # 720P area at the image's aspect: 1248x720
        ((1000, 1000), 480 * 832, (78, 78)),  # square: sqrt(399360) = 631.9 px -> 78 cells
    ],
)
def test_latent_size_follows_the_image_aspect_at_the_area(image_hw, max_area, latent):
    from wan.image2video import i2v_latent_size

    assert i2v_latent_size(image_hw, max_area, I2V) == latent


def test_frame_mask_marks_the_first_frame_only():
    from wan.image2video import frame_mask

    mask = frame_mask(9, 2, 3)  # 9 frames -> 3 latent frames of 4 mask channels
    assert mask.shape == (4, 3, 2, 3)
    assert mask[:, 0].eq(1).all() and mask[:, 1:].eq(0).all()


def test_conditioning_equals_diffusers_pipeline(i2v_ckpt):
    """y = [frame mask; VAE latent of the image and black frames], as WanImageToVideoPipeline.prepare_latents."""
    from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline

    from wan import WanI2V
    from wan.image2video import load_image

    pipe = WanI2V.from_checkpoint(WAN_CONFIGS["i2v-debug"], i2v_ckpt)
    seen = {}
    real_forward = pipe.model.forward

    def spy(*args, **kwargs):
        seen.setdefault("y", kwargs["y"][0].clone())
        seen.setdefault("clip_fea", kwargs["clip_fea"].clone())
        return real_forward(*args, **kwargs)

    pipe.model.forward = spy
    img = load_image(EXAMPLE)
    video = pipe.generate("a prompt", img, max_area=64 * 64, frame_num=9, sampling_steps=2, seed=0, progress=False)
    assert video.shape == (3, 9, 48, 80)  # 832x480 at 64*64 px: 10 x 6 latent cells

    ref = WanImageToVideoPipeline(
        tokenizer=None, text_encoder=None, vae=pipe.vae.model, scheduler=FlowMatchEulerDiscreteScheduler()
    )
    resized = torch.nn.functional.interpolate(img[None], size=(48, 80), mode="bicubic")
    _, condition = ref.prepare_latents(resized, 1, 16, 48, 80, 9, torch.float32, torch.device("cpu"))
    assert seen["y"].shape == condition[0].shape == (20, 3, 6, 10)
    assert rel_err(seen["y"], condition[0]) < 1e-5
    assert torch.allclose(seen["clip_fea"], pipe.clip.encode([img[:, None]]))


def test_the_image_changes_the_video(i2v_ckpt):
    from wan import WanI2V
    from wan.image2video import load_image

    pipe = WanI2V.from_checkpoint(WAN_CONFIGS["i2v-debug"], i2v_ckpt)
    img = load_image(EXAMPLE)
    kw = dict(max_area=64 * 64, frame_num=5, sampling_steps=2, seed=0, progress=False, decode=False)
    a, b = pipe.generate("x", img, **kw), pipe.generate("x", img.flip(-1), **kw)
    assert torch.equal(a, pipe.generate("x", img, **kw)) and rel_err(a, b) > 1e-3


def test_generate_cli_i2v_debug_with_and_without_the_cache(generate_main, tmp_path):
    import imageio.v3 as iio

    common = ["--task", "i2v-debug", "--sample_steps", "8", "--base_seed", "1"]
    assert generate_main([*common, "--save_file", str(tmp_path / "full.mp4")]) == 0
    assert iio.imread(tmp_path / "full.mp4").shape == (9, 48, 80, 3)  # the example image's aspect
    cached = ["--delta_cache", "--cache_blocks", "1-2", "--cache_interval", "3"]
    assert generate_main([*common, *cached, "--image", str(EXAMPLE), "--save_file", str(tmp_path / "c.mp4")]) == 0
    report = json.loads((tmp_path / "c.delta_cache.json").read_text())
    assert report["block_evals_computed"] < report["block_evals_total"] == 2 * 8 * 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--task", "t2v-debug", "--image", str(EXAMPLE)], "--image is for the image-to-video tasks"),
        (["--task", "i2v-debug", "--image", "{tmp}/none.png"], "--image not found"),
        (["--task", "i2v-debug", "--image", str(REPO / "README.md")], "cannot read --image"),
        (["--task", "i2v-debug", "--size", "832*480"], "unsupported --size 832*480"),
        (["--task", "i2v-14B"], "--ckpt_dir is required"),
        (["--task", "i2v-14B", "--ckpt_dir", str(REPO / "Wan2.1" / "Wan2.1-T2V-tiny")], "does not match task i2v-14B"),
        (["--task", "i2v-debug", "--delta_cache"], "the release made none for image-to-video"),
    ],
)
def test_bad_input_is_one_line_error_before_loading(generate_main, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as exc:
        generate_main([*argv, "--save_file", str(tmp_path / "v.mp4")])
    assert exc.value.code != 0 and message in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "v.mp4").exists()


def test_peer_constants_follow_the_i2v_checkpoint_resolution():
    from wan.cache_peers import peer_constants, published

    assert peer_constants("i2v-14B", size="832*480") == published("i2v-14B-480P")
    assert peer_constants("i2v-14B", size="1280*720") == published("i2v-14B-720P")
    assert published("i2v-14B-480P")["magcache"]["ratios"] != published("i2v-14B-720P")["magcache"]["ratios"]
