"""delta_cache through diffusers (`delta_cache.diffusers`): tiny random configs of each supported transformer,
and diffusers' own WanPipeline (two experts, prompt embeddings given, latents out) for the loop's context."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("diffusers")

from diffusers import (  # noqa: E402
    HunyuanVideo15Transformer3DModel,
    HunyuanVideoTransformer3DModel,
    UniPCMultistepScheduler,
    WanPipeline,
    WanTransformer3DModel,
)
from diffusers.hooks import FirstBlockCacheConfig  # noqa: E402

from delta_cache import CacheConfig, StackSchedule, save_preset  # noqa: E402
from delta_cache.diffusers import disable_delta_cache, enable_delta_cache  # noqa: E402
from delta_cache.schedule import REFRESH, REUSE  # noqa: E402
from delta_cache.wrappers import CachedBlock  # noqa: E402


def wan(seed: int = 0, layers: int = 4) -> WanTransformer3DModel:
    torch.manual_seed(seed)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=4,
        out_channels=4,
        text_dim=16,
        freq_dim=16,
        ffn_dim=32,
        num_layers=layers,
        rope_max_seq_len=32,
    ).eval()


def hunyuan(double: int = 2, single: int = 4) -> HunyuanVideoTransformer3DModel:
    torch.manual_seed(0)
    return HunyuanVideoTransformer3DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=double,
        num_single_layers=single,
        num_refiner_layers=1,
        patch_size=1,
        patch_size_t=1,
        text_embed_dim=16,
        pooled_projection_dim=8,
        rope_axes_dim=(2, 2, 4),
    ).eval()


def hunyuan15(layers: int = 3) -> HunyuanVideo15Transformer3DModel:
    torch.manual_seed(0)
    return HunyuanVideo15Transformer3DModel(
        in_channels=9,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=layers,
        num_refiner_layers=1,
        text_embed_dim=16,
        text_embed_2_dim=8,
        image_embed_dim=12,
        rope_axes_dim=(2, 2, 4),
    ).eval()


def _inputs(model) -> dict:
    """One pass's keyword arguments for `model` (latents 1 x C x 3 x 8 x 8), fixed across calls."""
    g = torch.Generator().manual_seed(1)
    name = type(model).__name__
    if name == "WanTransformer3DModel":
        return {
            "hidden_states": torch.randn(1, 4, 3, 8, 8, generator=g),
            "encoder_hidden_states": torch.randn(1, 5, 16, generator=g),
        }
    if name == "HunyuanVideoTransformer3DModel":
        return {
            "hidden_states": torch.randn(1, 4, 3, 8, 8, generator=g),
            "encoder_hidden_states": torch.randn(1, 5, 16, generator=g),
            "encoder_attention_mask": torch.ones(1, 5),
            "pooled_projections": torch.randn(1, 8, generator=g),
            "guidance": torch.tensor([6000.0]),
        }
    return {
        "hidden_states": torch.randn(1, 9, 3, 8, 8, generator=g),
        "encoder_hidden_states": torch.randn(1, 5, 16, generator=g),
        "encoder_attention_mask": torch.ones(1, 5),
        "encoder_hidden_states_2": torch.randn(1, 4, 8, generator=g),
        "encoder_attention_mask_2": torch.ones(1, 4),
        "image_embeds": torch.zeros(1, 6, 12),
    }


def _loop(model, steps: int, branches=("cond", "uncond"), step_index: bool = True) -> list[torch.Tensor]:
    """A denoising loop as diffusers' pipelines run it: one forward per branch and step in its cache context."""
    kw, outs = _inputs(model), []
    x0 = kw.pop("hidden_states")
    for i in range(steps):
        x = x0 * (1 - 0.05 * i)  # the latent moves a little each step
        for branch in branches:
            context = {"step_index": i, "num_inference_steps": steps} if step_index else {}
            # the unconditional pass gets other text, as a negative prompt would
            text = kw["encoder_hidden_states"] * (1 if branch == "cond" else -1)
            call = {**kw, "encoder_hidden_states": text}
            with torch.no_grad(), model.cache_context(branch, **context):
                out = model(hidden_states=x, timestep=torch.tensor([1000.0 - 90 * i]), return_dict=False, **call)[0]
            outs.append(out)
    model._reset_stateful_cache()  # what the pipelines' maybe_free_model_hooks does after the loop
    return outs


