"""The diffusers transformers delta_cache supports, each described as data: its block lists and streams, the
signals the peers read, its release presets and its peers' published constants.

Block stacks keep the original checkpoints' names (`blocks`; `double_blocks` = `transformer_blocks`,
`single_blocks` = `single_transformer_blocks`) with the same indices, so a release preset or a preset file
written for our own stacks names the same blocks here. Every supported block takes its streams as its first
positional arguments and returns them in that order (Wan: one tensor; HunyuanVideo 1.0 and 1.5, both block
kinds: `(hidden_states, encoder_hidden_states)`), which is `CachedBlock`'s contract. A HunyuanVideo single block
of the original runs on the joined image + text sequence; diffusers splits it back after every single block, so
the pair of deltas here is the original's one delta cut in two. Each stack names its blocks' self-attention
(`attention`: Wan's `attn1`, HunyuanVideo's `attn`), where `observe.add_observe_seams` puts the profiler's seam.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field

from torch import Tensor, nn

from ..schedule import CacheConfig
from ..spec import BlockStack, CacheSpec, ModelIO, Signal

SUPPORTED = ("WanTransformer3DModel", "HunyuanVideoTransformer3DModel", "HunyuanVideo15Transformer3DModel")


@functools.cache
def _parameters(cls: type) -> tuple[str, ...]:
    return tuple(inspect.signature(cls.forward).parameters)[1:]  # without self


def _argument(cls: type, name: str, args: tuple, kwargs: dict, default=None):
    """An argument of `cls.forward` by name, however it was passed (the pipelines pass keywords, tests may not)."""
    if name in kwargs:
        return kwargs[name]
    index = _parameters(cls).index(name)
    return args[index] if index < len(args) else default


def _sample(out) -> Tensor:
    return out.sample if hasattr(out, "sample") else out[0]


def _io(cls: type, out_channels: int) -> ModelIO:
    """The latent in and the prediction out of a pass, for output-level reuse. Where the input carries
    conditioning channels after the latent (Wan I2V: 16 + 20, HunyuanVideo-1.5: 32 + 33), its latent part."""

    def pack(tensors, args, kwargs):
        from diffusers.models.modeling_outputs import Transformer2DModelOutput

        if _argument(cls, "return_dict", args, kwargs, True):
            return Transformer2DModelOutput(sample=tensors[0])
        return (tensors[0],)

    return ModelIO(
        inputs=lambda args, kwargs: [_argument(cls, "hidden_states", args, kwargs)[:, :out_channels]],
        outputs=lambda out: [_sample(out)],
        pack=pack,
    )


def _modulated_input(block: nn.Module, args: tuple, kwargs: dict) -> Tensor:
    """TeaCache's indicator on HunyuanVideo: the first dual-stream block's normalised, modulated image stream."""
    block = getattr(block, "block", block)  # through a delta_cache wrapper
    hidden = args[0] if args else kwargs["hidden_states"]
    temb = args[2] if len(args) > 2 else kwargs["temb"]
    return block.norm1(hidden, emb=temb)[0]


@dataclass(frozen=True)
class DiffusersModel:
    """One supported transformer: `family` names its presets and constants (wan, hunyuanvideo,
    hunyuanvideo-1.5); `task` is the original checkpoint it matches, where one does (t2v-14B, ...)."""

    family: str
    spec: CacheSpec
    presets: dict[str, CacheConfig] = field(default_factory=dict)
    task: str | None = None

    def depths(self, transformer: nn.Module) -> dict[str, int]:
        return {s.name: len(getattr(transformer, s.attr)) for s in self.spec.stacks}

    def constants(self) -> dict:
        """The peers' published constants for this checkpoint ({} where none are published: the peers that need
        none still run, the others ask for a calibration file)."""
        if self.family == "wan" and self.task is not None:
            from wan.cache_peers import peer_constants

            return peer_constants(self.task)
        if self.family == "hunyuanvideo" and self.task is not None:
            from hyvideo.cache_peers import peer_constants

            return peer_constants()
        return {}


def _wan_task(config, two_experts: bool) -> str | None:
    """Which Wan2.1 checkpoint a diffusers config is (diffusers.md §10.1: 30 blocks of 1536 = T2V-1.3B, 40 of
    5120 = 14B; `image_dim` = I2V). Wan2.2's experts and TI2V-5B match none: no published constants."""
    if two_experts:
        return None
    dim = config.num_attention_heads * config.attention_head_dim
    if config.num_layers == 30 and dim == 1536 and config.in_channels == 16:
        return "t2v-1.3B"
    if config.num_layers == 40 and dim == 5120:
        return "i2v-14B" if config.image_dim is not None else "t2v-14B" if config.in_channels == 16 else None
    return None


def describe(transformer: nn.Module, two_experts: bool = False) -> DiffusersModel:
    """The description of a supported diffusers transformer; ValueError naming the supported classes."""
    cls = type(transformer)
    name = cls.__name__
    config = getattr(transformer, "config", None)
    if name == "WanTransformer3DModel":
        from wan.cache_spec import WAN_CACHE_PRESETS

        spec = CacheSpec(
            stacks=(BlockStack(attr="blocks", streams=("x",), attention="attn1"),),
            prediction=lambda out: _sample(out)[0],
            signals={
                # TeaCache's indicators, as upstream's time_embedding / time_projection outputs (e, e0)
                "timestep_embedding": Signal(module="condition_embedder.time_embedder"),
                "timestep_projection": Signal(module="condition_embedder.time_proj"),
            },
            io=_io(cls, config.out_channels),
        )
        return DiffusersModel("wan", spec, dict(WAN_CACHE_PRESETS), _wan_task(config, two_experts))
    if name == "HunyuanVideoTransformer3DModel":
        from hyvideo.cache_spec import HY_CACHE_PRESETS

        spec = CacheSpec(
            stacks=(
                BlockStack(attr="transformer_blocks", name="double_blocks", streams=("img", "txt"), attention="attn"),
                BlockStack(
                    attr="single_transformer_blocks", name="single_blocks", streams=("img", "txt"), attention="attn"
                ),
            ),
            prediction=lambda out: _sample(out)[0],
            signals={"modulated_input": Signal(module="transformer_blocks.0", when="input", fn=_modulated_input)},
            io=_io(cls, config.out_channels),
        )
        released = config.num_layers == 20 and config.num_single_layers == 40
        return DiffusersModel("hunyuanvideo", spec, dict(HY_CACHE_PRESETS), "t2v-720p" if released else None)
    if name == "HunyuanVideo15Transformer3DModel":
        spec = CacheSpec(
            stacks=(
                BlockStack(attr="transformer_blocks", name="double_blocks", streams=("img", "txt"), attention="attn"),
            ),
            prediction=lambda out: _sample(out)[0],
            signals={"modulated_input": Signal(module="transformer_blocks.0", when="input", fn=_modulated_input)},
            io=_io(cls, config.out_channels),
        )
        return DiffusersModel("hunyuanvideo-1.5", spec)
    raise ValueError(f"delta_cache does not support diffusers' {name}; supported: {', '.join(SUPPORTED)}")
