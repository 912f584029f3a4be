"""WanModel: parity with diffusers' WanTransformer3DModel, upstream keys/sizes, RoPE and padding rules."""

from __future__ import annotations

import pytest
import torch
from conftest import rel_err

from wan.configs import WAN_CONFIGS
from wan.modules.model import WanModel, apply_rope, sinusoidal_embedding_1d
from wan.utils.convert import diffusers_config, dit_from_diffusers, dit_to_diffusers

TINY = dict(dim=32, ffn_dim=64, freq_dim=32, text_dim=24, num_heads=2, num_layers=2, text_len=16)


def randomized(seed: int = 0) -> WanModel:
    torch.manual_seed(seed)
    model = WanModel(**TINY).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(std=0.2)
    return model


def diffusers_twin(model: WanModel):
    from diffusers import WanTransformer3DModel

    ref = WanTransformer3DModel(**diffusers_config(model)).eval()
    ref.load_state_dict(dit_to_diffusers(model.state_dict()), strict=True)
    return ref


@pytest.mark.parametrize("extra_pad", [0, 5])
def test_matches_diffusers(extra_pad):
    model = randomized()
    ref = diffusers_twin(model)
    torch.manual_seed(1)
    x = torch.randn(16, 3, 8, 6)
    ctx = torch.randn(9, 24)  # shorter than text_len: the model zero-pads it
    t = torch.tensor([733])
    tokens = 3 * 4 * 3
    with torch.no_grad():
        ours = model([x], t=t, context=[ctx], seq_len=tokens + extra_pad)[0]
        ctx_padded = torch.cat([ctx, ctx.new_zeros(16 - 9, 24)])
        theirs = ref(x[None], t, ctx_padded[None]).sample[0]
    assert ours.shape == x.shape and ours.dtype == torch.float32
    assert rel_err(ours, theirs) <= 1e-5


def test_image_to_video_matches_diffusers():
    # diffusers splits the context at its length - 512 (the text length it hard-codes): text_len 512 here
    torch.manual_seed(0)
    model = WanModel(**{**TINY, "text_len": 512}, model_type="i2v", in_dim=36, image_dim=64).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(std=0.2)
    ref = diffusers_twin(model)
    torch.manual_seed(1)
    x, y = torch.randn(16, 3, 8, 6), torch.randn(20, 3, 8, 6)
    clip, ctx, t = torch.randn(1, 257, 64), torch.randn(9, 24), torch.tensor([733])
    with torch.no_grad():
        ours = model([x], t=t, context=[ctx], seq_len=3 * 4 * 3, clip_fea=clip, y=[y])[0]
        ctx_padded = torch.cat([ctx, ctx.new_zeros(512 - 9, 24)])
        theirs = ref(torch.cat([x, y])[None], t, ctx_padded[None], encoder_hidden_states_image=clip).sample[0]
        without_image = model([x], t=t, context=[ctx], seq_len=36, clip_fea=torch.zeros_like(clip), y=[y])[0]
    assert ours.shape == x.shape and rel_err(ours, theirs) <= 1e-5
    assert rel_err(without_image, ours) > 1e-2  # the image tokens reach the output
    assert dit_from_diffusers(dit_to_diffusers(model.state_dict())).keys() == model.state_dict().keys()
    with pytest.raises(ValueError, match="clip_fea"):
        model([x], t=t, context=[ctx], seq_len=36)


def test_batch_of_two_equals_two_singles():
    model = randomized()
    torch.manual_seed(2)
    xs = [torch.randn(16, 2, 4, 4), torch.randn(16, 1, 4, 6)]  # different token counts -> padding
    ctxs = [torch.randn(5, 24), torch.randn(11, 24)]
    t = torch.tensor([500, 100])
    with torch.no_grad():
        both = model(xs, t=t, context=ctxs, seq_len=20)
        singles = [
            model([x], t=t[i : i + 1], context=[c], seq_len=20)[0]
            for i, (x, c) in enumerate(zip(xs, ctxs, strict=True))
        ]
    for a, b in zip(both, singles, strict=True):
        assert rel_err(a, b) < 1e-5


