"""Official-format checkpoint directories load through the user's path; generation is deterministic."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from wan import WanT2V
from wan.modules.model import load_wan_model
from wan.utils.checkpoint import CheckpointError


def test_sharded_and_single_directories_hold_the_same_model(wan_ckpt, wan_ckpt_sharded):
    index = json.loads((wan_ckpt_sharded / "diffusion_pytorch_model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) == 3
    a, b = load_wan_model(str(wan_ckpt)), load_wan_model(str(wan_ckpt_sharded))
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_bf16_load(wan_ckpt):
    model = load_wan_model(str(wan_ckpt), dtype=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())


def test_generation_is_deterministic_for_a_seed(wan_ckpt_sharded, debug_config):
    pipe = WanT2V.from_checkpoint(debug_config, wan_ckpt_sharded)
    kwargs = dict(size=(64, 64), frame_num=5, sampling_steps=3, seed=7, progress=False)
    a = pipe.generate("a red circle", **kwargs)
    b = pipe.generate("a red circle", **kwargs)
    c = pipe.generate("a red circle", **{**kwargs, "seed": 8})
    assert a.shape == (3, 5, 64, 64) and a.abs().max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert pipe.stats.model_calls == 6 and pipe.stats.denoise_seconds > 0


def test_cfg_passes_are_named_cond_then_uncond(wan_ckpt, debug_config):
    from contextlib import contextmanager

    pipe = WanT2V.from_checkpoint(debug_config, wan_ckpt)
    seen = []

    class Recorder:
        def start(self, num_steps):
            seen.append(("start", num_steps))

        @contextmanager
        def branch(self, name, step):
            seen.append((step, name))
            yield

    pipe.generate("x", size=(64, 64), frame_num=1, sampling_steps=2, seed=0, cache=Recorder(), progress=False)
    assert seen == [("start", 2), (0, "cond"), (0, "uncond"), (1, "cond"), (1, "uncond")]


def test_the_pipeline_starts_the_cache_and_it_is_empty_before_decode(wan_ckpt, debug_config):
    from delta_cache import apply_cache
    from wan.cache_spec import DEBUG_DEMO, WAN_CACHE_SPEC

    pipe = WanT2V.from_checkpoint(debug_config, wan_ckpt)
    kwargs = dict(size=(64, 64), frame_num=5, sampling_steps=6, seed=3, progress=False)
    with apply_cache(pipe.model, WAN_CACHE_SPEC, DEBUG_DEMO, 6) as handle:
        kwargs["cache"] = handle
        with pytest.raises(ValueError, match="runs 4 steps but this cache was built for 6"):
            pipe.generate("x", **{**kwargs, "sampling_steps": 4})
        held_at_decode = []
        decode = pipe.vae.decode
        pipe.vae.decode = lambda z: (held_at_decode.append((handle.bytes_held, len(handle._slots))), decode(z))[1]
        first = pipe.generate("x", **kwargs)
        second = pipe.generate("x", **kwargs)  # started afresh: no deltas or counts carried over
        assert handle.bytes_peak > 0 and handle.stats()["block_evals_computed"] == 40  # one video's count
    assert held_at_decode == [(0, 0), (0, 0)]
    assert torch.equal(first, second)


def _copy_ckpt(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_missing_and_unexpected_keys_are_listed(wan_ckpt, tmp_path):
    ckpt = _copy_ckpt(wan_ckpt, tmp_path / "c")
    f = ckpt / "diffusion_pytorch_model.safetensors"
    sd = load_file(str(f))
    sd.pop("blocks.1.ffn.0.weight")
    sd["blocks.1.extra.weight"] = torch.zeros(1)
    save_file(sd, str(f))
    with pytest.raises(CheckpointError) as err:
        load_wan_model(str(ckpt))
    msg = str(err.value)
    assert "blocks.1.ffn.0.weight" in msg and "blocks.1.extra.weight" in msg and "\n" not in msg


def test_wrong_shape_is_named(wan_ckpt, tmp_path):
    ckpt = _copy_ckpt(wan_ckpt, tmp_path / "c")
    f = ckpt / "diffusion_pytorch_model.safetensors"
    sd = load_file(str(f))
    sd["head.modulation"] = torch.zeros(1, 3, 32)
    save_file(sd, str(f))
    with pytest.raises(CheckpointError, match=r"head\.modulation: file \(1, 3, 32\) vs model \(1, 2, 32\)"):
        load_wan_model(str(ckpt))


def test_missing_shard_is_named(wan_ckpt_sharded, tmp_path):
    ckpt = _copy_ckpt(wan_ckpt_sharded, tmp_path / "c")
    (ckpt / "diffusion_pytorch_model-00002-of-00003.safetensors").unlink()
    with pytest.raises(CheckpointError, match="00002-of-00003"):
        load_wan_model(str(ckpt))


def test_vae_and_t5_key_errors_use_upstream_names(wan_ckpt, tmp_path, debug_config):
    ckpt = _copy_ckpt(wan_ckpt, tmp_path / "c")
    vae = torch.load(ckpt / debug_config.vae_checkpoint, weights_only=True)
    vae.pop("decoder.upsamples.4.shortcut.weight")
    torch.save(vae, ckpt / debug_config.vae_checkpoint)
    t5 = torch.load(ckpt / debug_config.t5_checkpoint, weights_only=True)
    t5.pop("blocks.0.attn.q.weight")
    torch.save(t5, ckpt / debug_config.t5_checkpoint)
    with pytest.raises(CheckpointError, match=r"missing keys \[blocks\.0\.attn\.q\.weight\]"):
        WanT2V.from_checkpoint(debug_config, ckpt)
    from wan.modules.vae import WanVAE

    with pytest.raises(CheckpointError, match=r"decoder\.upsamples\.4\.shortcut\.weight"):
        WanVAE(ckpt / debug_config.vae_checkpoint, debug_config.vae)


def test_checkpoint_of_another_task_is_refused(wan_ckpt):
    from wan.configs import WAN_CONFIGS

    with pytest.raises(ValueError, match="does not match task t2v-1.3B"):
        WanT2V.from_checkpoint(WAN_CONFIGS["t2v-1.3B"], wan_ckpt)
