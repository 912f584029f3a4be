"""Config dataclasses shared by every Wan task.

Architecture fields have no defaults on purpose: a config must say what it builds. File names and sampling
defaults follow upstream's `shared_config.py` / `wan_t2v_*.py`.
"""

from dataclasses import dataclass

import torch

# Upstream's negative prompt (data, kept verbatim): always used for the uncond branch.
SAMPLE_NEG_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
    "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)


@dataclass(frozen=True, kw_only=True)
class WanT5Config:
    """umT5 encoder geometry (transformers `UMT5Config` is built from it)."""

    vocab_size: int
    dim: int
    dim_attn: int
    dim_ffn: int
    num_heads: int
    num_layers: int
    num_buckets: int = 32
    max_distance: int = 128

    def __post_init__(self) -> None:
        if self.dim_attn % self.num_heads:
            raise ValueError(f"T5 dim_attn={self.dim_attn} is not divisible by num_heads={self.num_heads}")


@dataclass(frozen=True, kw_only=True)
class WanVAEConfig:
    """Wan-VAE geometry; the official file is base_dim 96, dim_mult (1, 2, 4, 4), 2 res blocks."""

    base_dim: int
    z_dim: int = 16
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    temperal_downsample: tuple[bool, ...] = (False, True, True)


@dataclass(frozen=True, kw_only=True)
class WanCLIPConfig:
    """Geometry of the I2V image encoder's visual tower (upstream: open-clip ViT-H/14 of XLM-RoBERTa-Large-ViT-H-14);
    the DiT reads the output of its first `num_layers - 1` blocks."""

    hidden_size: int
    intermediate_size: int
    num_heads: int
    num_layers: int
    image_size: int = 224
    patch_size: int = 14
    eps: float = 1e-5

    @property
    def tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2 + 1  # the patches and the class token


@dataclass(frozen=True, kw_only=True)
class WanConfig:
    """One Wan task: DiT, text encoder, VAE, checkpoint file names and sampling defaults."""

    name: str
    # DiT (WanModel constructor keywords)
    model_type: str = "t2v"  # "i2v": 36 input channels, the image tokens in cross-attention
    patch_size: tuple[int, int, int]
    text_len: int
    dim: int
    ffn_dim: int
    freq_dim: int
    num_heads: int
    num_layers: int
    in_dim: int = 16
    out_dim: int = 16
    qk_norm: bool = True
    cross_attn_norm: bool = True
    eps: float = 1e-6
    # components
    t5: WanT5Config
    vae: WanVAEConfig
    vae_stride: tuple[int, int, int] = (4, 8, 8)
    t5_checkpoint: str = "models_t5_umt5-xxl-enc-bf16.pth"
    t5_tokenizer: str = "google/umt5-xxl"
    vae_checkpoint: str = "Wan2.1_VAE.pth"
    # image encoder (I2V only)
    clip: WanCLIPConfig | None = None
    clip_checkpoint: str = "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth"
    clip_dtype: torch.dtype = torch.float16
    t5_dtype: torch.dtype = torch.bfloat16
    param_dtype: torch.dtype = torch.bfloat16
    # sampling defaults (generate.py falls back to these)
    num_train_timesteps: int = 1000
    sample_fps: int = 16
    sample_neg_prompt: str = SAMPLE_NEG_PROMPT
    frame_num: int = 81
    sample_steps: int = 50
    sample_shift: float = 5.0
    sample_guide_scale: float = 5.0
    example_prompt: str = ""

    def __post_init__(self) -> None:
        if self.dim % self.num_heads:
            raise ValueError(f"dim={self.dim} is not divisible by num_heads={self.num_heads}")
        head_dim = self.dim // self.num_heads
        if head_dim % 2 or head_dim // 6 < 1:
            raise ValueError(f"head_dim={head_dim} must be even and >= 6 for the 3-axis RoPE")
        if (self.model_type == "i2v") != (self.clip is not None):
            raise ValueError(f"{self.name}: an i2v task needs a clip config, and only an i2v task has one")

    @property
    def text_dim(self) -> int:
        return self.t5.dim

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    def model_kwargs(self) -> dict:
        """Keyword arguments for `WanModel(**...)`, named as upstream."""
        return dict(
            model_type=self.model_type,
            patch_size=self.patch_size,
            text_len=self.text_len,
            in_dim=self.in_dim,
            dim=self.dim,
            ffn_dim=self.ffn_dim,
            freq_dim=self.freq_dim,
            text_dim=self.text_dim,
            out_dim=self.out_dim,
            num_heads=self.num_heads,
            num_layers=self.num_layers,
            qk_norm=self.qk_norm,
            cross_attn_norm=self.cross_attn_norm,
            eps=self.eps,
            # the image encoder's width (upstream hard-codes ViT-H's 1280 and never stores it)
            **({"image_dim": self.clip.hidden_size} if self.clip is not None else {}),
        )
