"""How delta_cache sees HYVideoDiffusionTransformer, and the presets (release: method.md, section 3.2)."""

from torch import Tensor, nn

from delta_cache import BlockStack, CacheConfig, CacheSpec, StackSchedule, parse_index_list
from delta_cache.spec import ModelIO, Signal

from .modules.layers import modulate


def modulated_input(block: nn.Module, args: tuple, kwargs: dict) -> Tensor:
    """TeaCache's indicator: double block 0's normalised, modulated image stream (its first qkv input)."""
    block = getattr(block, "block", block)  # through a delta_cache wrapper
    img, vec = args[0], args[2]
    mod1, _ = block.img_mod(vec)
    return modulate(block.img_norm1(img), mod1.shift, mod1.scale)


def _pack(tensors: list[Tensor], args: tuple, kwargs: dict):
    return_dict = kwargs.get("return_dict", args[8] if len(args) > 8 else True)
    return {"x": tensors[0]} if return_dict else tensors[0]


HY_CACHE_SPEC = CacheSpec(
    stacks=(
        BlockStack(attr="double_blocks", streams=("img", "txt"), attention=""),
        BlockStack(attr="single_blocks", streams=("x",), attention=""),
    ),
    prediction=lambda out: (out["x"] if isinstance(out, dict) else out)[0],  # [B, C, F, H, W] velocity
    signals={"modulated_input": Signal(module="double_blocks.0", when="input", fn=modulated_input)},
    # forward(x [B, C, F, H, W], t, ...) -> {"x": velocity} (or the tensor with return_dict=False)
    io=ModelIO(
        inputs=lambda args, kwargs: [args[0] if args else kwargs["x"]],
        outputs=lambda out: [out["x"] if isinstance(out, dict) else out],
        pack=_pack,
    ),
)

# 20 double blocks: 6-19 as one run refreshed every 6 steps from 6; 40 single blocks: 24 cached,
# refreshed on the release's hand-written list after a 6-step warm-up.
HY_T2V_RELEASED = CacheConfig(
    name="hunyuanvideo-t2v",
    depths={"double_blocks": 20, "single_blocks": 40},
    stacks={
        "double_blocks": StackSchedule(cached=parse_index_list("6-19"), warmup=6, interval=6),
        "single_blocks": StackSchedule(
            cached=parse_index_list("0,2,4-7,10-21,23,25-27,31,33"),
            warmup=6,
            refresh_steps=(6, 18, 26, 32, 38, 42, 46, 48),
            for_steps=50,
        ),
    },
)

# HYVideo-debug (2 double, 4 single blocks): a demonstration preset for the random-weight debug model.
HY_DEBUG_DEMO = CacheConfig(
    name="hunyuanvideo-debug",
    depths={"double_blocks": 2, "single_blocks": 4},
    stacks={
        "double_blocks": StackSchedule(cached=(1,), warmup=2, interval=3),
        "single_blocks": StackSchedule(cached=(1, 2), warmup=2, interval=3),
    },
)

# --cache_preset's names; without one, `--delta_cache` takes the preset made for the model's depths
HY_CACHE_PRESETS: dict[str, CacheConfig] = {c.name: c for c in (HY_T2V_RELEASED, HY_DEBUG_DEMO)}
