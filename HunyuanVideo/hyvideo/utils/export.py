"""A loaded HunyuanVideo sampler written as a diffusers `HunyuanVideoPipeline` folder.

The DiT goes under diffusers' keys (`convert.dit_to_diffusers`); the VAE is already diffusers'
`AutoencoderKLHunyuanVideo`, the text encoders and tokenizers transformers' own. The scheduler is diffusers'
flow-matching Euler at the config's shift (HunyuanVideoPipeline passes sigmas linspace(1, 0, steps + 1)[:-1]
and the scheduler shifts them, as upstream's sampler does). What the pipeline call must be told to encode
prompts as this sampler does (its template, crop and text length) is `diffusers_call_kwargs`.
"""

from __future__ import annotations

from pathlib import Path


def save_diffusers_pipeline(out_dir: str | Path, sampler) -> Path:
    from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanVideoPipeline, HunyuanVideoTransformer3DModel

    from .convert import diffusers_config, dit_to_diffusers

    if sampler.text_encoder_2 is None:
        raise ValueError("HunyuanVideoPipeline needs both text encoders; load the sampler with text_encoder_2")
    model = sampler.model
    transformer = HunyuanVideoTransformer3DModel(**diffusers_config(model))
    transformer.load_state_dict(dit_to_diffusers(model.state_dict(), model.hidden_size), strict=True)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=sampler.config.flow_shift)
    pipeline = HunyuanVideoPipeline(
        text_encoder=sampler.text_encoder.model,
        tokenizer=sampler.text_encoder.tokenizer,
        transformer=transformer,
        vae=sampler.vae,
        scheduler=scheduler,
        text_encoder_2=sampler.text_encoder_2.model,
        tokenizer_2=sampler.text_encoder_2.tokenizer,
    )
    pipeline.save_pretrained(str(out_dir))
    return Path(out_dir)


def diffusers_call_kwargs(sampler) -> dict:
    """The `HunyuanVideoPipeline.__call__` keywords that encode prompts as `sampler` does: its video template
    with the crop it counts, and its text length (diffusers' defaults are the released model's: 95, 256)."""
    encoder = sampler.text_encoder
    template, crop = encoder.templates["video"]
    return {"prompt_template": {"template": template, "crop_start": crop}, "max_sequence_length": encoder.max_length}
