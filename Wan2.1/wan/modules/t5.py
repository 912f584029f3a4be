"""umT5-XXL text encoder from the official `models_t5_umt5-xxl-enc-bf16.pth`.

We run transformers' `UMT5EncoderModel` and convert upstream's keys by pure renaming. Reason: it is the
implementation diffusers' Wan pipeline runs, it is maintained with SDPA/dtype fixes, and the mapping is a
bijection (tested), so nothing of upstream's numerics is lost. See docs/wan2.1.md.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ..configs import WanT5Config
from ..utils.checkpoint import check_state_dict, load_torch_file
from ..utils.convert import rename_keys
from .tokenizers import HuggingfaceTokenizer

_T5_RULES: list[tuple[str, str]] = [
    (r"^token_embedding\.weight$", "shared.weight"),
    (r"^blocks\.(\d+)\.norm1\.", r"encoder.block.\1.layer.0.layer_norm."),
    (r"^blocks\.(\d+)\.attn\.([qkvo])\.", r"encoder.block.\1.layer.0.SelfAttention.\2."),
    (
        r"^blocks\.(\d+)\.pos_embedding\.embedding\.",
        r"encoder.block.\1.layer.0.SelfAttention.relative_attention_bias.",
    ),
    (r"^blocks\.(\d+)\.norm2\.", r"encoder.block.\1.layer.1.layer_norm."),
    (r"^blocks\.(\d+)\.ffn\.gate\.0\.", r"encoder.block.\1.layer.1.DenseReluDense.wi_0."),
    (r"^blocks\.(\d+)\.ffn\.fc1\.", r"encoder.block.\1.layer.1.DenseReluDense.wi_1."),
    (r"^blocks\.(\d+)\.ffn\.fc2\.", r"encoder.block.\1.layer.1.DenseReluDense.wo."),
    (r"^norm\.weight$", "encoder.final_layer_norm.weight"),
]


def t5_to_hf(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Upstream umT5 keys -> transformers UMT5EncoderModel keys (embed_tokens is tied to shared)."""
    return rename_keys(state_dict, _T5_RULES)


_T5_RULES_BACK: list[tuple[str, str]] = [
    (r"^shared\.weight$", "token_embedding.weight"),
    (r"^encoder\.block\.(\d+)\.layer\.0\.layer_norm\.", r"blocks.\1.norm1."),
    (r"^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.([qkvo])\.", r"blocks.\1.attn.\2."),
    (
        r"^encoder\.block\.(\d+)\.layer\.0\.SelfAttention\.relative_attention_bias\.",
        r"blocks.\1.pos_embedding.embedding.",
    ),
    (r"^encoder\.block\.(\d+)\.layer\.1\.layer_norm\.", r"blocks.\1.norm2."),
    (r"^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_0\.", r"blocks.\1.ffn.gate.0."),
    (r"^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wi_1\.", r"blocks.\1.ffn.fc1."),
    (r"^encoder\.block\.(\d+)\.layer\.1\.DenseReluDense\.wo\.", r"blocks.\1.ffn.fc2."),
    (r"^encoder\.final_layer_norm\.weight$", "norm.weight"),
]


def t5_from_hf(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of `t5_to_hf`; the tied `encoder.embed_tokens.weight` copy is dropped."""
    return rename_keys({k: v for k, v in state_dict.items() if k != "encoder.embed_tokens.weight"}, _T5_RULES_BACK)


def umt5_config(cfg: WanT5Config):
    from transformers import UMT5Config

    return UMT5Config(
        vocab_size=cfg.vocab_size,
        d_model=cfg.dim,
        d_kv=cfg.dim_attn // cfg.num_heads,
        d_ff=cfg.dim_ffn,
        num_layers=cfg.num_layers,
        num_heads=cfg.num_heads,
        relative_attention_num_buckets=cfg.num_buckets,
        relative_attention_max_distance=cfg.max_distance,
        feed_forward_proj="gated-gelu",  # gelu(tanh) gate, as upstream's T5 FFN
        layer_norm_epsilon=1e-6,
        is_encoder_decoder=False,
        use_cache=False,
    )


def load_umt5_encoder(config: WanT5Config, checkpoint_path: str | Path, dtype: torch.dtype = torch.float32):
    """A transformers UMT5EncoderModel filled from upstream's T5 .pth (every key checked, embeddings tied)."""
    from transformers import UMT5EncoderModel

    sd = t5_to_hf(load_torch_file(checkpoint_path))
    with torch.device("meta"):
        model = UMT5EncoderModel(umt5_config(config))
    expected = {k: v.shape for k, v in model.state_dict().items() if k != "encoder.embed_tokens.weight"}
    check_state_dict(sd, expected, what=f"T5 checkpoint {checkpoint_path}", translate=t5_from_hf)
    sd["encoder.embed_tokens.weight"] = sd["shared.weight"]
    model.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, strict=True, assign=True)
    model.tie_weights()
    return model


class T5EncoderModel:
    """Tokenizer + umT5 encoder; `__call__(texts, device)` returns features trimmed to the true lengths."""

    def __init__(
        self,
        text_len: int,
        config: WanT5Config,
        checkpoint_path: str | Path,
        tokenizer_path: str | Path,
        dtype: torch.dtype = torch.bfloat16,
        device: torch.device | str = "cpu",
    ):
        self.text_len = text_len
        self.dtype = dtype
        self.device = torch.device(device)
        self.tokenizer = HuggingfaceTokenizer(tokenizer_path, seq_len=text_len)
        if self.tokenizer.vocab_size > config.vocab_size:
            raise ValueError(
                f"tokenizer has {self.tokenizer.vocab_size} tokens but the T5 vocabulary is {config.vocab_size}"
            )
        self.model = load_umt5_encoder(config, checkpoint_path, dtype).eval().requires_grad_(False).to(self.device)

    @torch.inference_mode()
    def __call__(self, texts: list[str], device: torch.device | str) -> list[Tensor]:
        ids, mask = self.tokenizer(texts)
        ids, mask = ids.to(self.device), mask.to(self.device)
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        lens = mask.sum(dim=1).tolist()
        return [u[:n].to(device) for u, n in zip(hidden, lens, strict=True)]
