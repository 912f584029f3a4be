"""umT5 and Wan-VAE through their converters; samplers against upstream's formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import rel_err

from wan.modules.t5 import T5EncoderModel, t5_from_hf, t5_to_hf, umt5_config
from wan.modules.tokenizers import clean_prompt
from wan.modules.vae import WanVAE, build_autoencoder, vae_from_diffusers, vae_to_diffusers
from wan.schedulers import make_scheduler


def test_t5_keys_round_trip_and_upstream_names(debug_config):
    from transformers import UMT5EncoderModel

    hf = UMT5EncoderModel(umt5_config(debug_config.t5)).state_dict()
    up = t5_from_hf(hf)
    assert "token_embedding.weight" in up and "blocks.1.pos_embedding.embedding.weight" in up
    assert "blocks.0.ffn.gate.0.weight" in up and "norm.weight" in up
    assert not any(k.startswith("encoder.") for k in up)
    assert set(t5_to_hf(up)) == set(hf) - {"encoder.embed_tokens.weight"}


def test_t5_loader_reproduces_the_original_encoder(wan_ckpt, debug_config):
    from transformers import UMT5EncoderModel

    enc = T5EncoderModel(
        text_len=debug_config.text_len,
        config=debug_config.t5,
        checkpoint_path=wan_ckpt / debug_config.t5_checkpoint,
        tokenizer_path=wan_ckpt / debug_config.t5_tokenizer,
        dtype=torch.float32,
    )
    # The original: the same random weights, loaded straight into transformers with HF keys.
    sd = torch.load(wan_ckpt / debug_config.t5_checkpoint, weights_only=True)
    ref = UMT5EncoderModel(umt5_config(debug_config.t5)).eval()
    ref.load_state_dict({k: v.float() for k, v in t5_to_hf(sd).items()}, strict=False)
    ids, mask = enc.tokenizer(["A red  circle", "blue &amp; green square moving up"])
    out = enc(["A red  circle", "blue &amp; green square moving up"], "cpu")
    assert [u.shape[0] for u in out] == mask.sum(1).tolist()  # trimmed to the true length
    assert out[0].shape[0] == len("a red circle") + 1  # whitespace collapsed, lower-cased chars + EOS
    with torch.no_grad():
        expect = ref(input_ids=ids, attention_mask=mask).last_hidden_state
    assert rel_err(out[1], expect[1, : out[1].shape[0]]) < 1e-6


def upstream_t5_layout(hf: dict) -> dict:
    """An HF UMT5 encoder's weights under upstream's key names, written out here by hand from the upstream
    layout (../shared/docs/wan2.1.md) rather than with the repository's converter."""
    out = {"token_embedding.weight": hf["shared.weight"], "norm.weight": hf["encoder.final_layer_norm.weight"]}
    n = 1 + max(int(k.split(".")[2]) for k in hf if k.startswith("encoder.block."))
    for i in range(n):
        b = f"encoder.block.{i}.layer"
        out[f"blocks.{i}.norm1.weight"] = hf[f"{b}.0.layer_norm.weight"]
        for x in "qkvo":
            out[f"blocks.{i}.attn.{x}.weight"] = hf[f"{b}.0.SelfAttention.{x}.weight"]
        out[f"blocks.{i}.pos_embedding.embedding.weight"] = hf[f"{b}.0.SelfAttention.relative_attention_bias.weight"]
        out[f"blocks.{i}.norm2.weight"] = hf[f"{b}.1.layer_norm.weight"]
        out[f"blocks.{i}.ffn.gate.0.weight"] = hf[f"{b}.1.DenseReluDense.wi_0.weight"]  # the gelu branch
        out[f"blocks.{i}.ffn.fc1.weight"] = hf[f"{b}.1.DenseReluDense.wi_1.weight"]  # the linear branch
        out[f"blocks.{i}.ffn.fc2.weight"] = hf[f"{b}.1.DenseReluDense.wo.weight"]
    return out


def test_t5_loader_reads_the_upstream_layout_independently_of_our_converter(tmp_path, wan_ckpt, debug_config):
    from transformers import UMT5EncoderModel

    torch.manual_seed(0)
    ref = UMT5EncoderModel(umt5_config(debug_config.t5)).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(std=0.3)  # every weight distinct, so a swapped pair of keys shows
    torch.save(upstream_t5_layout(ref.state_dict()), tmp_path / "t5.pth")
    enc = T5EncoderModel(
        text_len=debug_config.text_len,
        config=debug_config.t5,
        checkpoint_path=tmp_path / "t5.pth",
        tokenizer_path=wan_ckpt / debug_config.t5_tokenizer,
        dtype=torch.float32,
    )
    prompts = ["a red circle", "blue square moving up"]
    ids, mask = enc.tokenizer(prompts)
    out = enc(prompts, "cpu")
    with torch.no_grad():
        expect = ref(input_ids=ids, attention_mask=mask).last_hidden_state
    for i, u in enumerate(out):
        assert rel_err(u, expect[i, : u.shape[0]]) < 1e-6


