"""The shipped t2v-tiny model: its files, its size, that it follows the prompt's colour and direction far better
than chance, and that its delta_cache preset runs with the counts it was chosen for.

The adherence check runs the default sampler on fixed held-out prompts and seeds, so it is deterministic; a
broken loader, a corrupted weight file or a sampler regression drops it towards chance (25%). On these 8 prompts
the shipped model gets colour 8, direction 7 and a static background 6 (docs/tiny_model.md: 96.9% / 84.4% /
82.8% over all 64 held-out prompts); the thresholds leave one or two misses of slack for other CPUs' rounding.
"""

from __future__ import annotations

import pytest
from conftest import REPO

TINY_DIR = REPO / "Wan2.1" / "Wan2.1-T2V-tiny"
PROMPTS = 8


@pytest.fixture(scope="module")
def tiny_pipe():
    from wan import WanT2V
    from wan.configs import WAN_CONFIGS

    return WanT2V.from_checkpoint(WAN_CONFIGS["t2v-tiny"], TINY_DIR)


def test_shipped_files_are_complete_and_small():
    from wan.configs import WAN_CONFIGS

    cfg = WAN_CONFIGS["t2v-tiny"]
    for name in ("config.json", "diffusion_pytorch_model.safetensors", cfg.t5_checkpoint, cfg.vae_checkpoint):
        assert (TINY_DIR / name).is_file(), name
    assert (TINY_DIR / cfg.t5_tokenizer / "tokenizer.json").is_file()
    total = sum(p.stat().st_size for p in TINY_DIR.rglob("*") if p.is_file())
    assert total <= 30 * 2**20, f"shipped model is {total / 2**20:.1f} MiB"


def generate(pipe, prompt: str, seed: int, cache=None):
    cfg = pipe.config
    return pipe.generate(
        prompt,
        size=(64, 64),
        frame_num=cfg.frame_num,
        shift=cfg.sample_shift,
        sampling_steps=cfg.sample_steps,
        guide_scale=cfg.sample_guide_scale,
        seed=seed,
        progress=False,
        cache=cache,
    )


def test_shipped_model_beats_chance_on_held_out_prompts(tiny_pipe):
    from scenes import held_out_combos
    from scenes.metrics import adherence, to_frames

    colour = direction = static = 0
    scenes = held_out_combos()[:: len(held_out_combos()) // PROMPTS][:PROMPTS]
    for i, scene in enumerate(scenes):
        a = adherence(to_frames(generate(tiny_pipe, scene.prompt, seed=i)), scene)
        colour += a.colour_ok
        direction += a.direction_ok
        static += a.background_ok
    # Chance is 2 of 8 for the colour and for the direction; the trained model gets most of both.
    assert colour >= 7 and direction >= 6 and static >= 5, (colour, direction, static)


def test_tiny_preset_runs_with_its_counts_and_stays_close_to_full_compute(tiny_pipe):
    from delta_cache import apply_cache
    from scenes.metrics import psnr, to_frames
    from wan.cache_spec import WAN_CACHE_PRESETS, WAN_CACHE_SPEC

    prompt = tiny_pipe.config.example_prompt
    full = to_frames(generate(tiny_pipe, prompt, seed=0))
    handle = apply_cache(tiny_pipe.model, WAN_CACHE_SPEC, WAN_CACHE_PRESETS["wan2.1-t2v-tiny"], 25)
    try:
        cached = to_frames(generate(tiny_pipe, prompt, seed=0, cache=handle))
        stats = handle.stats()
    finally:
        handle.remove()
    assert (stats["block_evals_computed"], stats["block_evals_total"]) == (204, 400)  # 1.96x
    assert 25 < psnr(cached, full) < float("inf")
