"""HYVideoDiffusionTransformer: upstream keys and sizes, parity with diffusers, masking and RoPE rules."""

from __future__ import annotations

import pytest
import torch
from conftest import rel_err

from hyvideo.configs import HUNYUAN_VIDEO_CONFIG
from hyvideo.modules.layers import apply_rope
from hyvideo.modules.models import HYVideoDiffusionTransformer
from hyvideo.modules.posemb_layers import get_nd_rotary_pos_embed
from hyvideo.utils.convert import diffusers_config, dit_to_diffusers


def test_full_size_parameter_count_and_keys():
    with torch.device("meta"):
        model = HYVideoDiffusionTransformer(**HUNYUAN_VIDEO_CONFIG["HYVideo-T/2-cfgdistill"].model_kwargs())
    sd = model.state_dict()
    assert sum(v.numel() for v in sd.values()) == 12_821_012_544  # 12.82 B, as documented upstream
    assert sd["single_blocks.0.linear1.weight"].shape == (21504, 3072)
    assert sd["single_blocks.0.linear2.weight"].shape == (3072, 15360)
    assert sd["final_layer.linear.weight"].shape == (64, 3072)
    assert sd["double_blocks.19.img_attn_q_norm.weight"].shape == (128,)
    assert "guidance_in.mlp.2.weight" in sd and "single_blocks.39.modulation.linear.bias" in sd
    assert not any("norm1" in k and k.startswith("double_blocks") for k in sd)  # no affine image/text norms
    with torch.device("meta"):
        plain = HYVideoDiffusionTransformer(**HUNYUAN_VIDEO_CONFIG["HYVideo-T/2"].model_kwargs())
    assert set(sd) - set(plain.state_dict()) == {f"guidance_in.mlp.{i}.{p}" for i in (0, 2) for p in ("weight", "bias")}


def _random_model(cfg, seed: int) -> HYVideoDiffusionTransformer:
    torch.manual_seed(seed)
    model = HYVideoDiffusionTransformer(**cfg.model_kwargs()).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(std=0.1)
    return model


def _inputs(cfg, seed: int, frames=3, h=8, w=6, text=10):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 16, frames, h, w, generator=g)
    mask = torch.ones(2, text, dtype=torch.int64)
    mask[0, 6:] = 0  # padding in the first sample only
    return dict(
        x=x,
        t=torch.tensor([900.5, 312.25]),
        text_states=torch.randn(2, text, cfg.text_states_dim, generator=g),
        text_mask=mask,
        text_states_2=torch.randn(2, cfg.text_states_dim_2, generator=g),
        guidance=torch.tensor([6016.0, 6016.0]),
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_diffusers_with_padded_text(hy_debug_config, seed):
    from diffusers import HunyuanVideoTransformer3DModel

    cfg = hy_debug_config
    model = _random_model(cfg, seed)
    twin = HunyuanVideoTransformer3DModel(**diffusers_config(model)).eval()
    twin.load_state_dict(dit_to_diffusers(model.state_dict(), cfg.hidden_size), strict=True)
    inp = _inputs(cfg, seed)
    cos, sin = get_nd_rotary_pos_embed(cfg.rope_dim_list, (3, 4, 3), theta=cfg.rope_theta)
    with torch.no_grad():
        ours = model(
            inp["x"], inp["t"], inp["text_states"], inp["text_mask"], inp["text_states_2"], cos, sin, inp["guidance"]
        )["x"]
        ref = twin(
            inp["x"],
            inp["t"],
            inp["text_states"],
            inp["text_mask"],
            inp["text_states_2"],
            guidance=inp["guidance"],
            return_dict=False,
        )[0]
    assert ours.shape == ref.shape == inp["x"].shape
    assert rel_err(ours, ref) <= 1e-5


def test_padded_text_never_reaches_the_image(hy_debug_config):
    """Changing the features of padded text tokens must not change the output."""
    cfg = hy_debug_config
    model = _random_model(cfg, 3)
    inp = _inputs(cfg, 3)
    cos, sin = get_nd_rotary_pos_embed(cfg.rope_dim_list, (3, 4, 3))
    args = lambda ts: (inp["x"], inp["t"], ts, inp["text_mask"], inp["text_states_2"], cos, sin, inp["guidance"])  # noqa: E731
    changed = inp["text_states"].clone()
    changed[0, 6:] += 5.0
    with torch.no_grad():
        a, b = model(*args(inp["text_states"]))["x"], model(*args(changed))["x"]
    assert torch.equal(a[0], b[0]) or rel_err(a[0], b[0]) < 1e-6
    changed[0, 2] += 5.0  # a valid token does matter
    with torch.no_grad():
        c = model(*args(changed))["x"]
    assert rel_err(c[0], a[0]) > 1e-3


def test_rope_tables_golden_and_rotation_convention():
    cos, sin = get_nd_rotary_pos_embed((16, 56, 56), (2, 3, 4), theta=256)
    assert cos.shape == sin.shape == (24, 128)
    # token (t=1, h=2, w=3) is row 1*12 + 2*4 + 3; first t-frequency is 1, repeated for the pair
    row = 1 * 12 + 2 * 4 + 3
    assert torch.allclose(cos[row, :2], torch.cos(torch.tensor([1.0, 1.0])))
    assert torch.allclose(sin[row, 16:18], torch.sin(torch.tensor([2.0, 2.0])))  # h axis starts at column 16
    # interleaved pairs: (a, b) -> (a cos - b sin, b cos + a sin), the same as a complex rotation
    x = torch.randn(1, 24, 1, 128)
    ours = apply_rope(x, cos, sin)
    xc = torch.view_as_complex(x.unflatten(-1, (-1, 2)))
    ref = torch.view_as_real(
        xc * torch.polar(torch.ones_like(cos[:, ::2]), torch.atan2(sin[:, ::2], cos[:, ::2]))[None, :, None]
    )
    assert torch.allclose(ours, ref.flatten(-2), atol=1e-5)


def test_constructor_checks():
    with pytest.raises(ValueError, match="rope_dim_list"):
        HYVideoDiffusionTransformer(hidden_size=32, heads_num=2, rope_dim_list=(4, 4, 4))
    with pytest.raises(ValueError, match="divisible"):
        HYVideoDiffusionTransformer(hidden_size=30, heads_num=4)
