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
