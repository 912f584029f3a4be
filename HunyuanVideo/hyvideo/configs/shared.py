"""Config dataclass shared by every HunyuanVideo model variant.

Architecture fields have no defaults on purpose: a config must say what it builds. Everything else (file
layout, text-encoder settings, sampling defaults) follows upstream's `hyvideo/config.py` and
`hyvideo/constants.py`.
"""

from dataclasses import dataclass

import torch

# Upstream's negative prompt for real CFG (`--cfg-scale > 1` without `--neg-prompt`), kept verbatim.
NEGATIVE_PROMPT = (
    "Aerial view, aerial view, overexposed, low quality, deformation, a poor composition, bad hands, "
    "bad teeth, bad eyes, bad limbs, distortion"
)


@dataclass(frozen=True, kw_only=True)
class HYVideoConfig:
    """One HunyuanVideo variant: DiT geometry, companion models' file layout and sampling defaults."""

    name: str
    # DiT (HYVideoDiffusionTransformer constructor keywords)
    hidden_size: int
    heads_num: int
    mlp_width_ratio: float
    mm_double_blocks_depth: int
    mm_single_blocks_depth: int
    rope_dim_list: tuple[int, int, int]
    guidance_embed: bool
    text_states_dim: int
    text_states_dim_2: int
    patch_size: tuple[int, int, int] = (1, 2, 2)
    in_channels: int = 16
    out_channels: int = 16
    mlp_act_type: str = "gelu_tanh"
    qkv_bias: bool = True
    qk_norm: bool = True
    qk_norm_type: str = "rms"
    text_projection: str = "single_refiner"
    use_attention_mask: bool = True
    # text encoders (folders under --model-base) and their settings
    text_encoder_dir: str = "text_encoder"
    text_encoder_2_dir: str = "text_encoder_2"
    text_len: int = 256
    text_len_2: int = 77
    hidden_state_skip_layer: int = 2
    # False: the templates' released crop_start (95 video, 36 image); True: count the template's tokens with
    # the tokenizer at hand (stand-in tokenizers of small configs)
    count_crop_start: bool = False
    # VAE and DiT files (under --model-base)
    vae_dir: str = "hunyuan-video-t2v-720p/vae"
    dit_weight: str = "hunyuan-video-t2v-720p/transformers/mp_rank_00_model_states.pt"
    vae_stride: tuple[int, int, int] = (4, 8, 8)
    # sampling defaults (sample_video.py falls back to these)
    rope_theta: float = 256.0
    video_size: tuple[int, int] = (720, 1280)  # (height, width) as --video-size
    video_length: int = 129
    infer_steps: int = 50
    flow_shift: float = 7.0
    embedded_cfg_scale: float | None = 6.0  # None: a model without guidance embedding
    cfg_scale: float = 1.0  # real CFG (--cfg-scale): off for the guidance-distilled release
    fps: int = 24
    example_prompt: str = "A cat walks on the grass, realistic style."

    def __post_init__(self) -> None:
        if self.hidden_size % self.heads_num:
            raise ValueError(f"hidden_size={self.hidden_size} is not divisible by heads_num={self.heads_num}")
        if sum(self.rope_dim_list) != self.head_dim:
            raise ValueError(f"sum(rope_dim_list)={sum(self.rope_dim_list)} must equal head_dim={self.head_dim}")
        if any(d % 2 for d in self.rope_dim_list):
            raise ValueError(f"rope_dim_list entries must be even, got {self.rope_dim_list}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.heads_num

    @property
    def latent_channels(self) -> int:
        return self.in_channels

    def model_kwargs(self) -> dict:
        """Keyword arguments for `HYVideoDiffusionTransformer(**...)`, named as upstream."""
        return dict(
            patch_size=list(self.patch_size),
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            hidden_size=self.hidden_size,
            heads_num=self.heads_num,
            mlp_width_ratio=self.mlp_width_ratio,
            mlp_act_type=self.mlp_act_type,
            mm_double_blocks_depth=self.mm_double_blocks_depth,
            mm_single_blocks_depth=self.mm_single_blocks_depth,
            rope_dim_list=list(self.rope_dim_list),
            qkv_bias=self.qkv_bias,
            qk_norm=self.qk_norm,
            qk_norm_type=self.qk_norm_type,
            guidance_embed=self.guidance_embed,
            text_projection=self.text_projection,
            use_attention_mask=self.use_attention_mask,
            text_states_dim=self.text_states_dim,
            text_states_dim_2=self.text_states_dim_2,
        )


PRECISION_TO_TYPE: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
