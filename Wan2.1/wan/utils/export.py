"""Writing Wan components in the official checkpoint layout (the inverse of the loaders).

Used by `wan.debug` for random test checkpoints and by scripts/train_tiny.py for the shipped tiny model,
so that both are read back by exactly the loaders users hit.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..configs import WanConfig
from .checkpoint import DIT_CONFIG, DIT_INDEX, DIT_SINGLE


def save_dit(ckpt_dir: str | Path, config: WanConfig, dit: torch.nn.Module, shards: int = 1) -> None:
    """config.json and the DiT safetensors, single-file or sharded with an index as the 14B release."""
    from safetensors.torch import save_file

    ckpt_dir = Path(ckpt_dir)
    cfg = {
        "_class_name": "WanModel",
        **{k: v for k, v in config.model_kwargs().items() if k not in ("qk_norm", "cross_attn_norm")},
    }
    (ckpt_dir / DIT_CONFIG).write_text(json.dumps(cfg, indent=2))
    sd = {k: v.detach().contiguous() for k, v in dit.state_dict().items()}
    if shards == 1:
        save_file(sd, str(ckpt_dir / DIT_SINGLE))
        return
    keys = sorted(sd)
    weight_map = {}
    for i in range(shards):
        name = f"diffusion_pytorch_model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = keys[i::shards]
        save_file({k: sd[k] for k in part}, str(ckpt_dir / name))
        weight_map.update(dict.fromkeys(part, name))
    index = {
        "metadata": {"total_size": sum(v.numel() * v.element_size() for v in sd.values())},
        "weight_map": weight_map,
    }
    (ckpt_dir / DIT_INDEX).write_text(json.dumps(index, indent=2))


def save_t5(ckpt_dir: str | Path, config: WanConfig, t5: torch.nn.Module) -> None:
    """A transformers UMT5EncoderModel as upstream's T5 .pth (upstream keys, the config's T5 dtype)."""
    from ..modules.t5 import t5_from_hf

    sd = t5_from_hf(t5.state_dict())
    torch.save({k: v.detach().to(config.t5_dtype) for k, v in sd.items()}, Path(ckpt_dir) / config.t5_checkpoint)


def save_vae(ckpt_dir: str | Path, config: WanConfig, autoencoder: torch.nn.Module) -> None:
    """A diffusers AutoencoderKLWan as upstream's Wan2.1_VAE.pth (upstream keys)."""
    from ..modules.vae import vae_from_diffusers

    sd = {k: v.detach() for k, v in autoencoder.state_dict().items()}
    torch.save(vae_from_diffusers(sd, config.vae.num_res_blocks), Path(ckpt_dir) / config.vae_checkpoint)


def save_diffusers_pipeline(out_dir: str | Path, config: WanConfig, pipe) -> Path:
    """A loaded `WanT2V` as a diffusers `WanPipeline` folder (`WanPipeline.from_pretrained` reads it): the DiT
    under diffusers' keys, the same VAE, umT5 encoder and tokenizer objects, and UniPC in flow mode at the
    config's shift (the scheduler diffusers' Wan conversion uses)."""
    from diffusers import UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    from .convert import diffusers_config, dit_to_diffusers

    if pipe.model.model_type != "t2v":
        raise ValueError(f"only text-to-video converts to a WanPipeline; this model is {pipe.model.model_type}")
    transformer = WanTransformer3DModel(**diffusers_config(pipe.model))
    transformer.load_state_dict(dit_to_diffusers(pipe.model.state_dict()), strict=True)
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        num_train_timesteps=1000,
        flow_shift=config.sample_shift,
    )
    pipeline = WanPipeline(
        tokenizer=pipe.text_encoder.tokenizer.tokenizer,
        text_encoder=pipe.text_encoder.model,
        vae=pipe.vae.model,
        scheduler=scheduler,
        transformer=transformer,
    )
    pipeline.save_pretrained(str(out_dir))
    return Path(out_dir)
