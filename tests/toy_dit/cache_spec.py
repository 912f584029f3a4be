"""How delta_cache sees ToyDiT, and its built-in preset."""

from delta_cache import BlockStack, CacheConfig, CacheSpec, StackSchedule

TOY_CACHE_SPEC = CacheSpec(
    stacks=(BlockStack(attr="blocks", streams=("x",), attention="self_attn"),),
    prediction=lambda out: out[0],  # the first sample's velocity [C, F, H, W]
)

TOY_PRESET = CacheConfig(
    name="toy-dit",
    depths={"blocks": 6},
    stacks={"blocks": StackSchedule(cached=(1, 2, 3, 4), warmup=2, interval=3)},
)

TOY_CACHE_PRESETS = {TOY_PRESET.name: TOY_PRESET}
