"""The registered Wan tasks. Values are upstream's (`wan_t2v_14B.py`, `wan_t2v_1_3B.py`, `wan_i2v_14B.py`)
except t2v-debug, i2v-debug and t2v-tiny, which are ours."""

from dataclasses import replace

import torch

from .shared import SAMPLE_NEG_PROMPT, WanCLIPConfig, WanConfig, WanT5Config, WanVAEConfig

UMT5_XXL = WanT5Config(vocab_size=256384, dim=4096, dim_attn=4096, dim_ffn=10240, num_heads=64, num_layers=24)
WAN_VAE = WanVAEConfig(base_dim=96)

EXAMPLE_PROMPT = (
    "Two anthropomorphic cats in comfy boxing gear and bright gloves fight intensely on a spotlighted stage."
)

T2V_14B = WanConfig(
    name="t2v-14B",
    patch_size=(1, 2, 2),
    text_len=512,
    dim=5120,
    ffn_dim=13824,
    freq_dim=256,
    num_heads=40,
    num_layers=40,
    t5=UMT5_XXL,
    vae=WAN_VAE,
    example_prompt=EXAMPLE_PROMPT,
)

T2V_1_3B = replace(T2V_14B, name="t2v-1.3B", dim=1536, ffn_dim=8960, num_heads=12, num_layers=30)

# open-clip XLM-RoBERTa-Large-ViT-H/14's visual tower (the DiT reads its first 31 blocks)
VIT_H_14 = WanCLIPConfig(hidden_size=1280, intermediate_size=5120, num_heads=16, num_layers=32)

# Image-to-video, one config for the 480P and 720P checkpoints (they differ in weights only). Upstream runs
# 40 steps, shift 5.0 (3.0 at 480p: generate.py's rule) and its negative prompt with "camera shake" first.
I2V_14B = replace(
    T2V_14B,
    name="i2v-14B",
    model_type="i2v",
    in_dim=36,
    clip=VIT_H_14,
    sample_steps=40,
    sample_neg_prompt="镜头晃动，" + SAMPLE_NEG_PROMPT,
    # upstream's example is a photo it ships; ours is assets/i2v_example.png (a red disc on blue stripes)
    example_prompt="A red ball rolls to the left across a blue striped wall, smooth steady motion.",
)

# Random-weight debug model: same architecture at toy sizes, used by CPU tests, CI and `--task t2v-debug`
# (pipeline checks, not pictures). Its T5 vocabulary matches the character tokenizer of wan.debug.
DEBUG_T2V = WanConfig(
    name="t2v-debug",
    patch_size=(1, 2, 2),
    text_len=512,
    dim=32,
    ffn_dim=64,
    freq_dim=32,
    num_heads=2,
    num_layers=4,
    t5=WanT5Config(vocab_size=128, dim=32, dim_attn=32, dim_ffn=64, num_heads=2, num_layers=2),
    vae=WanVAEConfig(base_dim=8),
    frame_num=9,
    sample_steps=8,
    example_prompt="a red circle moving left over a blue striped background",
)

# Trained tiny model shipped in Wan2.1/Wan2.1-T2V-tiny (scripts/train_tiny.py): 64x64, 17 frames of synthetic
# scenes; patch (1, 1, 1) gives 5 x 8 x 8 = 320 tokens, one per 8-pixel latent cell, so that an object's move
# per latent frame (about 8 px) is a move to the next token (with 16-pixel tokens it was sub-token, and the
# model did not learn direction). Its word-level tokenizer has 26 entries; the vocabulary leaves room.
TINY_T2V = WanConfig(
    name="t2v-tiny",
    patch_size=(1, 1, 1),
    text_len=24,
    dim=128,
    ffn_dim=512,
    freq_dim=64,
    num_heads=4,
    num_layers=8,
    t5=WanT5Config(vocab_size=32, dim=64, dim_attn=64, dim_ffn=128, num_heads=2, num_layers=2),
    vae=WanVAEConfig(base_dim=8, num_res_blocks=1),
    t5_checkpoint="models_t5_umt5-tiny-enc.pth",
    t5_tokenizer="tokenizer",
    t5_dtype=torch.float32,
    sample_neg_prompt="",  # trained with 10% empty prompts: "" is its unconditional branch
    frame_num=17,
    sample_steps=25,
    sample_shift=3.0,
    sample_guide_scale=4.0,
    example_prompt="a red circle moving left over a blue striped background",
)

# Random-weight image-to-video model: t2v-debug's DiT with the I2V inputs, and a 2-block visual tower of the
# real image size and patch (257 image tokens, which the DiT's cross-attention splits off), for tests and
# `--task i2v-debug` (pipeline checks, not pictures).
DEBUG_I2V = replace(
    DEBUG_T2V,
    name="i2v-debug",
    model_type="i2v",
    in_dim=36,
    clip=WanCLIPConfig(hidden_size=32, intermediate_size=64, num_heads=2, num_layers=3),
    sample_neg_prompt="镜头晃动，" + SAMPLE_NEG_PROMPT,
    example_prompt="A red ball rolls to the left across a blue striped wall, smooth steady motion.",
)
