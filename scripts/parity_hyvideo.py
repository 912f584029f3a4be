"""Print the parity figures of docs/hunyuanvideo.md: our HunyuanVideo DiT and sampler against diffusers (CPU, fp32).

python scripts/parity_hyvideo.py
"""

from __future__ import annotations

import platform

import torch

from hyvideo.modules.models import HYVideoDiffusionTransformer
from hyvideo.modules.posemb_layers import get_nd_rotary_pos_embed
from hyvideo.schedulers import get_sigmas, get_timesteps
from hyvideo.utils.convert import diffusers_config, dit_to_diffusers


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


@torch.no_grad()
def dit_vs_diffusers(seed: int, pad: int) -> float:
    from diffusers import HunyuanVideoTransformer3DModel

    torch.manual_seed(seed)
    ours = HYVideoDiffusionTransformer(
        hidden_size=64,
        heads_num=4,
        mlp_width_ratio=2.0,
        mm_double_blocks_depth=2,
        mm_single_blocks_depth=3,
        rope_dim_list=(4, 6, 6),
        guidance_embed=True,
        text_states_dim=48,
        text_states_dim_2=24,
    ).eval()
    for p in ours.parameters():
        p.normal_(std=0.1)
    twin = HunyuanVideoTransformer3DModel(**diffusers_config(ours)).eval()
    twin.load_state_dict(dit_to_diffusers(ours.state_dict(), 64), strict=True)
    b, text = 2, 16
    x = torch.randn(b, 16, 3, 8, 10)
    t = torch.tensor([997.09, 125.0])
    states, pooled = torch.randn(b, text, 48), torch.randn(b, 24)
    mask = torch.ones(b, text, dtype=torch.int64)
    mask[0, text - pad :] = 0
    g = torch.tensor([6016.0] * b)
    cos, sin = get_nd_rotary_pos_embed((4, 6, 6), (3, 4, 5))
    a = ours(x, t, states, mask, pooled, cos, sin, g)["x"]
    r = twin(x, t, states, mask, pooled, guidance=g, return_dict=False)[0]
    return rel(a, r)


def sampler_vs_diffusers() -> float:
    from diffusers import FlowMatchEulerDiscreteScheduler

    worst = 0.0
    for n, shift in ((50, 7.0), (30, 5.0), (10, 1.0)):
        ref = FlowMatchEulerDiscreteScheduler(shift=shift)
        ref.set_timesteps(sigmas=torch.linspace(1, 0, n + 1)[:-1].numpy())
        ours = get_sigmas(n, shift)
        worst = max(worst, float((ref.timesteps - get_timesteps(ours)).abs().max()))
    return worst


def main() -> None:
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    errs = [dit_vs_diffusers(seed, pad) for seed in range(3) for pad in (0, 7)]
    print(f"DiT vs diffusers HunyuanVideoTransformer3DModel: max rel err {max(errs):.2e} over {len(errs)} runs")
    print(f"flow Euler timesteps vs diffusers (with --flow-reverse): max abs diff {sampler_vs_diffusers():.1e}")


if __name__ == "__main__":
    main()
