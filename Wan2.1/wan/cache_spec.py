"""How delta_cache sees WanModel, and the reference release's preset (method.md, section 3.3)."""

from delta_cache import BlockStack, CacheConfig, CacheSpec, StackSchedule, parse_index_list
from delta_cache.spec import ModelIO, Signal

WAN_CACHE_SPEC = CacheSpec(
    stacks=(BlockStack(attr="blocks", streams=("x",), attention="self_attn"),),
    prediction=lambda out: out[0],  # WanModel returns one velocity [C, F, H, W] per sample
    signals={
        # TeaCache's indicators: e = time_embedding(sinusoid(t)) [B, D]; e0 = time_projection(e) [B, 6 D]
        "timestep_embedding": Signal(module="time_embedding"),
        "timestep_projection": Signal(module="time_projection"),
    },
    # forward(x: list of [C, F, H, W], t, context, seq_len) -> list of [C, F, H, W]
    io=ModelIO(
        inputs=lambda args, kwargs: list(args[0] if args else kwargs["x"]),
        outputs=list,
        pack=lambda tensors, args, kwargs: list(tensors),
    ),
)

# T2V-14B (40 blocks): 28 cached blocks, warm-up 6, refresh every 6 steps; one state per CFG branch.
T2V_14B_RELEASED = CacheConfig(
    name="wan2.1-t2v-14B",
    depths={"blocks": 40},
    stacks={"blocks": StackSchedule(cached=parse_index_list("0,2-7,10-20,25-32,37,38"), warmup=6, interval=6)},
)


# t2v-debug (4 blocks): a demonstration preset for the random-weight debug model.
DEBUG_DEMO = CacheConfig(
    name="wan2.1-t2v-debug",
    depths={"blocks": 4},
    stacks={"blocks": StackSchedule(cached=parse_index_list("1,2"), warmup=2, interval=3)},
)

# t2v-tiny (8 blocks): chosen by scripts/sweep_cache_tiny.py on training-split prompts (docs/tiny_model.md):
# every block but the most sensitive one (5), warm-up 3, refresh every 3 steps: 1.96x theoretical at 25 steps,
# PSNR 33.7 dB / SSIM 0.971 against full compute.
TINY_MEASURED = CacheConfig(
    name="wan2.1-t2v-tiny",
    depths={"blocks": 8},
    stacks={"blocks": StackSchedule(cached=parse_index_list("0-4,6,7"), warmup=3, interval=3)},
)

# --cache_preset's names; without one, `--delta_cache` takes the preset made for the model's depth (T2V only)
WAN_CACHE_PRESETS: dict[str, CacheConfig] = {c.name: c for c in (T2V_14B_RELEASED, DEBUG_DEMO, TINY_MEASURED)}
