"""Official-format Wan checkpoint directories from random weights, for tests and the debug task.

`write_random_checkpoint` writes exactly the files users download (config.json, DiT safetensors single or
sharded with an index, the T5 .pth with upstream keys, the tokenizer folder, the VAE .pth), so that the
code under test is the loader users hit. The tokenizer is a character-level one built offline.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

from .configs import WanConfig
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
    return ckpt_dir
