"""Run under `torchrun --nproc_per_node=N`: sequence-parallel outputs against single-process outputs.

For each model asked for (all by default, one after the other in one process group), every rank builds the same
tiny random model, computes the single-process reference locally, then parallelizes the model and computes
again. Rank 0 writes {model: {case: relative error, ...}} as JSON to the path given. Used by
tests/test_parallel.py (gloo on CPU, once per session) and scripts/gpu_check.py (NCCL).
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import torch
import torch.distributed as dist

from delta_cache import CacheConfig, RankDivergence, StackSchedule, apply_cache, reduce_stats
from usp import destroy_sequence_parallel, init_sequence_parallel, world_from_env


def randomize(model: torch.nn.Module) -> torch.nn.Module:
    """Random values in every parameter (zero-initialised heads would make every output equal)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return model


def summary(ref: dict, out: dict, handle) -> dict:
    """Relative error per case, reuse counts per rank, whether every rank executed the same actions (compared
    here, independently of reduce_stats' own check), and the ranks on which reduce_stats raised."""
    records: list = [None] * dist.get_world_size()
    dist.all_gather_object(records, handle.records)
    result = {name: rel_err(out[name], ref[name]) for name in ref}
    result["records_equal"] = all(r == records[0] for r in records)
    try:
        result["reused_per_rank"] = reduce_stats(handle)["reused_per_rank"]
        raised = False
    except RankDivergence:
        raised = True
    everyone: list = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, raised)
    result["divergence_raised_on"] = [r for r, flag in enumerate(everyone) if flag]
    return result


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def wan_cases(group, device) -> dict:
    from wan.modules.model import WanModel
    from wan.parallel import parallelize, unparallelize
    from wan.schedulers import make_scheduler
    from wan.text2video import denoise

    torch.manual_seed(0)
    heads = max(2, group.ulysses_degree)
    model = WanModel(
        dim=16 * heads,
        ffn_dim=64,
        freq_dim=16,
        text_dim=16,
        text_len=8,
        num_heads=heads,
        num_layers=4,
        in_dim=4,
        out_dim=4,
    )
    model = randomize(model).to(device).eval()
    g = torch.Generator().manual_seed(1)
    ctx = [torch.randn(5, 16, generator=g).to(device)]
    ctx_null = [torch.randn(3, 16, generator=g).to(device)]
    t = torch.tensor([700], device=device)
    # (F, H, W) latents: 3*4*4/4 = 12 tokens (divisible by 2 and 4); 3*6*2/4 = 9 tokens (padded to the group)
    latents = {"even": torch.randn(4, 3, 4, 4, generator=g), "odd": torch.randn(4, 3, 6, 2, generator=g)}
    n = group.size

    def seq_len(x):
        tokens = x.shape[1] * (x.shape[2] // 2) * (x.shape[3] // 2)
        return -(-tokens // n) * n

    out, ref = {}, {}
    with torch.no_grad():
        for name, x in latents.items():
            ref[name] = model([x.to(device)], t=t, context=ctx, seq_len=seq_len(x))[0]
        # batch of two different latents of one size
        xb = [latents["odd"].to(device), -latents["odd"].to(device)]
        ref["batch"] = torch.stack(model(xb, t=t.repeat(2), context=ctx + ctx_null, seq_len=seq_len(xb[0])))

        def cached_run(diverge: bool = False):
            config = CacheConfig(name="t", stacks={"blocks": StackSchedule(cached=(1, 2), warmup=1, interval=2)})
            handle = apply_cache(model, _wan_spec(), config, num_steps=6)  # full, refresh, reuse, ..., refresh
            if diverge:
                # The last refresh executed as a full step: the same plan, the same compute and collectives
                # (so nothing hangs), but another execution than the other ranks'.
                planned = handle.action
                handle.action = lambda stack: "full" if handle._step == 5 else planned(stack)
            sched = make_scheduler("unipc", 6, 3.0, device, 1000)
            x = latents["odd"].to(device)
            y = denoise(model, x, sched, ctx, ctx_null, 4.0, seq_len(x), branch=handle.branch, progress=False)
            return y, handle

        ref["cached"], h = cached_run()
        h.remove()
        x = latents["odd"].to(device)  # 9 tokens: padded on the group
        ref.update(
            profile_scores(model, _wan_spec(), (3, 3, 1), lambda: model([x], t=t, context=ctx, seq_len=seq_len(x)))
        )

        parallelize(model, group)
        for name, x in latents.items():
            out[name] = model([x.to(device)], t=t, context=ctx, seq_len=seq_len(x))[0]
        out["batch"] = torch.stack(model(xb, t=t.repeat(2), context=ctx + ctx_null, seq_len=seq_len(xb[0])))
        out.update(
            profile_scores(
                model, _wan_spec(), (3, 3, 1), lambda: model([x], t=t, context=ctx, seq_len=seq_len(x)), group
            )
        )
        out["cached"], h = cached_run()
        result = summary(ref, out, h)
        h.remove()
        # the last rank executes another action than planned: every rank must notice
        _, h = cached_run(diverge=group.rank == group.size - 1)
        diverged = summary({}, {}, h)
        result["diverged"] = {k: diverged[k] for k in ("records_equal", "divergence_raised_on")}
        h.remove()
        unparallelize(model)
    return result


def profile_scores(model, spec, grid, run, group=None, token_order=None) -> dict:
    """ā of every profiled block for one pass, exact and with 5 sampled queries, as one tensor per mode."""
    from delta_cache.profiler import AttentionProfiler

    out = {}
    for name, queries in (("profile_exact", None), ("profile_sampled", 5)):
        with AttentionProfiler(model, spec, grid, queries=queries, seed=4, group=group, token_order=token_order) as p:
            p.start(1)
            with p.branch("cond", 0):
                run()
            out[name] = torch.cat([v.float().flatten() for _, v in sorted(p.finish().scores.items())])
    if group is not None:  # every rank must hold the same profile, not only rank 0
        everyone: list = [None] * dist.get_world_size()
        dist.all_gather_object(everyone, [out["profile_exact"], out["profile_sampled"]])
        if not all(all(torch.equal(a, b) for a, b in zip(e, everyone[0], strict=True)) for e in everyone):
            raise RuntimeError("the ranks' profiles differ")
    return out


def _wan_spec():
    from wan.cache_spec import WAN_CACHE_SPEC

    return WAN_CACHE_SPEC


def wan_fsdp_cases(group, device) -> dict:
    """A cached loop of a CPU-loaded model sharded with FSDP2 against the same loop unsharded, and how often
    each block's parameters were all-gathered (a reused block must never be)."""
    from torch.distributed.fsdp._fully_shard._fsdp_param_group import FSDPParamGroup

    from wan.modules.model import WanModel
    from wan.parallel import apply_fsdp, parallelize
    from wan.schedulers import make_scheduler
    from wan.text2video import denoise

    torch.manual_seed(0)
    model = randomize(
        WanModel(
            dim=32, ffn_dim=64, freq_dim=16, text_dim=16, text_len=8, num_heads=2, num_layers=4, in_dim=4, out_dim=4
        )
    ).eval()
    g = torch.Generator().manual_seed(1)
    ctx, ctx_null, x = [torch.randn(5, 16, generator=g)], [torch.randn(3, 16, generator=g)], torch.randn(4, 3, 4, 4)
    config = CacheConfig(name="t", stacks={"blocks": StackSchedule(cached=(1, 2), warmup=1, interval=3)})

    def cached_run():
        with apply_cache(model, _wan_spec(), config, num_steps=6) as handle:
            sched = make_scheduler("unipc", 6, 3.0, device, 1000)
            y = denoise(model, x, sched, ctx, ctx_null, 4.0, 12, branch=handle.branch, progress=False)
            return y, handle.stats()["per_branch_stack"]["cond/blocks"]["reused"]

    with torch.no_grad():
        ref, _ = cached_run()
        full_numel = sum(p.numel() for p in model.blocks.parameters())
        parallelize(model, group)
        apply_fsdp(model, model.blocks, device)
        local_numel = sum(p.to_local().numel() for p in model.blocks.parameters())
        gathers: dict[int, int] = {}
        index = {id(b): i for i, b in enumerate(model.blocks)}
        real_unshard = FSDPParamGroup.unshard

        def counting_unshard(self, *a, **kw):
            for m in self.modules:
                if id(m) in index:
                    gathers[index[id(m)]] = gathers.get(index[id(m)], 0) + 1
            return real_unshard(self, *a, **kw)

        FSDPParamGroup.unshard = counting_unshard
        try:
            out, reused = cached_run()
        finally:
            FSDPParamGroup.unshard = real_unshard
        dist.barrier()  # no rank tears the group down while another still has FSDP collectives in flight
    return {
        "cached": rel_err(out, ref),
        "all_gathers_per_block": [gathers.get(i, 0) for i in range(4)],
        "reused_cond": reused,
        "shard_fraction": local_numel / full_numel,
    }


def hyvideo_cases(group, device) -> dict:
    from hyvideo.cache_spec import HY_CACHE_SPEC
    from hyvideo.inference import TextConditioning, denoise
    from hyvideo.modules.models import HYVideoDiffusionTransformer
    from hyvideo.modules.posemb_layers import get_nd_rotary_pos_embed
    from hyvideo.parallel import parallelize, unparallelize
    from hyvideo.schedulers import get_sigmas

    torch.manual_seed(0)
    heads = max(2, group.ulysses_degree)
    model = HYVideoDiffusionTransformer(
        in_channels=4,
        hidden_size=16 * heads,
        heads_num=heads,
        mlp_width_ratio=2.0,
        mm_double_blocks_depth=2,
        mm_single_blocks_depth=3,
        rope_dim_list=(4, 6, 6),
        guidance_embed=True,
        text_states_dim=16,
        text_states_dim_2=8,
    )
    model = randomize(model).to(device).eval()
    g = torch.Generator().manual_seed(1)
    n = group.size
    b, t_len = 2, 6
    text = torch.randn(b, t_len, 16, generator=g).to(device)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]], device=device)  # padded, unequal lengths
    pooled = torch.randn(b, 8, generator=g).to(device)
    guidance = torch.full((b,), 6000.0, device=device)
    t = torch.full((b,), 800.0, device=device)
    # latent (F, H, W): token grid height 2n splits by height; height 3 with width 2n splits by width
    latents = {
        "split_height": torch.randn(b, 4, 2, 4 * n, 6, generator=g),
        "split_width": torch.randn(b, 4, 2, 6, 4 * n, generator=g),
    }

    def freqs(x):
        grid = (x.shape[2], x.shape[3] // 2, x.shape[4] // 2)
        return tuple(f.to(device) for f in get_nd_rotary_pos_embed((4, 6, 6), grid, 256.0))

    def forward(x):
        return model(x.to(device), t, text, mask, pooled, *freqs(x), guidance)["x"]

    def cached_run():
        config = CacheConfig(
            name="t",
            stacks={
                "double_blocks": StackSchedule(cached=(1,), warmup=1, interval=2),
                "single_blocks": StackSchedule(cached=(0, 1), warmup=1, interval=2),
            },
        )
        handle = apply_cache(model, HY_CACHE_SPEC, config, num_steps=5)
        x = latents["split_height"].to(device)
        cond = TextConditioning(text, mask, pooled)
        y = denoise(
            model,
            x,
            get_sigmas(5, 7.0, True).to(device),
            cond,
            freqs(x),
            1.0,
            guidance,
            branch=handle.branch,
            progress=False,
        )
        return y, handle

    ref, out = {}, {}
    with torch.no_grad():
        for name, x in latents.items():
            ref[name] = forward(x)
        ref["cached"], h = cached_run()
        h.remove()
        x = latents["split_height"]
        grid = (x.shape[2], x.shape[3] // 2, x.shape[4] // 2)
        ref.update(profile_scores(model, HY_CACHE_SPEC, grid, lambda: forward(x)))
        parallelize(model, group)
        for name, x in latents.items():
            out[name] = forward(x)
        from delta_cache.profiler import gathered_token_order

        x = latents["split_height"]
        order = gathered_token_order(lambda p: model.sp.shard(p, None, grid)[0], math.prod(grid), group)
        out.update(profile_scores(model, HY_CACHE_SPEC, grid, lambda: forward(x), group, order))
        out["cached"], h = cached_run()
        result = summary(ref, out, h)
        h.remove()
        unparallelize(model)
    return result


CASES = {"wan": wan_cases, "wan_fsdp": wan_fsdp_cases, "hyvideo": hyvideo_cases}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--models", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    p.add_argument("--out", required=True, help="JSON: {model: its results}, written by rank 0")
    p.add_argument("--fail_rank", type=int, default=None, help="this rank raises after joining (tests no-hang)")
    args = p.parse_args()
    models = args.models.split(",")
    unknown = set(models) - set(CASES)
    if unknown:
        p.error(f"unknown models {sorted(unknown)}; accepted: {', '.join(CASES)}")
    _, _, world = world_from_env()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    group = init_sequence_parallel(world, 1, device)
    try:
        if args.fail_rank == group.rank:
            raise RuntimeError(f"injected failure on rank {group.rank}")  # the others are about to all-to-all
        results = {name: CASES[name](group, device) for name in models}  # one process group for all of them
        if dist.get_rank() == 0:
            with open(args.out, "w") as f:
                json.dump(results, f)
    finally:
        destroy_sequence_parallel()
    return 0


if __name__ == "__main__":
    sys.exit(main())
