"""Does the tiny HunyuanVideo DiT use its prompt's direction word? The denoising loss with the word and without.

    python scripts/probe_direction.py                                  # the shipped HunyuanVideo/ckpts-tiny
    python scripts/probe_direction.py --model-base outputs/run --num 32

Training latents (the data stage's `latents.pt`) with the first latent frame nearly clean and the later ones
nearly pure noise: only the prompt can then say where the object goes. The DiT's one-step prediction is scored
by the foreground-weighted MSE of the training loss (the object's latent cells weigh 1 + 8), once with the true
prompt, once with its direction word replaced by the opposite one and once with the unconditional (negative)
prompt. A model that uses the word scores the true prompt clearly below the flipped one; the tiny Wan model's
direction adherence came with such a gap (docs/tiny_model.md). Fixed latents, noise and levels: checkpoints are
comparable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
for sub in ("HunyuanVideo", "Wan2.1", "", "scripts"):
    sys.path.insert(0, str(REPO / sub))

from train_tiny_hyvideo import DEFAULT_OUT, MODEL, text_encoders  # noqa: E402

OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def flip_direction(prompt: str) -> str:
    """The scene prompt with its direction word replaced by the opposite one."""
    words = prompt.split()
    i = words.index("moving") + 1
    return " ".join([*words[:i], OPPOSITE[words[i]], *words[i + 1 :]])


@torch.inference_mode()
def probe(model_base: Path, data_file: Path, num: int, seed: int = 0) -> dict[str, float]:
    from hyvideo.configs import HUNYUAN_VIDEO_CONFIG, NEGATIVE_PROMPT
    from hyvideo.modules.models import load_hyvideo_model
    from hyvideo.modules.posemb_layers import get_nd_rotary_pos_embed, rope_grid

    cfg = HUNYUAN_VIDEO_CONFIG[MODEL]
    data = torch.load(data_file)
    x0, prompts = data["latents"][:num].float(), data["prompts"][:num]
    weight = 1 + 8 * data["masks"][:num, None].float()  # [N, 1, F, H, W]
    dit = load_hyvideo_model(cfg.model_kwargs(), str(model_base / cfg.dit_weight)).eval()
    llm, clip = text_encoders(model_base, torch.device("cpu"))
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(x0.shape, generator=gen)
    s = torch.full((num, 1, x0.shape[2], 1, 1), 0.97)
    s[:, :, 0] = 0.05
    xt = (1 - s) * x0 + s * noise
    freqs = get_nd_rotary_pos_embed(cfg.rope_dim_list, rope_grid(tuple(x0.shape[2:]), cfg.patch_size), cfg.rope_theta)
    losses = {}
    for name, texts in (
        ("true", prompts),
        ("flipped", [flip_direction(p) for p in prompts]),
        ("unconditional", [NEGATIVE_PROMPT] * num),
    ):
        text, pooled = llm.encode(texts), clip.encode(texts).hidden_state
        pred = dit(xt, torch.full((num,), 970.0), text.hidden_state, text.attention_mask, pooled, *freqs)["x"]
        losses[name] = float((weight * (pred - (noise - x0)) ** 2).mean() / weight.mean())
    return losses


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="The tiny HunyuanVideo's denoising loss with and without the direction.")
    p.add_argument("--model-base", dest="model_base", type=Path, default=DEFAULT_OUT, help="a ckpts-tiny folder")
    p.add_argument("--data", type=Path, default=REPO / "outputs" / "train_tiny_hyvideo" / "latents.pt")
    p.add_argument("--num", type=int, default=16, help="training latents probed (the first N)")
    args = p.parse_args(argv)
    if not args.data.is_file():
        p.error(f"--data: no file {args.data} (scripts/train_tiny_hyvideo.py --stages data writes it)")
    if not (args.model_base / "hunyuan-video-t2v-720p").is_dir():
        p.error(f"--model-base: {args.model_base} is not a ckpts folder of the tiny model")
    if not 1 <= args.num <= 256:
        p.error(f"--num must be in 1..256, got {args.num}")
    losses = probe(args.model_base, args.data, args.num)
    print(", ".join(f"{k} {v:.3f}" for k, v in losses.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