def test_vae_upstream_layout_is_the_one_diffusers_own_converter_reads(tmp_path, debug_config):
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    torch.manual_seed(0)
    ref = build_autoencoder(debug_config.vae).eval()
    upstream = vae_from_diffusers(ref.state_dict())
    # diffusers' single-file conversion of the official Wan2.1_VAE.pth, not ours, maps it back exactly
    back = convert_wan_vae_to_diffusers(dict(upstream))
    sd = ref.state_dict()
    assert back.keys() == sd.keys() and all(torch.equal(back[k], sd[k]) for k in sd)


def test_prompt_cleaning():
    assert clean_prompt("  a &amp;amp; b \n\t c ") == "a & b c"


def test_vae_keys_round_trip(debug_config):
    sd = build_autoencoder(debug_config.vae).state_dict()
    up = vae_from_diffusers(sd)
    assert "decoder.upsamples.4.shortcut.weight" in up  # upstream names of the official file
    assert "decoder.upsamples.3.time_conv.weight" in up and "decoder.upsamples.11.resample.1.weight" in up
    assert "encoder.middle.1.to_qkv.weight" in up and "conv1.weight" in up and "decoder.head.2.bias" in up
    assert vae_to_diffusers(up).keys() == sd.keys()


def test_vae_loader_reproduces_the_original(tmp_path, debug_config):
    torch.manual_seed(0)
    ref = build_autoencoder(debug_config.vae).eval()
    torch.save(vae_from_diffusers(ref.state_dict()), tmp_path / "vae.pth")
    vae = WanVAE(tmp_path / "vae.pth", debug_config.vae)
    video = torch.rand(3, 5, 32, 32) * 2 - 1
    z = vae.encode([video])[0]
    assert z.shape == (16, 2, 4, 4)  # 4n+1 frames -> n+1 latent frames, 8x spatial
    with torch.no_grad():
        mu = ref.encode(video[None]).latent_dist.mode()[0]
        mean, std = vae.mean, vae.std
        assert rel_err(z, (mu - mean) / std) < 1e-6
        out = vae.decode([z])[0]
        expect = ref.decode((z * std + mean)[None]).sample[0].clamp(-1, 1)
    assert out.shape == (3, 5, 32, 32) and out.abs().max() <= 1
    assert rel_err(out, expect) < 1e-6


def upstream_sigmas(steps: int, shift: float, solver: str) -> np.ndarray:
    if solver == "unipc":
        sigma_max = float(np.float32(1 - np.linspace(1, 1 / 1000, 1000, dtype=np.float32)[::-1][0]))
        s = np.linspace(sigma_max, 0, steps + 1)[:-1]
    else:
        s = np.linspace(1, 0, steps + 1)[:steps]
    return shift * s / (1 + (shift - 1) * s)


@pytest.mark.parametrize("solver", ["unipc", "dpm++"])
@pytest.mark.parametrize(("steps", "shift"), [(50, 5.0), (40, 3.0), (10, 8.0), (7, 1.0)])
def test_scheduler_sigmas_and_timesteps(solver, steps, shift):
    sched = make_scheduler(solver, steps, shift)
    expect = upstream_sigmas(steps, shift, solver)
    assert sched.timesteps.dtype == torch.int64
    assert sched.timesteps.tolist() == (expect * 1000).astype(np.int64).tolist()  # truncation, not rounding
    assert np.allclose(sched.sigmas.numpy(), np.append(expect, 0).astype(np.float32), atol=1e-7)


def test_scheduler_golden_values():
    unipc = make_scheduler("unipc", 50, 5.0)
    assert unipc.timesteps[:6].tolist() == [999, 995, 991, 987, 982, 978]
    assert unipc.timesteps[-6:].tolist() == [405, 356, 302, 241, 172, 92]
    assert np.allclose(unipc.sigmas[:3].numpy(), [0.99979984, 0.99573237, 0.99153047])
    dpm = make_scheduler("dpm++", 50, 5.0)
    assert dpm.timesteps[:4].tolist() == [1000, 995, 991, 987] and dpm.timesteps[-3:].tolist() == [241, 172, 92]
    assert np.allclose(dpm.sigmas[:3].numpy(), [1.0, 0.99593496, 0.99173554])


@pytest.mark.parametrize("solver", ["unipc", "dpm++"])
def test_exact_velocity_lands_on_x0(solver):
    """Flow convention x_s = (1-s) x0 + s eps, v = eps - x0: with the true v every solver must reach x0."""
    torch.manual_seed(0)
    x0, eps = torch.randn(1, 4, 2, 3), torch.randn(1, 4, 2, 3)
    sched = make_scheduler(solver, 12, 5.0)
    x = (1 - sched.sigmas[0]) * x0 + sched.sigmas[0] * eps
    for t in sched.timesteps:
        x = sched.step(eps - x0, t, x, return_dict=False)[0]
    assert torch.allclose(x, x0, atol=1e-4)


def test_scheduler_rejects_bad_input():
    with pytest.raises(ValueError, match="accepted"):
        make_scheduler("euler", 10, 5.0)
    with pytest.raises(ValueError, match="steps"):
        make_scheduler("unipc", 0, 5.0)
