"""Prompt cleaning and the HF tokenizer wrapper used by the umT5 text encoder (upstream behaviour)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import ftfy
import torch
from torch import Tensor


def basic_clean(text: str) -> str:
    text = ftfy.fix_text(text)
    return html.unescape(html.unescape(text)).strip()


def whitespace_clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def clean_prompt(text: str) -> str:
    """ftfy, double HTML unescape, whitespace collapse: what upstream applies before tokenizing."""
    return whitespace_clean(basic_clean(text))


class HuggingfaceTokenizer:
    """Pads/truncates to `seq_len` and returns (ids, mask), as upstream's wrapper does."""

    def __init__(self, path: str | Path, seq_len: int):
        from transformers import AutoTokenizer  # heavy import, deferred

        if not Path(path).is_dir():
            raise FileNotFoundError(f"tokenizer folder not found: {path}")
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.seq_len = seq_len
        self.vocab_size = len(self.tokenizer)

    def __call__(self, texts: list[str]) -> tuple[Tensor, Tensor]:
        enc = self.tokenizer(
            [clean_prompt(t) for t in texts],
            padding="max_length",
            truncation=True,
            max_length=self.seq_len,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        return enc["input_ids"], enc["attention_mask"].to(torch.long)
