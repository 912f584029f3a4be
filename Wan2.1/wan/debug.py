"""Official-format Wan checkpoint directories from random weights, for tests and the debug task.

`write_random_checkpoint` writes exactly the files users download (config.json, DiT safetensors single or
sharded with an index, the T5 .pth with upstream keys, the tokenizer folder, the VAE .pth, for I2V the CLIP
.pth), so that the
code under test is the loader users hit. The tokenizer is a character-level one built offline.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

from .configs import WanCLIPConfig, WanConfig
from .modules.model import WanModel
from .modules.t5 import umt5_config
from .modules.vae import build_autoencoder
from .utils.export import save_dit, save_t5, save_vae

SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")  # T5's ids: pad 0, eos 1, unk 2


def save_wordlevel_tokenizer(path: str | Path, tokens: list[str], vocab_size: int, pre_tokenizer, what: str) -> None:
    """Save a lowercasing tokenizer with one id per entry of `tokens` after T5's specials (pad 0, eos 1 appended,
    unk 2); `pre_tokenizer` (a `tokenizers.pre_tokenizers` object) decides what an entry is."""
    from tokenizers import Tokenizer, models, normalizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([*SPECIAL_TOKENS, *tokens])}
    if len(vocab) > vocab_size:
        raise ValueError(f"{what} tokenizer needs {len(vocab)} ids, vocab_size is {vocab_size}")
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizer
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(str(path))


def build_char_tokenizer(path: str | Path, vocab_size: int) -> None:
    """Save a lowercase character tokenizer (T5 conventions: pad 0, eos 1 appended) to `path`."""
    from tokenizers import Regex, pre_tokenizers

    chars = sorted(set(string.printable.lower()) - set("\t\n\r\x0b\x0c"))
    split = pre_tokenizers.Split(Regex("."), behavior="isolated")
    save_wordlevel_tokenizer(path, chars, vocab_size, split, "character")


def random_dit(config: WanConfig, seed: int) -> WanModel:
    """A WanModel with upstream's init, then small random values everywhere so that every path matters."""
    torch.manual_seed(seed)
    model = WanModel(**config.model_kwargs())
    with torch.no_grad():
        model.head.head.weight.normal_(std=0.02)  # upstream zero-inits it: keep the output informative
    return model


def random_clip_checkpoint(config: WanCLIPConfig, seed: int) -> dict[str, torch.Tensor]:
    """Random weights for the I2V image encoder under upstream's open-clip keys (the visual tower; the text half,
    which I2V never reads, as one stand-in entry, so that a loader must skip it)."""
    g = torch.Generator().manual_seed(seed)
    d, m, p = config.hidden_size, config.intermediate_size, config.patch_size

    def r(*shape: int, base: float = 0.0) -> torch.Tensor:
        return base + 0.2 * torch.randn(*shape, generator=g)

    sd = {
        "visual.patch_embedding.weight": r(d, 3, p, p),
        "visual.cls_embedding": r(1, 1, d),
        "visual.pos_embedding": r(1, config.tokens, d),
        "visual.pre_norm.weight": r(d, base=1.0),
        "visual.pre_norm.bias": r(d),
        "visual.post_norm.weight": r(d, base=1.0),
        "visual.post_norm.bias": r(d),
        "visual.head": r(d, 16),
        "textual.token_embedding.weight": r(10, 8),
        "log_scale": torch.tensor(2.6593),
    }
    for i in range(config.num_layers):
        b = f"visual.transformer.{i}."
        for norm in ("norm1", "norm2"):
            sd[f"{b}{norm}.weight"], sd[f"{b}{norm}.bias"] = r(d, base=1.0), r(d)
        for name, (n_out, n_in) in {
            "attn.to_qkv": (3 * d, d),
            "attn.proj": (d, d),
            "mlp.0": (m, d),
            "mlp.2": (d, m),
        }.items():
            sd[f"{b}{name}.weight"], sd[f"{b}{name}.bias"] = r(n_out, n_in), r(n_out)
    return sd


def write_random_checkpoint(
    ckpt_dir: str | Path, config: WanConfig, seed: int = 0, shards: int = 1, dit: WanModel | None = None
) -> Path:
    """Write an official-format checkpoint directory for `config` and return its path."""
    from transformers import UMT5EncoderModel

    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    save_dit(ckpt_dir, config, dit if dit is not None else random_dit(config, seed), shards=shards)
    torch.manual_seed(seed + 1)
    save_t5(ckpt_dir, config, UMT5EncoderModel(umt5_config(config.t5)))
    build_char_tokenizer(ckpt_dir / config.t5_tokenizer, config.t5.vocab_size)
    torch.manual_seed(seed + 2)
    save_vae(ckpt_dir, config, build_autoencoder(config.vae))
    if config.clip is not None:
        torch.save(random_clip_checkpoint(config.clip, seed + 3), ckpt_dir / config.clip_checkpoint)
    return ckpt_dir