MODELS = {"wan": wan, "hunyuanvideo": hunyuan, "hunyuanvideo-1.5": hunyuan15}


def _refresh_always(model) -> CacheConfig:
    depths = {"double_blocks": len(model.transformer_blocks)} if hasattr(model, "transformer_blocks") else {}
    if hasattr(model, "single_transformer_blocks"):
        depths["single_blocks"] = len(model.single_transformer_blocks)
    if hasattr(model, "blocks"):
        depths = {"blocks": len(model.blocks)}
    stacks = {s: StackSchedule(cached=tuple(range(n)), warmup=0, interval=1) for s, n in depths.items()}
    return CacheConfig(name="refresh-always", depths=depths, stacks=stacks)


@pytest.mark.parametrize("family", list(MODELS))
def test_refresh_on_every_step_equals_diffusers_without_a_cache_bit_for_bit(family):
    model = MODELS[family]()
    reference = _loop(model, 4)
    with enable_delta_cache(model, preset=_refresh_always(model)) as cache:
        assert all(
            isinstance(b, CachedBlock) for s in cache.handles["transformer"].spec.stacks for b in getattr(model, s.attr)
        )
        cached = _loop(model, 4)
        assert cache.stats()["theoretical_speedup"] == 1.0
    assert all(torch.equal(a, b) for a, b in zip(reference, cached, strict=True))


@pytest.mark.parametrize("family", list(MODELS))
def test_a_reuse_step_adds_the_delta_each_run_recorded_at_its_refresh(family):
    model = MODELS[family]()
    preset = _refresh_always(model)
    stack = next(iter(preset.stacks))
    # one run of blocks 0-1 of the first stack: refreshed at steps 0 and 2, reused at 1 and 3
    preset = CacheConfig(
        name="one-run", depths=preset.depths, stacks={stack: StackSchedule(cached=(0, 1), warmup=0, interval=2)}
    )
    seen = {}
    with enable_delta_cache(model, preset=preset) as cache:
        blocks = cache.handles["transformer"].spec.blocks(model, stack)

        def keep(where):
            def hook(module, args, out):
                handle = cache.handles["transformer"]
                stream = out if torch.is_tensor(out) else out[0]
                seen[(handle._branch, handle._step, where)] = (args[0].clone(), stream.clone())

            return hook

        hooks = [blocks[0].register_forward_hook(keep("first")), blocks[1].register_forward_hook(keep("last"))]
        _loop(model, 4)
        for h in hooks:
            h.remove()
        records = cache.handles["transformer"].records
    for branch in ("cond", "uncond"):
        for refresh, reuse in ((0, 1), (2, 3)):
            delta = seen[(branch, refresh, "last")][1] - seen[(branch, refresh, "first")][0]
            x_in, x_out = seen[(branch, reuse, "first")][0], seen[(branch, reuse, "last")][1]
            assert torch.allclose(x_out, x_in + delta, atol=1e-6)
            assert not torch.equal(x_out, x_in)
            assert next(r for r in records if r["branch"] == branch and r["step"] == reuse)[stack] == REUSE
    # the branches keep their own deltas: cond's reuse does not add uncond's
    assert not torch.allclose(seen[("cond", 0, "last")][1], seen[("uncond", 0, "last")][1])


def test_the_release_presets_count_their_block_evaluations_on_the_released_depths():
    from hyvideo.cache_spec import HY_T2V_RELEASED
    from wan.cache_spec import T2V_14B_RELEASED

    for model, preset, steps in ((wan(layers=40), T2V_14B_RELEASED, 12), (hunyuan(20, 40), HY_T2V_RELEASED, 10)):
        branches = ("cond",) if preset is HY_T2V_RELEASED else ("cond", "uncond")
        with enable_delta_cache(model, preset=preset.name) as cache:
            _loop(model, steps, branches)
            stats = cache.stats()
        expected = 0
        for stack, sched in preset.stacks.items():
            reused = sum(a == REUSE for a in sched.actions(steps))
            expected += preset.depths[stack] * steps - len(sched.cached) * reused
        assert reused > 0 and stats["block_evals_computed"] == expected * len(branches)
        assert stats["block_evals_total"] == sum(preset.depths.values()) * steps * len(branches)


