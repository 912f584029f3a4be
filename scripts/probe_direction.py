"""Does a tiny model use its prompt's direction word? Its denoising loss with the true word and with the opposite.

    python scripts/probe_direction.py                                  # the shipped tiny HunyuanVideo
    python scripts/probe_direction.py --model wan                      # the shipped tiny Wan
    python scripts/probe_direction.py --model-base outputs/run         # a HunyuanVideo ckpts folder in training

Training-split scenes (a fixed 16 by default) are rendered and encoded by the model's VAE, noised, and the
DiT's one-step prediction scored by the foreground-weighted MSE of the training loss (the object's latent cells
weigh 1 + 8), once with the true prompt, once with its direction word replaced by the opposite one and once
unconditional. Two kinds of input:
- first: latent frame 0 nearly clean (sigma 0.05), the others at 0.97, so that only the word says where the
  object goes (the first-frame samples of training);
- uniform sigma: every frame equally noisy, the case every sampling run is in. Noise that hides the object's
  path leaves only the word to tell which way the frames run.
A model that follows the word in sampling scores the true prompt clearly below the flipped one on both kinds
(docs/tiny_hyvideo.md has both tiny models' figures). Fixed scenes, noise and levels: checkpoints compare.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
for sub in ("HunyuanVideo", "Wan2.1", "", "scripts"):
    sys.path.insert(0, str(REPO / sub))

from train_tiny import latent_masks  # noqa: E402

from scenes import render_scene, training_combos  # noqa: E402
from scenes.metrics import to_video  # noqa: E402

REGIMES = ("first", 0.97, 0.9, 0.8, 0.6)


class HunyuanProbe:
    """The tiny HunyuanVideo's VAE, text encoders and DiT, as its training script uses them."""

    def __init__(self, model_base: Path):
        from train_tiny_hyvideo import MODEL, text_encoders

        from hyvideo.configs import HUNYUAN_VIDEO_CONFIG, NEGATIVE_PROMPT
        from hyvideo.modules.models import load_hyvideo_model
        from hyvideo.modules.posemb_layers import get_nd_rotary_pos_embed, rope_grid
        from hyvideo.vae import load_vae

        self.cfg = cfg = HUNYUAN_VIDEO_CONFIG[MODEL]
        self.unconditional, self.frames, self.stride = NEGATIVE_PROMPT, cfg.video_length, cfg.vae_stride
        self.dit = load_hyvideo_model(cfg.model_kwargs(), str(model_base / cfg.dit_weight)).eval()
        self.llm, self.clip = text_encoders(model_base, torch.device("cpu"))
        self.vae = load_vae(model_base / cfg.vae_dir, dtype=torch.float32, tiling=False)
        grid = rope_grid((1 + (self.frames - 1) // self.stride[0], 8, 8), cfg.patch_size)
        self.freqs = get_nd_rotary_pos_embed(cfg.rope_dim_list, grid, cfg.rope_theta)

    def encode(self, videos: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(videos).latent_dist.mode() * self.vae.config.scaling_factor

    def velocity(self, xt: torch.Tensor, sigma: float, prompts: list[str]) -> torch.Tensor:
        text, pooled = self.llm.encode(prompts), self.clip.encode(prompts).hidden_state
        t = torch.full((len(prompts),), 1000 * sigma)
        return self.dit(xt, t, text.hidden_state, text.attention_mask, pooled, *self.freqs)["x"]


class WanProbe:
    """The tiny Wan model's VAE (normalised latents), umT5 and DiT, as its training script uses them."""

    def __init__(self, ckpt: Path):
        from wan.configs import WAN_CONFIGS
        from wan.modules.model import load_wan_model
        from wan.modules.t5 import load_umt5_encoder
        from wan.modules.tokenizers import HuggingfaceTokenizer
        from wan.modules.vae import WanVAE

        cfg = WAN_CONFIGS["t2v-tiny"]
        self.unconditional, self.frames, self.stride = "", cfg.frame_num, cfg.vae_stride
        self.vae = WanVAE(ckpt / cfg.vae_checkpoint, cfg.vae, device="cpu")
        self.dit = load_wan_model(str(ckpt)).eval()
        self.t5 = load_umt5_encoder(cfg.t5, ckpt / cfg.t5_checkpoint).eval()
        self.tokenizer = HuggingfaceTokenizer(ckpt / cfg.t5_tokenizer, seq_len=cfg.text_len)

    def encode(self, videos: torch.Tensor) -> torch.Tensor:
        mu = self.vae.model.encode(videos).latent_dist.mode().float()
        return (mu - self.vae.mean) / self.vae.std

    def velocity(self, xt: torch.Tensor, sigma: float, prompts: list[str]) -> torch.Tensor:
        ids, mask = self.tokenizer(prompts)
        hidden = self.t5(input_ids=ids, attention_mask=mask).last_hidden_state
        context = [h[: int(n)] for h, n in zip(hidden, mask.sum(dim=1), strict=True)]
        seq_len = int(np.prod(xt.shape[2:]))  # patch (1, 1, 1)
        return torch.stack(
            self.dit(list(xt), t=torch.full((len(prompts),), 1000 * sigma), context=context, seq_len=seq_len)
        )


@torch.inference_mode()
def probe(model, num: int = 16, seed: int = 0) -> dict[str, dict[str, float]]:
    """{regime: {"true" | "flipped" | "unconditional": foreground-weighted MSE}} over `num` training scenes."""
    pool = training_combos()
    rng = np.random.default_rng(seed + 1)
    scenes = [
        render_scene(pool[int(i)], model.frames, 64, 64, seed=1000 + k)
        for k, i in enumerate(rng.permutation(len(pool))[:num])
    ]
    x0 = model.encode(torch.stack([to_video(r.video) for r in scenes]))
    weight = 1 + 8 * torch.stack([latent_masks(r.foreground, model.stride) for r in scenes])[:, None].float()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    prompts = [r.scene.prompt for r in scenes]
    texts = {
        "true": prompts,
        "flipped": [r.scene.reversed().prompt for r in scenes],  # the opposite direction word
        "unconditional": [model.unconditional] * num,
    }
    result = {}
    for regime in REGIMES:
        s = torch.full((num, 1, x0.shape[2], 1, 1), 0.97 if regime == "first" else regime)
        if regime == "first":
            s[:, :, 0] = 0.05
        xt = (1 - s) * x0 + s * noise
        # the model is told the noisiest frame's level, as in training
        preds = {k: model.velocity(xt, float(s.max()), t) for k, t in texts.items()}
        name = "first" if regime == "first" else f"uniform {regime}"
        result[name] = {k: float((weight * (p - (noise - x0)) ** 2).mean() / weight.mean()) for k, p in preds.items()}
    return result


def main(argv: list[str] | None = None) -> int:
    from train_tiny import DEFAULT_OUT as WAN_TINY
    from train_tiny_hyvideo import DEFAULT_OUT as HY_TINY

    p = argparse.ArgumentParser(
        description="A tiny model's denoising loss with the true and the opposite direction word."
    )
    # each tiny model: its probe, its shipped folder, a file that marks a checkpoint folder of it
    probes = {
        "hunyuanvideo": (HunyuanProbe, HY_TINY, "hunyuan-video-t2v-720p"),
        "wan": (WanProbe, WAN_TINY, "config.json"),
    }
    p.add_argument("--model", choices=list(probes), default="hunyuanvideo")
    p.add_argument(
        "--model-base", dest="model_base", type=Path, default=None, help="checkpoint folder (default: shipped)"
    )
    p.add_argument("--num", type=int, default=16, help="training-split scenes probed")
    args = p.parse_args(argv)
    probe_class, shipped, marker = probes[args.model]
    base = args.model_base or shipped
    if not (base / marker).exists():
        p.error(f"--model-base: {base} is not a checkpoint folder of the tiny {args.model} model (no {marker})")
    if not 1 <= args.num <= 64:
        p.error(f"--num must be in 1..64, got {args.num}")
    model = probe_class(base)
    print(f"{'input':<14} {'true':>7} {'flipped':>8} {'uncond':>7}   (foreground-weighted MSE, {args.num} scenes)")
    for name, losses in probe(model, args.num).items():
        print(f"{name:<14} {losses['true']:7.3f} {losses['flipped']:8.3f} {losses['unconditional']:7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
