"""The registered HunyuanVideo variants: upstream's two (`HUNYUAN_VIDEO_CONFIG`) and a tiny debug one."""

from dataclasses import replace

from .shared import HYVideoConfig

HYVIDEO_T2 = HYVideoConfig(
    name="HYVideo-T/2",
    hidden_size=3072,
    heads_num=24,
    mlp_width_ratio=4.0,
    mm_double_blocks_depth=20,
    mm_single_blocks_depth=40,
    rope_dim_list=(16, 56, 56),
    guidance_embed=False,
    text_states_dim=4096,
    text_states_dim_2=768,
)

# The released weights: guidance distilled into `guidance_in`, so one forward per step.
HYVIDEO_T2_CFGDISTILL = replace(HYVIDEO_T2, name="HYVideo-T/2-cfgdistill", guidance_embed=True)

# Random-weight debug model: the same architecture at toy sizes (refiner depth 2 and patch (1, 2, 2) kept, as
# the upstream keys require), with tiny Llama/CLIP stand-ins and a tiny VAE; used by CPU tests and CI.
HYVIDEO_DEBUG = replace(
    HYVIDEO_T2_CFGDISTILL,
    name="HYVideo-debug",
    hidden_size=32,
    heads_num=2,
    mlp_width_ratio=2.0,
    mm_double_blocks_depth=2,
    mm_single_blocks_depth=4,
    rope_dim_list=(4, 6, 6),
    text_states_dim=32,
    text_states_dim_2=16,
    text_len=32,
    text_len_2=24,
    count_crop_start=True,
    video_size=(64, 64),
    video_length=9,
    infer_steps=8,
    example_prompt="a red circle moving left over a blue striped background",
)

# The tiny trained model (scripts/train_tiny_hyvideo.py, shipped in ckpts-tiny/): the release's depth (20 double and 40
# single blocks, so the release's block lists and the paper's ablations apply unchanged) at width 64. Patch
# (1, 1, 1): one token per 8-pixel latent cell, 320 a clip at 64x64, so that the object's move from one latent
# frame to the next is a move to another token; with upstream's (1, 2, 2) (80 tokens) the model drew the colour
# but not the direction (20%, chance), as the tiny Wan model did at that patch. A training step (batch 16) takes
# 2.7 s on the 2-core CPU (1.7-2.1 s with its blocks compiled) against 1.0 s at (1, 2, 2).
# Real CFG (guidance_embed off), as the tiny Wan model was trained (10% empty prompts): a guidance-distilled
# model would need a teacher first.
HYVIDEO_TINY = replace(
    HYVIDEO_T2,
    name="HYVideo-tiny",
    patch_size=(1, 1, 1),
    hidden_size=64,
    heads_num=2,
    mlp_width_ratio=4.0,
    rope_dim_list=(8, 12, 12),
    text_states_dim=64,
    text_states_dim_2=32,
    text_len=24,
    text_len_2=24,
    count_crop_start=True,
    video_size=(64, 64),
    video_length=17,
    infer_steps=25,
    flow_shift=3.0,
    embedded_cfg_scale=None,
    cfg_scale=4.0,
    example_prompt="a red circle moving left over a blue striped background",
)
