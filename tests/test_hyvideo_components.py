"""HunyuanVideo components: sampler schedule, guidance rounding, loaders of the official files, text encoders."""

from __future__ import annotations

import inspect
import json
import shutil

import pytest
import torch

from hyvideo.inference import align_to, guidance_value
from hyvideo.schedulers import euler_step, get_sigmas, get_timesteps
from hyvideo.utils.checkpoint import CheckpointError, load_dit_state_dict


def test_flow_schedule_golden_values_and_diffusers_equality():
    from diffusers import FlowMatchEulerDiscreteScheduler

    sigmas = get_sigmas(50, 7.0, reverse=True)
    t = get_timesteps(sigmas)
    assert t.dtype == torch.float32 and len(t) == 50 and float(sigmas[-1]) == 0.0
    assert torch.allclose(t[:4], torch.tensor([1000.0, 997.0930, 994.0829, 990.9639]), atol=1e-3)
    assert torch.allclose(t[-3:], torch.tensor([308.8235, 225.8064, 125.0]), atol=1e-3)
    assert torch.allclose(
        get_timesteps(get_sigmas(50, 7.0, reverse=False))[:3], torch.tensor([0.0, 2.9070, 5.9171]), atol=1e-3
    )
    for n, shift in ((50, 7.0), (30, 5.0), (7, 1.0)):
        ref = FlowMatchEulerDiscreteScheduler(shift=shift)
        ref.set_timesteps(sigmas=torch.linspace(1, 0, n + 1)[:-1].numpy())
        ours = get_sigmas(n, shift)
        assert torch.allclose(ref.sigmas, ours, atol=1e-7) and torch.allclose(ref.timesteps, get_timesteps(ours))
    x, v = torch.randn(4), torch.randn(4)
    assert torch.equal(euler_step(x, v, sigmas, 0), x + v * (sigmas[1] - sigmas[0]))


def test_guidance_is_rounded_in_the_precision_dtype_and_sizes_align():
    assert guidance_value(6.0, torch.bfloat16, 2, torch.device("cpu")).tolist() == [6016.0, 6016.0]
    assert guidance_value(6.0, torch.float32, 1, torch.device("cpu")).tolist() == [6000.0]
    assert (align_to(720), align_to(1270), align_to(16)) == (720, 1280, 16)


def test_copied_helpers_stay_equal():
    import hyvideo.utils.checkpoint as hy_ck
    import hyvideo.utils.video as hy_video
    import wan.utils.checkpoint as wan_ck
    import wan.utils.video as wan_video

    for name in ("CheckpointError", "_preview", "check_state_dict", "load_torch_file"):
        assert inspect.getsource(getattr(hy_ck, name)) == inspect.getsource(getattr(wan_ck, name)), name
    for name in ("to_uint8_frames", "save_video", "_why", "mp4_complete", "unique_path", "name_part"):
        assert inspect.getsource(getattr(hy_video, name)) == inspect.getsource(getattr(wan_video, name)), name
    import hyvideo.inference as hy_inf
    import hyvideo.modules.attention as hy_attn
    import wan.modules.attention as wan_attn
    import wan.text2video as wan_t2v

    for a, b, names in (
        (hy_attn, wan_attn, ("_flash_varlen", "flash_available")),
        (hy_inf, wan_t2v, ("synchronize", "GenerationStats")),
    ):
        for name in names:
            assert inspect.getsource(getattr(a, name)) == inspect.getsource(getattr(b, name)), name


def test_dit_loader_keys_and_errors(hy_ckpt, hy_debug_config, tmp_path):
    from hyvideo.modules.models import load_hyvideo_model

    dit = hy_ckpt / hy_debug_config.dit_weight
    model = load_hyvideo_model(hy_debug_config.model_kwargs(), str(dit), "ema")
    assert model.single_blocks[0].linear1.weight.device.type == "cpu"
    # a folder holding *_model_states.pt works like the file
    assert set(load_dit_state_dict(dit.parent)) == set(model.state_dict())
    with pytest.raises(CheckpointError, match="--load-key 'module' not in"):
        torch.save({"other": {}}, tmp_path / "x_model_states.pt")
        load_dit_state_dict(tmp_path / "x_model_states.pt", "module")
    sd = load_dit_state_dict(dit)
    bare_dir = tmp_path / "bare"
    bare_dir.mkdir()
    sd.pop("final_layer.linear.bias")
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, bare_dir / "pytorch_model_0.pt")
    with pytest.raises(CheckpointError, match="1 missing keys .*final_layer.linear.bias.*1 unexpected keys .*extra"):
        load_hyvideo_model(hy_debug_config.model_kwargs(), str(bare_dir), "module")
    with pytest.raises(CheckpointError, match="not found"):
        load_dit_state_dict(tmp_path / "nope.pt")


