"""Print the parity figures of docs/wan2.1.md: our Wan components against library references (CPU, fp32).

python scripts/parity_wan.py
"""

from __future__ import annotations

import platform
import tempfile
from pathlib import Path

import torch

from wan.configs import WAN_CONFIGS
from wan.modules.model import WanModel
from wan.modules.t5 import T5EncoderModel, t5_to_hf, umt5_config
from wan.modules.vae import WanVAE, build_autoencoder, vae_from_diffusers
from wan.utils.convert import diffusers_config, dit_to_diffusers


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


@torch.no_grad()
def dit_vs_diffusers(seed: int, pad: int) -> float:
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    ours = WanModel(dim=64, ffn_dim=128, freq_dim=32, text_dim=48, num_heads=4, num_layers=3, text_len=32).eval()
    for p in ours.parameters():
        p.normal_(std=0.2)
    ref = WanTransformer3DModel(**diffusers_config(ours)).eval()
    ref.load_state_dict(dit_to_diffusers(ours.state_dict()), strict=True)
    x, ctx, t = torch.randn(16, 5, 8, 12), torch.randn(20, 48), torch.tensor([917])
    tokens = 5 * 4 * 6
    a = ours([x], t=t, context=[ctx], seq_len=tokens + pad)[0]
    b = ref(x[None], t, torch.cat([ctx, ctx.new_zeros(12, 48)])[None]).sample[0]
    return rel(a, b)


@torch.no_grad()
def t5_and_vae(tmp: Path) -> tuple[float, float]:
    from transformers import UMT5EncoderModel

    from wan.debug import write_random_checkpoint

    cfg = WAN_CONFIGS["t2v-debug"]
    write_random_checkpoint(tmp, cfg)
    enc = T5EncoderModel(cfg.text_len, cfg.t5, tmp / cfg.t5_checkpoint, tmp / cfg.t5_tokenizer, dtype=torch.float32)
    ref = UMT5EncoderModel(umt5_config(cfg.t5)).eval()
    ref.load_state_dict({k: v.float() for k, v in t5_to_hf(torch.load(tmp / cfg.t5_checkpoint)).items()}, strict=False)
    ids, mask = enc.tokenizer(["a green triangle moving up"])
    n = int(mask.sum())
    t5_err = rel(enc(["a green triangle moving up"], "cpu")[0], ref(input_ids=ids, attention_mask=mask)[0][0, :n])

    torch.manual_seed(0)
    vae_ref = build_autoencoder(cfg.vae).eval()
    torch.save(vae_from_diffusers(vae_ref.state_dict()), tmp / "vae.pth")
    vae = WanVAE(tmp / "vae.pth", cfg.vae)
    z = torch.randn(16, 3, 8, 8)
    a = vae.decode([z])[0]
    b = vae_ref.decode((z * vae.std + vae.mean)[None]).sample[0].clamp(-1, 1)
    return t5_err, rel(a, b)


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, CPU fp32")
    for pad in (0, 7):
        errs = [dit_vs_diffusers(seed, pad) for seed in range(3)]
        print(f"WanModel vs diffusers WanTransformer3DModel, {pad} padding tokens: max rel err {max(errs):.2e}")
    with tempfile.TemporaryDirectory() as tmp:
        t5_err, vae_err = t5_and_vae(Path(tmp))
    print(f"umT5 via .pth converter vs UMT5EncoderModel: rel err {t5_err:.2e}")
    print(f"Wan-VAE via .pth converter vs AutoencoderKLWan decode: rel err {vae_err:.2e}")


if __name__ == "__main__":
    main()