def _wan22(boundary: float = 0.875) -> WanPipeline:
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0
    )
    return WanPipeline(
        tokenizer=None,
        text_encoder=None,
        vae=None,
        scheduler=scheduler,
        transformer=wan(0),
        transformer_2=wan(1),
        boundary_ratio=boundary,
    )


def _generate(pipe, steps: int = 10):
    g = torch.Generator().manual_seed(0)
    emb, neg = torch.randn(1, 5, 16, generator=g), torch.randn(1, 5, 16, generator=g)
    return pipe(
        prompt_embeds=emb,
        negative_prompt_embeds=neg,
        height=16,
        width=16,
        num_frames=5,
        num_inference_steps=steps,
        output_type="latent",
        generator=g,
    ).frames


def test_wan22_experts_keep_their_own_state_and_the_step_index_runs_on_across_the_boundary(tmp_path):
    pipe = _wan22()
    reference = _generate(pipe)
    steps_of = {}
    every_other = {"blocks": StackSchedule(cached=(1, 2), warmup=0, interval=2)}
    preset = CacheConfig(name="every-other", depths={"blocks": 4}, stacks=every_other)
    # the second expert's own schedule: refreshed at step 0 only, so its first step is a planned reuse
    once = {"blocks": StackSchedule(cached=(1, 2), warmup=0, refresh_steps=(0,), for_steps=10)}
    late = CacheConfig(name="refresh-once", depths={"blocks": 4}, stacks=once)
    with enable_delta_cache(pipe, preset={"transformer": preset, "transformer_2": late}) as cache:
        out = _generate(pipe)
        for name, handle in cache.handles.items():
            steps_of[name] = sorted({r["step"] for r in handle.records})
            assert {r["branch"] for r in handle.records} == {"cond", "uncond"}
        first = cache.handles["transformer_2"].records[0]
        cache_records = cache.handles["transformer_2"].records
        stats = cache.stats()
    high, low = steps_of["transformer"], steps_of["transformer_2"]
    assert high == list(range(len(high))) and low == list(range(len(high), 10)) and 0 < len(high) < 10
    # the low-noise expert's first step, a planned reuse, refreshes: its blocks hold no delta of their own yet
    # (the first expert's are never used), then it reuses to the end
    assert first["blocks"] == REFRESH and first["step"] == len(high)
    assert all(r["blocks"] == REUSE for r in cache_records[2:])
    assert 1.0 < stats["theoretical_speedup"] < 2.0 and not torch.equal(out, reference)
    assert set(stats["per_branch_stack"]) == {f"{e}/{b}/blocks" for e in steps_of for b in ("cond", "uncond")}
    # a second call starts anew (the pipeline resets the hooks after each call): the same video
    with enable_delta_cache(pipe, preset={"transformer": preset, "transformer_2": late}) as cache:
        again = [_generate(pipe) for _ in range(2)]
    assert torch.equal(again[0], again[1]) and torch.equal(again[0], out)
    # one preset file with a section per expert: the same plans, the same video
    from delta_cache.preset_file import preset_to_dict, save_expert_presets

    both = {"transformer": preset_to_dict(preset), "transformer_2": preset_to_dict(late)}
    path = save_expert_presets(tmp_path / "experts.json", both)
    with enable_delta_cache(pipe, preset=path) as cache:
        assert torch.equal(_generate(pipe), out)
        assert {n: h.config.name for n, h in cache.handles.items()} == {
            "transformer": "every-other",
            "transformer_2": "refresh-once",
        }
    with pytest.raises(ValueError, match=r"is for \['transformer'\]; the pipeline has"):
        enable_delta_cache(
            pipe, preset=save_expert_presets(tmp_path / "one.json", {"transformer": both["transformer"]})
        )


