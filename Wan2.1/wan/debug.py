"""Official-format Wan checkpoint directories from random weights, for tests and the debug task.

`write_random_checkpoint` writes exactly the files users download (config.json, DiT safetensors single or
sharded with an index, the T5 .pth with upstream keys, the tokenizer folder, the VAE .pth), so that the
code under test is the loader users hit. The tokenizer is a character-level one built offline.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

from .configs import WanConfig
from .modules.model import WanModel
from .modules.t5 import t5_from_hf, umt5_config
from .modules.vae import build_autoencoder, vae_from_diffusers
from .utils.checkpoint import DIT_CONFIG, DIT_INDEX, DIT_SINGLE

SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")  # T5's ids: pad 0, eos 1, unk 2


def build_char_tokenizer(path: str | Path, vocab_size: int) -> None:
    """Save a lowercase character tokenizer (T5 conventions: pad 0, eos 1 appended) to `path`."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(string.printable.lower()) - set("\t\n\r\x0b\x0c"))
    vocab = {tok: i for i, tok in enumerate([*SPECIAL_TOKENS, *chars])}
    if len(vocab) > vocab_size:
        raise ValueError(f"character tokenizer needs {len(vocab)} ids, vocab_size is {vocab_size}")
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(str(path))


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
    from safetensors.torch import save_file
    from transformers import UMT5EncoderModel

    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    dit = dit if dit is not None else random_dit(config, seed)
    cfg = {
        "_class_name": "WanModel",
        **{k: v for k, v in config.model_kwargs().items() if k not in ("qk_norm", "cross_attn_norm")},
    }
    (ckpt_dir / DIT_CONFIG).write_text(json.dumps(cfg, indent=2))

    sd = {k: v.contiguous() for k, v in dit.state_dict().items()}
    if shards == 1:
        save_file(sd, str(ckpt_dir / DIT_SINGLE))
    else:
        keys = sorted(sd)
        weight_map = {}
        for i in range(shards):
            name = f"diffusion_pytorch_model-{i + 1:05d}-of-{shards:05d}.safetensors"
            part = keys[i::shards]
            save_file({k: sd[k] for k in part}, str(ckpt_dir / name))
            weight_map.update(dict.fromkeys(part, name))
        index = {
            "metadata": {"total_size": sum(v.numel() * v.element_size() for v in sd.values())},
            "weight_map": weight_map,
        }
        (ckpt_dir / DIT_INDEX).write_text(json.dumps(index, indent=2))

    torch.manual_seed(seed + 1)
    t5 = UMT5EncoderModel(umt5_config(config.t5))
    torch.save(
        {k: v.to(config.t5_dtype) for k, v in t5_from_hf(t5.state_dict()).items()},
        ckpt_dir / config.t5_checkpoint,
    )
    build_char_tokenizer(ckpt_dir / config.t5_tokenizer, config.t5.vocab_size)

    torch.manual_seed(seed + 2)
    vae = build_autoencoder(config.vae)
    torch.save(vae_from_diffusers(vae.state_dict(), config.vae.num_res_blocks), ckpt_dir / config.vae_checkpoint)
    return ckpt_dir
