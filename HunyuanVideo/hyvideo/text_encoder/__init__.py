"""Text encoders of HunyuanVideo through transformers, loaded from the official folders.

`llm` (`ckpts/text_encoder`): the Llama-3 language model of LLaVA-Llama-3-8B. The prompt is wrapped in a
template, tokenized to text_len + crop_start tokens, and the hidden state `skip` layers before the last is taken
(no final norm by default), then the template tokens are cropped off -> [B, text_len, 4096] + mask.
`clipL` (`ckpts/text_encoder_2`): CLIP-L's text model; its pooled output [B, 768] feeds the DiT's `vector_in`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from loguru import logger
from torch import Tensor

from ..constants import PROMPT_TEMPLATE, TEXT_ENCODERS


@dataclass
class TextEncoderModelOutput:
    hidden_state: Tensor  # [B, T, C] (llm) or [B, C] (clipL)
    attention_mask: Tensor | None  # [B, T], 1 = valid


class TextEncoder:
    """One text encoder (model + tokenizer) from a transformers folder.

    Args:
        text_encoder_type: "llm" or "clipL".
        max_length: tokens kept after cropping (256 for llm, 77 for clipL upstream).
        text_encoder_path: the folder holding config, weights and tokenizer.
        dtype: weights dtype (fp16 upstream).
        device: where the encoder is placed (it runs wherever its model is).
        prompt_template, prompt_template_video: keys of `PROMPT_TEMPLATE` (llm only).
        hidden_state_skip_layer: take `hidden_states[-(skip + 1)]` (llm only).
        apply_final_norm: apply the model's final norm to that hidden state.
        count_crop_start: count the template tokens with this tokenizer instead of the released crop_start.
    """

    def __init__(
        self,
        text_encoder_type: str,
        max_length: int,
        text_encoder_path: str | Path,
        dtype: torch.dtype = torch.float16,
        device: torch.device | str = "cpu",
        prompt_template: str | None = None,
        prompt_template_video: str | None = None,
        hidden_state_skip_layer: int | None = None,
        apply_final_norm: bool = False,
        count_crop_start: bool = False,
    ):
        from transformers import AutoModel, AutoTokenizer, CLIPTextModel

        if text_encoder_type not in TEXT_ENCODERS:
            raise ValueError(f"text encoder must be one of {', '.join(TEXT_ENCODERS)}, got {text_encoder_type!r}")
        path = Path(text_encoder_path)
        if not path.is_dir():
            raise FileNotFoundError(f"text encoder folder not found: {path}")
        self.type, self.max_length = text_encoder_type, max_length
        self.hidden_state_skip_layer, self.apply_final_norm = hidden_state_skip_layer, apply_final_norm
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), padding_side="right")
        model_cls = CLIPTextModel if text_encoder_type == "clipL" else AutoModel
        self.model = model_cls.from_pretrained(str(path), dtype=dtype).to(device).eval().requires_grad_(False)
        self.templates: dict[str, tuple[str, int]] = {}
        if text_encoder_type == "llm":
            for data_type, name in (("image", prompt_template), ("video", prompt_template_video)):
                if name is None:
                    continue
                if name not in PROMPT_TEMPLATE:
                    raise ValueError(f"unknown prompt template {name!r}; known: {', '.join(PROMPT_TEMPLATE)}")
                template, crop = PROMPT_TEMPLATE[name]["template"], PROMPT_TEMPLATE[name]["crop_start"]
                self.templates[data_type] = (template, self._count_prefix(template) if count_crop_start else crop)
        logger.info(f"{text_encoder_type} text encoder from {path} ({type(self.model).__name__}, {dtype})")

    def _count_prefix(self, template: str) -> int:
        """Tokens before the prompt, BOS included: what upstream hard-codes as crop_start."""
        return len(self.tokenizer(template.split("{}")[0])["input_ids"])

    def crop_start(self, data_type: str) -> int:
        return self.templates[data_type][1] if data_type in self.templates else 0

    def tokenize(self, prompts: list[str], data_type: str = "video") -> tuple[Tensor, Tensor, int]:
        """Token ids and mask of the templated prompts (llm: text_len + crop_start tokens), and the crop."""
        template, crop = self.templates.get(data_type, ("{}", 0))
        texts = [template.format(p) for p in prompts]
        tokens = self.tokenizer(
            texts,
            max_length=self.max_length + crop,
            padding="max_length",
            truncation=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        return tokens["input_ids"], tokens["attention_mask"], crop

    def states(self, ids: Tensor, mask: Tensor, crop: int) -> TextEncoderModelOutput:
        """The encoder's output for `tokenize`'s ids (with autograd, for training the tiny models' encoders)."""
        # Follow the model wherever offloading has put it.
        ids, mask = ids.to(self.model.device), mask.to(self.model.device)
        if self.type == "clipL":
            out = self.model(input_ids=ids, attention_mask=mask)
            return TextEncoderModelOutput(out.pooler_output, None)
        out = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden = out.hidden_states[-((self.hidden_state_skip_layer or 0) + 1)]
        if self.apply_final_norm:
            hidden = self.model.norm(hidden)
        return TextEncoderModelOutput(hidden[:, crop:], mask[:, crop:])

    @torch.no_grad()
    def encode(self, prompts: list[str], data_type: str = "video") -> TextEncoderModelOutput:
        """Encode a batch of prompts; `data_type` "video" or "image" picks the llm template."""
        return self.states(*self.tokenize(prompts, data_type))