def test_wan22_ti2v_5b_per_token_timesteps_run_cached_and_profiled():
    """TI2V-5B's pipeline (`expand_timesteps`: a timestep per token, 4-D block modulation) with the cache and the
    profiler's seam on its one transformer."""
    from delta_cache.diffusers import describe
    from delta_cache.diffusers.adapter import drive_step_cache
    from delta_cache.diffusers.observe import add_observe_seams
    from delta_cache.profiler import AttentionProfiler

    pipe = _wan22()
    pipe.transformer_2 = None
    pipe.register_to_config(boundary_ratio=None, expand_timesteps=True)
    reference = _generate(pipe)
    with enable_delta_cache(pipe, preset=_refresh_always(pipe.transformer)):
        assert torch.equal(_generate(pipe), reference)
    every_other = {"blocks": StackSchedule(cached=(1, 2), warmup=0, interval=2)}
    with enable_delta_cache(pipe, preset=CacheConfig(name="e", depths={"blocks": 4}, stacks=every_other)) as cache:
        assert not torch.equal(_generate(pipe), reference) and cache.stats()["theoretical_speedup"] > 1.2
    seams = add_observe_seams(pipe.transformer, describe(pipe.transformer).spec)
    with AttentionProfiler(pipe.transformer, describe(pipe.transformer).spec, (2, 1, 1)) as profiler:  # 5 x 16 x 16 px
        driver = drive_step_cache(pipe, profiler)
        _generate(pipe)
        driver.remove()
        scores = profiler.finish().scores
    seams.remove()
    assert set(scores) == {("cond", "blocks"), ("uncond", "blocks")}  # every step, every block observed
    assert all(bool((v.sum(dim=(2, 3, 4)) > 0.99).all()) for v in scores.values())  # ā over video keys sums to 1


def test_the_plan_follows_the_pipelines_step_count():
    pipe = _wan22(boundary=0.0)  # every step on the first expert
    with enable_delta_cache(pipe, preset="wan2.1-t2v-debug") as cache:
        for steps in (6, 9):
            _generate(pipe, steps)
            assert cache.handles["transformer"].num_steps == steps
            assert len(cache.handles["transformer"].records) == 2 * steps


def test_a_peer_and_a_preset_file_through_the_adapter(tmp_path):
    model = wan()
    reference = _loop(model, 6)
    with enable_delta_cache(model, method="taylorseer", interval=2) as cache:  # published constants only
        forecast = _loop(model, 6)
        assert cache.stats()["method"] == "taylorseer" and cache.stats()["theoretical_speedup"] > 1.2
    assert not torch.equal(forecast[-1], reference[-1])
    preset = CacheConfig(
        name="file", depths={"blocks": 4}, stacks={"blocks": StackSchedule(cached=(0, 1, 2), warmup=1, interval=2)}
    )
    path = save_preset(tmp_path / "wan-tiny.json", preset)
    with enable_delta_cache(model, preset=str(path)) as cache:
        _loop(model, 6)
        from_file = cache.stats()
    with enable_delta_cache(model, preset=preset) as cache:
        _loop(model, 6)
        assert cache.stats()["block_evals_computed"] == from_file["block_evals_computed"] < 48


def test_disable_restores_the_model_exactly():
    model = wan()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    text, forward = repr(model), model.__dict__.get("forward")
    reference = _loop(model, 3)
    cache = enable_delta_cache(model, method="easycache", constants={"easycache": {"threshold": 0.5, "ret_steps": 1}})
    _loop(model, 3)
    disable_delta_cache(model)
    assert cache.handles == {} and model._cache_config is None
    assert repr(model) == text and model.__dict__.get("forward") is forward
    assert model._diffusers_hook.get_hook("delta_cache") is None
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(a, b) for a, b in zip(reference, _loop(model, 3), strict=True))
    disable_delta_cache(model)  # a second disable does nothing


