"""How delta_cache sees HYVideoDiffusionTransformer, and the reference release's preset (method.md, 3.2).

Data only: the model itself comes with the HunyuanVideo stack.
"""

from delta_cache import BlockStack, CacheConfig, CacheSpec, StackSchedule, parse_index_list

HY_CACHE_SPEC = CacheSpec(
    stacks=(
        BlockStack(attr="double_blocks", streams=("img", "txt")),
        BlockStack(attr="single_blocks", streams=("x",)),
    )
)

# 20 double blocks: 6-19 as one run refreshed every 6 steps from 6; 40 single blocks: 24 cached,
# refreshed on the release's hand-written list after a 6-step warm-up.
HY_T2V_RELEASED = CacheConfig(
    name="hunyuanvideo-t2v",
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

HY_CACHE_PRESETS: dict[str, CacheConfig] = {HY_T2V_RELEASED.name: HY_T2V_RELEASED}
