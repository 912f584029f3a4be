"""The registered Wan tasks. Values are upstream's (`wan_t2v_14B.py`, `wan_t2v_1_3B.py`) except t2v-debug."""

from dataclasses import replace

from .shared import WanConfig, WanT5Config, WanVAEConfig

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

# Random-weight debug model: same architecture at toy sizes, used by CPU tests, CI and as the embedded
# default until trained tiny weights ship. Its T5 vocabulary matches the character tokenizer of wan.debug.
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