def test_bad_input_is_one_clear_error_and_leaves_the_model_untouched():
    with pytest.raises(ValueError, match="does not support diffusers' Linear"):
        enable_delta_cache(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="a diffusers pipeline with a transformer"):
        enable_delta_cache(object())
    model = wan()
    text = repr(model)
    with pytest.raises(ValueError, match="is for 40 blocks; transformer .wan. has 4 blocks"):
        enable_delta_cache(model, preset="wan2.1-t2v-14B")
    with pytest.raises(ValueError, match="settings .'threshold'. need a method"):
        enable_delta_cache(model, threshold=0.1)
    assert repr(model) == text and model._cache_config is None and not hasattr(model, "_diffusers_hook")
    # a second cache on top of one: refused both ways
    model.enable_cache(FirstBlockCacheConfig(threshold=0.1))
    with pytest.raises(ValueError, match="already has diffusers' FirstBlockCacheConfig enabled"):
        enable_delta_cache(model)
    model.disable_cache()
    with enable_delta_cache(model):
        with pytest.raises(ValueError, match="delta_cache is already enabled"):
            enable_delta_cache(model)
        with pytest.raises(ValueError, match="already been enabled"):
            model.enable_cache(FirstBlockCacheConfig(threshold=0.1))
    # Wan2.2: a bad preset for the second expert leaves the first unwrapped too
    pipe = _wan22()
    with pytest.raises(ValueError, match="is for 40 blocks"):
        enable_delta_cache(pipe, preset={"transformer": None, "transformer_2": "wan2.1-t2v-14B"})
    assert not any(isinstance(b, CachedBlock) for b in pipe.transformer.blocks)
    assert pipe.transformer._cache_config is None
    # diffusers' context parallelism (set by enable_parallelism, which needs an accelerator): refused
    model = wan()
    model._parallel_config = object()
    with pytest.raises(ValueError, match="context parallelism, which delta_cache does not support yet"):
        enable_delta_cache(model)
    assert not hasattr(model, "_diffusers_hook") and not any(isinstance(b, CachedBlock) for b in model.blocks)


def test_import_delta_cache_does_not_import_diffusers():
    import subprocess
    import sys

    code = "import sys, delta_cache, delta_cache.peers; print('diffusers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_regional_compile_through_the_wrappers_matches_eager():
    model = wan()
    preset = CacheConfig(
        name="every-other", depths={"blocks": 4}, stacks={"blocks": StackSchedule(cached=(1, 2), warmup=1, interval=2)}
    )
    with enable_delta_cache(model, preset=preset):
        eager = _loop(model, 4)
        model.compile_repeated_blocks(backend="eager")  # Dynamo traces each inner block; the wrappers stay outside
        compiled = _loop(model, 4)
        assert all(isinstance(b, CachedBlock) for b in model.blocks[1:3])
        assert all(b.block._compiled_call_impl is not None for b in model.blocks[1:3])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(eager, compiled, strict=True))


@pytest.mark.parametrize("cache_first", [False, True])
def test_group_offloading_in_either_order_leaves_the_cached_outputs_unchanged(cache_first):
    from diffusers.hooks import apply_group_offloading

    preset = CacheConfig(
        name="every-other", depths={"blocks": 4}, stacks={"blocks": StackSchedule(cached=(1, 2), warmup=1, interval=2)}
    )
    model = wan()
    with enable_delta_cache(model, preset=preset):
        reference = _loop(model, 4)
    model = wan()
    cpu = torch.device("cpu")  # the hooks run as on a GPU; the copies are to the same device here

    def offload():
        apply_group_offloading(
            model, onload_device=cpu, offload_device=cpu, offload_type="block_level", num_blocks_per_group=1
        )

    if not cache_first:
        offload()
    with enable_delta_cache(model, preset=preset) as cache:
        if cache_first:
            offload()
        out = _loop(model, 4)
        assert cache.stats()["theoretical_speedup"] > 1.1
    assert all(torch.equal(a, b) for a, b in zip(reference, out, strict=True))