def test_key_round_trip_with_diffusers():
    sd = randomized().state_dict()
    assert dit_from_diffusers(dit_to_diffusers(sd)).keys() == sd.keys()


@pytest.mark.parametrize(("task", "params", "blocks"), [("t2v-1.3B", 1.419e9, 30), ("t2v-14B", 14.288e9, 40)])
def test_official_sizes(task, params, blocks):
    with torch.device("meta"):
        model = WanModel(**WAN_CONFIGS[task].model_kwargs())
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - params) / params < 1e-3
    keys = model.state_dict().keys()
    assert len(model.blocks) == blocks
    assert "blocks.0.norm3.weight" in keys and "blocks.0.norm2.weight" not in keys
    assert "head.modulation" in keys and "freqs" not in keys
    assert model.state_dict()["blocks.0.self_attn.norm_q.weight"].shape == (WAN_CONFIGS[task].dim,)


def test_sinusoid_is_cos_first_float64():
    emb = sinusoidal_embedding_1d(8, torch.tensor([3]))
    half = torch.arange(4, dtype=torch.float64)
    angles = 3 * torch.pow(10000, -half / 4)
    assert torch.equal(emb[0], torch.cat([angles.cos(), angles.sin()]).float())


def test_rope_rotates_adjacent_pairs():
    x = torch.randn(1, 1, 1, 4)
    theta = torch.tensor([0.3, -1.1], dtype=torch.float64)
    table = torch.polar(torch.ones(2, dtype=torch.float64), theta).view(1, 1, 1, 2)
    out = apply_rope(x, table)[0, 0, 0]
    a, b = x[0, 0, 0, 0::2].double(), x[0, 0, 0, 1::2].double()
    expect = torch.stack([a * theta.cos() - b * theta.sin(), a * theta.sin() + b * theta.cos()], dim=-1).flatten()
    assert torch.allclose(out.double(), expect, atol=1e-6)


def test_padding_tokens_do_not_change_valid_outputs():
    model = randomized()
    x, ctx, t = torch.randn(16, 2, 4, 4), torch.randn(7, 24), torch.tensor([10])
    with torch.no_grad():
        a = model([x], t=t, context=[ctx], seq_len=8)[0]
        b = model([x], t=t, context=[ctx], seq_len=13)[0]
    assert rel_err(b, a) < 1e-6


def test_seq_len_too_short_is_an_error():
    with pytest.raises(ValueError, match="seq_len"):
        randomized()([torch.randn(16, 1, 4, 4)], t=torch.tensor([1]), context=[torch.randn(2, 24)], seq_len=3)


def test_bad_constructor_values():
    with pytest.raises(ValueError, match="divisible"):
        WanModel(dim=30, num_heads=4)
    with pytest.raises(ValueError, match="model_type"):
        WanModel(model_type="flf2v")


def test_key_lengths_reach_attention_only_when_something_is_padded(monkeypatch):
    import wan.modules.model as wan_model

    seen = []
    real = wan_model.attention

    def spy(q, k, v, k_lens=None, **kw):
        seen.append(k_lens if k_lens is None else k_lens.tolist())
        return real(q, k, v, k_lens=k_lens, **kw)

    monkeypatch.setattr(wan_model, "attention", spy)
    model = WanModel(dim=32, ffn_dim=32, freq_dim=16, text_dim=16, text_len=4, num_heads=2, num_layers=1).eval()
    x, ctx = torch.randn(16, 1, 4, 4), torch.randn(3, 16)  # 4 tokens
    with torch.no_grad():
        model([x], t=torch.tensor([500]), context=[ctx], seq_len=4)
        model([x], t=torch.tensor([500]), context=[ctx], seq_len=6)
    # self- then cross-attention per call: no lengths (no mask, no host sync) unless padded
    assert seen == [None, None, [4], None]
