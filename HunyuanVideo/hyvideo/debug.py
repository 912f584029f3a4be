"""Official-format HunyuanVideo folders from random weights, for tests and the debug model.

`write_random_checkpoint(model_base, config)` writes what users download into `ckpts/`: the DiT pickle with
its weights under "module" (and "ema"), the VAE folder (upstream config.json + pytorch_model.pt), and the two
text-encoder folders (tiny Llama and CLIP text models with character tokenizers built offline, including
Llama-3's header tokens so that the prompt template tokenizes as it does for the real one).
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

from .configs import HYVideoConfig
from .modules.models import HYVideoDiffusionTransformer
from .vae import VAE_CONFIG, VAE_WEIGHTS, upstream_vae_config, vae_kwargs

LLM_SPECIAL = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
CLIP_SPECIAL = ("<|startoftext|>", "<|endoftext|>")
DEBUG_VAE = dict(block_out_channels=(8, 8, 16, 16), layers_per_block=1, norm_num_groups=4, latent_channels=16)


def build_char_tokenizer(
    path: str | Path,
    specials: tuple[str, ...],
    bos: str,
    eos: str | None,
    pad: str,
    words: tuple[str, ...] | None = None,
) -> int:
    """Save a lowercase tokenizer with `specials` as whole tokens; returns its vocabulary size.

    One token per character by default; with `words`, one token per listed word (split on whitespace and
    punctuation, anything else `<unk>`), as the tiny model's scene vocabulary.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    entries = sorted(set(string.printable.lower()) - set("\t\r\x0b\x0c")) if words is None else list(words)
    vocab = {tok: i for i, tok in enumerate([*specials, "<unk>", *entries])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    if words is None:
        tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # one per character
    else:
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens([AddedToken(s, normalized=False) for s in specials])
    single = f"{bos} $A" + (f" {eos}" if eos else "")
    pairs = [(bos, vocab[bos])] + ([(eos, vocab[eos])] if eos else [])
    tok.post_processor = processors.TemplateProcessing(single=single, special_tokens=pairs)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos or specials[1], pad_token=pad, unk_token="<unk>"
    )
    fast.save_pretrained(str(path))
    return len(vocab)


def write_text_encoders(
    model_base: Path, config: HYVideoConfig, seed: int, words: tuple[str, ...] | None = None
) -> None:
    """Tiny Llama and CLIP text models at random init with their tokenizers (characters, or `words`)."""
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel

    llm_dir, clip_dir = model_base / config.text_encoder_dir, model_base / config.text_encoder_2_dir
    n = build_char_tokenizer(
        llm_dir, LLM_SPECIAL, bos="<|begin_of_text|>", eos=None, pad="<|end_of_text|>", words=words
    )
    torch.manual_seed(seed)
    # skip layer 2 reads hidden_states[-3]: at least 3 decoder layers so that it is a real layer's output
    llm = LlamaModel(
        LlamaConfig(
            vocab_size=n,
            hidden_size=config.text_states_dim,
            intermediate_size=2 * config.text_states_dim,
            num_hidden_layers=3,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=max(512, 2 * config.text_len),
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    llm.save_pretrained(str(llm_dir))
    n = build_char_tokenizer(
        clip_dir, CLIP_SPECIAL, bos="<|startoftext|>", eos="<|endoftext|>", pad="<|endoftext|>", words=words
    )
    clip = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=n,
            hidden_size=config.text_states_dim_2,
            intermediate_size=2 * config.text_states_dim_2,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=max(77, config.text_len_2),
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            projection_dim=config.text_states_dim_2,
        )
    )
    clip.save_pretrained(str(clip_dir))


def random_dit(config: HYVideoConfig, seed: int) -> HYVideoDiffusionTransformer:
    """A DiT with small random values everywhere (upstream zero-inits modulations and the final layer)."""
    torch.manual_seed(seed)
    model = HYVideoDiffusionTransformer(**config.model_kwargs())
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(std=0.05)
    return model


def write_random_checkpoint(
    model_base: str | Path,
    config: HYVideoConfig,
    seed: int = 0,
    dit: HYVideoDiffusionTransformer | None = None,
    vae_nested: bool = True,
) -> Path:
    """Write the official `ckpts/` layout for `config` under `model_base`; returns `model_base`.

    `vae_nested` stores the VAE weights as {"state_dict": {"vae.<key>": ...}}, one of the two forms seen in
    released files; False writes a bare state dict.
    """
    from diffusers import AutoencoderKLHunyuanVideo

    base = Path(model_base)
    dit = dit if dit is not None else random_dit(config, seed)
    dit_path = base / config.dit_weight
    dit_path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.contiguous() for k, v in dit.state_dict().items()}
    torch.save({"module": sd, "ema": sd}, dit_path)

    vae_dir = base / config.vae_dir
    vae_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed + 1)
    kw = vae_kwargs(DEBUG_VAE)
    vae = AutoencoderKLHunyuanVideo(**kw)
    (vae_dir / VAE_CONFIG).write_text(json.dumps(upstream_vae_config(kw), indent=2))
    vae_sd = vae.state_dict()
    torch.save(
        {"state_dict": {f"vae.{k}": v for k, v in vae_sd.items()}} if vae_nested else vae_sd, vae_dir / VAE_WEIGHTS
    )

    write_text_encoders(base, config, seed + 2)
    return base