@pytest.mark.parametrize("cache_first", [False, True])
def test_model_cpu_offload_in_either_order_over_two_calls_and_after_disable(cache_first):
    pipe = _wan22()
    with enable_delta_cache(pipe, preset="wan2.1-t2v-debug"):
        reference = _generate(pipe)
    pipe = _wan22()
    if not cache_first:
        pipe.enable_model_cpu_offload(device="cpu")  # accelerate's hooks; CPU here, the same calls as on a GPU
    cache = enable_delta_cache(pipe, preset="wan2.1-t2v-debug")
    if cache_first:
        pipe.enable_model_cpu_offload(device="cpu")
    # every call ends by re-installing accelerate's hooks: the second call must still be cached
    for _ in range(2):
        assert torch.equal(_generate(pipe), reference) and cache.stats()["theoretical_speedup"] > 1.2
    disable_delta_cache(pipe)
    for transformer in (pipe.transformer, pipe.transformer_2):  # accelerate's wrapper kept, around the original
        assert hasattr(transformer, "_hf_hook") and transformer._old_forward == type(transformer).forward.__get__(
            transformer
        )
    _generate(pipe)
    with pytest.raises(ValueError, match="enable_model_cpu_offload's hooks undo"):
        enable_delta_cache(pipe, method="easycache", constants={"easycache": {"threshold": 0.1, "ret_steps": 1}})


# video tokens of `_inputs` (3 x 8 x 8 latents; Wan's patch 2 x 2) and the text tokens HunyuanVideo joins (1.0: the
# prompt's 5; 1.5: 5 + 4 of the second encoder + 6 image tokens), of which 3 + 4 are valid in the masks below
SEAM_ROWS = {"wan": (48, 0, None), "hunyuanvideo": (192, 5, 195), "hunyuanvideo-1.5": (192, 15, 199)}


@pytest.mark.parametrize("family", list(MODELS))
def test_the_observe_seam_shows_each_self_attention_its_q_and_k_and_comes_off_cleanly(family):
    import diffusers.models.attention_dispatch as dispatch

    from delta_cache.diffusers import describe
    from delta_cache.diffusers.observe import NAME, add_observe_seams

    model = MODELS[family]()
    spec = describe(model).spec
    kw = _inputs(model)
    if "encoder_attention_mask" in kw:
        kw["encoder_attention_mask"][:, 3:] = 0  # padded text, masked out of the keys

    def run():
        with torch.no_grad():
            return model(**kw, timestep=torch.tensor([500.0]), return_dict=False)[0]

    before = run()
    seen = []
    seams = add_observe_seams(model, spec)
    owners = [(s, i, b.get_submodule(s.attention)) for s in spec.stacks for i, b in enumerate(getattr(model, s.attr))]
    for stack, i, owner in owners:
        owner.observe = lambda q, k, lens, joint, at=(stack.name, i): seen.append((at, q.shape[1], lens, joint))
    run()
    video, joint, valid = SEAM_ROWS[family]
    assert [at for at, *_ in seen] == [(s.name, i) for s, i, _ in owners]  # each self-attention once, in order
    for _, rows, lens, j in seen:
        assert (rows, j) == (video + joint, joint)
        assert (lens is None) if valid is None else lens.tolist() == [valid]
    seams.remove()
    namespace = type(owners[0][2].processor).__call__.__globals__
    assert namespace[NAME] is dispatch.dispatch_attention_fn  # diffusers' own function again
    assert not any("observe" in vars(owner) for *_, owner in owners)
    assert torch.equal(run(), before)


def test_two_passes_reads_the_guidance_each_pipeline_means():
    from types import SimpleNamespace

    from diffusers import HunyuanVideo15Pipeline, HunyuanVideoPipeline

    from delta_cache.diffusers.target import two_passes

    def no_guider():
        raise AttributeError("no guider")

    assert two_passes(WanPipeline, {}, no_guider)  # its default guidance_scale 5 is CFG
    assert not two_passes(WanPipeline, {"guidance_scale": 1.0}, no_guider)
    # HunyuanVideo 1.0: guidance_scale 6 is the distilled embedded guidance, one pass unless true_cfg_scale > 1
    assert not two_passes(HunyuanVideoPipeline, {"guidance_scale": 6.0}, no_guider)
    assert two_passes(HunyuanVideoPipeline, {"true_cfg_scale": 4.0}, no_guider)
    # HunyuanVideo-1.5: the guider decides
    guider = SimpleNamespace(guidance_scale=6.0)
    assert two_passes(HunyuanVideo15Pipeline, {}, lambda: guider.guidance_scale)
    assert not two_passes(HunyuanVideo15Pipeline, {}, no_guider)
