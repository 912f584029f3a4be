"""Data constants of upstream HunyuanVideo (`hyvideo/constants.py`): the LLM prompt templates, verbatim.

The missing spaces between the numbered items of the video template are part of it. `crop_start` is the
number of template tokens before the user prompt with the released Llama-3 tokenizer (BOS included).
"""

PROMPT_TEMPLATE_ENCODE = (
    "<|start_header_id|>system<|end_header_id|>\n\nDescribe the image by detailing the color, shape, size, texture, "
    "quantity, text, spatial relationships of the objects and background:<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|>"
)
PROMPT_TEMPLATE_ENCODE_VIDEO = (
    "<|start_header_id|>system<|end_header_id|>\n\nDescribe the video by detailing the following aspects: "
    "1. The main content and theme of the video."
    "2. The color, shape, size, texture, quantity, text, and spatial relationships of the objects."
    "3. Actions, events, behaviors temporal relationships, physical movement changes of the objects."
    "4. background environment, light, style and atmosphere."
    "5. camera angles, movements, and transitions used in the video:<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|>"
)

PROMPT_TEMPLATE: dict[str, dict] = {
    "dit-llm-encode": {"template": PROMPT_TEMPLATE_ENCODE, "crop_start": 36},
    "dit-llm-encode-video": {"template": PROMPT_TEMPLATE_ENCODE_VIDEO, "crop_start": 95},
}

TEXT_ENCODERS = ("llm", "clipL")