@pytest.mark.parametrize("nested", [True, False])
def test_vae_loads_from_the_official_folder(hy_debug_config, tmp_path, nested):
    from diffusers import AutoencoderKLHunyuanVideo

    from hyvideo.debug import DEBUG_VAE
    from hyvideo.vae import VAE_WEIGHTS, load_vae, upstream_vae_config, vae_kwargs

    kw = vae_kwargs(DEBUG_VAE)
    torch.manual_seed(0)
    ref = AutoencoderKLHunyuanVideo(**kw).eval()
    (tmp_path / "config.json").write_text(json.dumps(upstream_vae_config(kw)))
    sd = ref.state_dict()
    torch.save({"state_dict": {f"vae.{k}": v for k, v in sd.items()}} if nested else sd, tmp_path / VAE_WEIGHTS)
    vae = load_vae(tmp_path, dtype=torch.float32, tiling=False)
    z = torch.randn(1, 16, 2, 4, 4)
    with torch.no_grad():
        assert torch.equal(vae.decode(z).sample, ref.decode(z).sample)
    assert vae.decode(z).sample.shape == (1, 3, 5, 32, 32)  # 4x time (causal: 1 + 4k), 8x space
    sd.pop(next(iter(sd)))
    torch.save(sd, tmp_path / VAE_WEIGHTS)
    with pytest.raises(CheckpointError, match="missing keys"):
        load_vae(tmp_path, dtype=torch.float32)


def test_text_encoders_template_crop_and_skip_layer(hy_ckpt, hy_debug_config):
    from hyvideo.constants import PROMPT_TEMPLATE
    from hyvideo.text_encoder import TextEncoder

    cfg = hy_debug_config
    llm = TextEncoder(
        "llm",
        cfg.text_len,
        hy_ckpt / cfg.text_encoder_dir,
        dtype=torch.float32,
        prompt_template="dit-llm-encode",
        prompt_template_video="dit-llm-encode-video",
        hidden_state_skip_layer=2,
        count_crop_start=True,
    )
    prefix = PROMPT_TEMPLATE["dit-llm-encode-video"]["template"].split("{}")[0]
    crop = llm.crop_start("video")
    # character tokenizer: each special header token is one token, plus BOS
    assert crop == 1 + len(
        prefix.replace("<|start_header_id|>", "S").replace("<|end_header_id|>", "E").replace("<|eot_id|>", "T")
    )
    out = llm.encode(["a red cat"], "video")
    assert out.hidden_state.shape == (1, cfg.text_len, cfg.text_states_dim)
    assert out.attention_mask.sum() == len("a red cat") + 1  # prompt characters + the closing <|eot_id|>
    ids = llm.tokenizer([PROMPT_TEMPLATE["dit-llm-encode-video"]["template"].format("a red cat")], return_tensors="pt")
    full = llm.model(**ids, output_hidden_states=True).hidden_states
    assert torch.allclose(out.hidden_state[0, : int(out.attention_mask.sum())], full[-3][0, crop:], atol=1e-6)
    clip = TextEncoder("clipL", cfg.text_len_2, hy_ckpt / cfg.text_encoder_2_dir, dtype=torch.float32)
    pooled = clip.encode(["a red cat", "a blue dog"]).hidden_state
    assert pooled.shape == (2, cfg.text_states_dim_2) and not torch.allclose(pooled[0], pooled[1])
    with pytest.raises(FileNotFoundError):
        TextEncoder("clipL", 77, hy_ckpt / "missing")


def test_missing_text_encoder_folder_is_reported(hy_ckpt, tmp_path, hy_debug_config):
    from hyvideo.inference import HunyuanVideoSampler

    base = tmp_path / "ckpts"
    shutil.copytree(hy_ckpt, base)
    shutil.rmtree(base / hy_debug_config.text_encoder_2_dir)
    with pytest.raises(FileNotFoundError, match="text_encoder_2"):
        HunyuanVideoSampler.from_checkpoint(hy_debug_config, base)
