"""Argument parsing and validation for sample_video.py (upstream's dashed flags and defaults).

Every check runs before anything heavy loads. Deviations from upstream, each documented in README:
`--flow-reverse` is on by default (only that direction fits the released weights; `--no-flow-reverse` turns it
off), `--vae-tiling` can be turned off with `--no-vae-tiling`, `--latent-channels` is an int, and without
`--model-base` and `--model` the shipped tiny model (`HYVideo-tiny`, ckpts-tiny/) runs; `--model HYVideo-debug`
runs random weights.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from usp import SEED_MAX, RankZeroArgumentParser, check_layout, device_problem, finite_float, unwritable_reason

from .cache_cli import add_cache_args, build_cache_config
from .configs import DEBUG_MODEL, HUNYUAN_VIDEO_CONFIG, NEGATIVE_PROMPT, PRECISION_TO_TYPE, TINY_MODEL, HYVideoConfig
from .constants import PROMPT_TEMPLATE
from .utils.checkpoint import LOAD_KEYS
from .utils.video import name_part
from .vae import VAE_NAME

DEFAULT_MODEL = "HYVideo-T/2-cfgdistill"
TINY_MODEL_BASE = Path(__file__).resolve().parents[1] / "ckpts-tiny"  # the shipped tiny model, official layout
PRECISIONS = list(PRECISION_TO_TYPE)
MAX_SUFFIX_BYTES = 64  # --name-suffix: the prompt's part of the name still gets the rest of MAX_STEM_BYTES


def _per_model(field: str) -> str:
    """A default that depends on --model, as --help shows it: "model's: HYVideo-T/2 50, ..., HYVideo-tiny 25"."""

    def shown(value) -> str:
        return " ".join(map(str, value)) if isinstance(value, tuple) else str(value)

    return "default: the model's: " + ", ".join(
        f"{name} {shown(getattr(cfg, field))}" for name, cfg in HUNYUAN_VIDEO_CONFIG.items()
    )


def build_parser() -> argparse.ArgumentParser:
    p = RankZeroArgumentParser(
        description="Generate a video from a text prompt with HunyuanVideo. Several GPUs: torchrun "
        "--nproc_per_node=N sample_video.py ... --ulysses-degree N --ring-degree 1 (scripts/launch_hyvideo.sh)."
    )
    g = p.add_argument_group("network")
    g.add_argument(
        "--model",
        choices=list(HUNYUAN_VIDEO_CONFIG),
        default=None,
        help=f"default {DEFAULT_MODEL} with --model-base, {TINY_MODEL} (the shipped tiny model) without; "
        f"{DEBUG_MODEL} runs random weights",
    )
    g.add_argument("--latent-channels", type=int, default=16)
    g.add_argument("--precision", choices=PRECISIONS, default="bf16", help="DiT weights and autocast dtype (CUDA)")
    g.add_argument("--rope-theta", type=int, default=256)
    g = p.add_argument_group("extra models")
    g.add_argument("--vae", default="884-16c-hy")
    g.add_argument("--vae-precision", choices=PRECISIONS, default="fp16")
    g.add_argument("--vae-tiling", action=argparse.BooleanOptionalAction, default=True, help="tiled VAE decoding")
    g.add_argument("--text-encoder", choices=["llm"], default="llm")
    g.add_argument("--text-encoder-precision", choices=PRECISIONS, default="fp16")
    g.add_argument("--text-states-dim", type=int, default=None, help="LLM feature size (model's: 4096)")
    g.add_argument(
        "--text-len", type=int, default=None, help=f"LLM tokens after the template ({_per_model('text_len')})"
    )
    g.add_argument("--tokenizer", choices=["llm"], default="llm")
    g.add_argument("--prompt-template", choices=list(PROMPT_TEMPLATE), default="dit-llm-encode")
    g.add_argument("--prompt-template-video", choices=list(PROMPT_TEMPLATE), default="dit-llm-encode-video")
    g.add_argument("--hidden-state-skip-layer", type=int, default=2)
    g.add_argument("--apply-final-norm", action="store_true")
    g.add_argument("--text-encoder-2", choices=["clipL"], default="clipL")
    g.add_argument("--text-encoder-precision-2", choices=PRECISIONS, default="fp16")
    g.add_argument("--text-states-dim-2", type=int, default=None, help="CLIP pooled size (model's: 768)")
    g.add_argument("--tokenizer-2", choices=["clipL"], default="clipL")
    g.add_argument("--text-len-2", type=int, default=None, help=f"CLIP tokens ({_per_model('text_len_2')})")
    g = p.add_argument_group("denoise")
    g.add_argument("--denoise-type", choices=["flow"], default="flow")
    g.add_argument(
        "--flow-shift", type=finite_float, default=None, help=f"sigma shift > 0 ({_per_model('flow_shift')})"
    )
    g.add_argument(
        "--flow-reverse",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sigma 1 -> 0; on by default (upstream: off, but every upstream command passes it)",
    )
    g.add_argument("--flow-solver", choices=["euler"], default="euler")
    g.add_argument("--use-linear-quadratic-schedule", action="store_true", help="accepted, unused (as upstream)")
    g.add_argument("--linear-schedule-end", type=int, default=25, help="accepted, unused (as upstream)")
    g = p.add_argument_group("inference")
    g.add_argument("--model-base", default=None, help="folder of the official ckpts/ (env MODEL_BASE, ./ckpts)")
    g.add_argument(
        "--dit-weight",
        default=None,
        help="DiT .pt file or folder (default: <model-base>/hunyuan-video-t2v-720p/transformers/"
        "mp_rank_00_model_states.pt)",
    )
    g.add_argument("--model-resolution", choices=["540p", "720p"], default="540p", help="accepted, unused")
    g.add_argument("--load-key", choices=list(LOAD_KEYS), default="module")
    g.add_argument("--use-cpu-offload", action="store_true", help="keep DiT blocks on the CPU between uses (CUDA)")
    g.add_argument("--batch-size", type=int, default=1, help="videos per denoising batch")
    g.add_argument("--infer-steps", type=int, default=None, help=f"denoising steps ({_per_model('infer_steps')})")
    g.add_argument("--disable-autocast", action="store_true")
    g.add_argument("--save-path", default="./results")
    g.add_argument("--save-path-suffix", default="")
    g.add_argument("--name-suffix", default="", help="appended to each video's file name (no path separator)")
    g.add_argument("--num-videos", type=int, default=1, help="videos of the prompt, seeds seed + i")
    g.add_argument(
        "--video-size", type=int, nargs="+", default=None, help=f"H W, one value: square ({_per_model('video_size')})"
    )
    g.add_argument("--video-length", type=int, default=None, help=f"frames, 4n+1 ({_per_model('video_length')})")
    g.add_argument("--prompt", default=None, help="text prompt (default: the model's example prompt)")
    g.add_argument("--seed-type", choices=["file", "random", "fixed", "auto"], default="auto", help="accepted")
    g.add_argument(
        "--seed", type=int, default=None, help=f"noise seed in 0..{SEED_MAX} (video i: seed + i); none draws one"
    )
    g.add_argument("--neg-prompt", default=None, help="negative prompt for --cfg-scale > 1")
    g.add_argument(
        "--cfg-scale",
        type=finite_float,
        default=None,
        help=f"real CFG scale >= 1; > 1 runs [uncond, cond] batched ({_per_model('cfg_scale')})",
    )
    g.add_argument(
        "--embedded-cfg-scale",
        type=finite_float,
        default=None,
        help=f"guidance embedding, guidance-distilled models ({_per_model('embedded_cfg_scale')})",
    )
    g.add_argument("--use-fp8", action="store_true", help="not supported: refused")
    g.add_argument("--reproduce", action="store_true", help="deterministic torch algorithms")
    g.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available, else cpu)")
    g.add_argument("--compile", action="store_true", help="torch.compile each DiT block once (regional)")
    g = p.add_argument_group("parallel")
    g.add_argument("--ulysses-degree", type=int, default=1)
    g.add_argument("--ring-degree", type=int, default=1)
    add_cache_args(p)
    return p


def _fill(args: argparse.Namespace, name: str, default) -> None:
    if getattr(args, name) is None:
        setattr(args, name, default)


def validate(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Fill model defaults and reject bad input with one-line errors (p.error exits with code 2)."""
    if args.model is None:
        args.model = DEFAULT_MODEL if (args.model_base or args.dit_weight) else TINY_MODEL
    cfg = HUNYUAN_VIDEO_CONFIG[args.model]
    args.random_weights = args.model == DEBUG_MODEL and args.model_base is None
    if args.model == TINY_MODEL and args.model_base is None and args.dit_weight is None:
        if not (TINY_MODEL_BASE / cfg.dit_weight).is_file():
            p.error(
                f"the shipped {TINY_MODEL} model is missing at {TINY_MODEL_BASE}; run "
                "scripts/train_tiny_hyvideo.py or pass --model-base"
            )
        args.model_base = str(TINY_MODEL_BASE)
    if args.model_base is None and not args.random_weights:
        args.model_base = os.environ.get("MODEL_BASE", "ckpts")
    for name, default in (
        ("text_states_dim", cfg.text_states_dim),
        ("text_states_dim_2", cfg.text_states_dim_2),
        ("text_len", cfg.text_len),
        ("text_len_2", cfg.text_len_2),
        ("flow_shift", cfg.flow_shift),
        ("infer_steps", cfg.infer_steps),
        ("video_length", cfg.video_length),
        ("embedded_cfg_scale", cfg.embedded_cfg_scale),
        ("cfg_scale", cfg.cfg_scale),
        ("video_size", list(cfg.video_size)),
    ):
        _fill(args, name, default)
    try:
        world = check_layout(args.ulysses_degree, args.ring_degree, cfg.heads_num)
    except ValueError as err:
        p.error(f"--ulysses-degree/--ring-degree: {err}")
    if world > 1 and args.use_cpu_offload:
        p.error("--use-cpu-offload cannot be combined with sequence parallelism (as upstream); drop one of them")
    if args.use_fp8:
        p.error("--use-fp8 is not supported; use --precision bf16 (default)")
    if len(args.video_size) not in (1, 2):
        p.error(f"--video-size takes H W or one value, got {len(args.video_size)} values")
    if len(args.video_size) == 1:
        args.video_size = args.video_size * 2
    if min(args.video_size) < 16:
        p.error(f"--video-size must be at least 16 16, got {args.video_size[0]} {args.video_size[1]}")
    if world > 1:
        from .parallel import split_axis

        # token grid (H, W): the size rounded up to 16 px as the sampler does, / VAE stride, / patch
        grid = tuple(
            (-(-n // 16) * 16) // s // q
            for n, s, q in zip(args.video_size, cfg.vae_stride[1:], cfg.patch_size[1:], strict=True)
        )
        try:
            split_axis((1, *grid), world)
        except ValueError as err:
            p.error(f"--video-size {args.video_size[0]} {args.video_size[1]} with {world} processes: {err}")
    if args.video_length < 1 or (args.video_length - 1) % 4:
        p.error(f"--video-length must be 4n+1 (1, 5, ..., 129), got {args.video_length}")
    if args.infer_steps < 1:
        p.error(f"--infer-steps must be >= 1, got {args.infer_steps}")
    if args.flow_shift <= 0:
        p.error(f"--flow-shift must be > 0, got {args.flow_shift}")
    if args.num_videos < 1 or args.batch_size < 1:
        p.error("--num-videos and --batch-size must be >= 1")
    if not VAE_NAME.match(args.vae):
        p.error(f"--vae must look like 884-16c-hy (time/space strides, channels, name), got {args.vae!r}")
    if int(args.vae.split("-")[1][:-1]) != args.latent_channels:
        p.error(
            f"--vae {args.vae} has {args.vae.split('-')[1][:-1]} channels; --latent-channels is {args.latent_channels}"
        )
    mismatched = [
        f"{flag} {got} (model {cfg.name}: {want})"
        for flag, got, want in (
            ("--latent-channels", args.latent_channels, cfg.latent_channels),
            ("--text-states-dim", args.text_states_dim, cfg.text_states_dim),
            ("--text-states-dim-2", args.text_states_dim_2, cfg.text_states_dim_2),
        )
        if got != want
    ]
    if mismatched:
        p.error("flags do not fit the model: " + "; ".join(mismatched))
    if args.text_len < 1 or args.text_len_2 < 1:
        p.error("--text-len and --text-len-2 must be >= 1")
    if args.hidden_state_skip_layer < 0:
        p.error(f"--hidden-state-skip-layer must be >= 0, got {args.hidden_state_skip_layer}")
    args.prompt = cfg.example_prompt if args.prompt is None else args.prompt
    if not args.prompt.strip():
        p.error("--prompt is empty; give a text prompt")
    if args.cfg_scale < 1.0:
        p.error(f"--cfg-scale must be >= 1.0 (1.0 = off), got {args.cfg_scale}")
    if args.seed is not None and not 0 <= args.seed <= SEED_MAX - (args.num_videos - 1):
        p.error(f"--seed must be in 0..{SEED_MAX} for every video (video i uses seed + i), got {args.seed}")
    if name_part(args.name_suffix, MAX_SUFFIX_BYTES) != args.name_suffix:
        p.error(
            f"--name-suffix is part of a file name: at most {MAX_SUFFIX_BYTES} bytes of letters, digits and "
            f"-_.+, got {args.name_suffix!r}"
        )
    problem = device_problem(args.device)
    if problem:
        p.error(problem)
    if args.cfg_scale > 1.0:
        args.neg_prompt = NEGATIVE_PROMPT if args.neg_prompt is None else args.neg_prompt
        if not args.neg_prompt.strip():
            p.error("--cfg-scale > 1 needs a negative prompt; --neg-prompt is empty (omit it for upstream's default)")
    save_dir = Path(args.save_path + (f"_{args.save_path_suffix}" if args.save_path_suffix else ""))
    if save_dir.exists() and not save_dir.is_dir():
        p.error(f"--save-path exists and is not a directory: {save_dir}")
    reason = unwritable_reason(save_dir)
    if reason:
        p.error(f"--save-path {save_dir}: {reason}")
    args.save_dir = save_dir
    try:
        args.cache_config = build_cache_config(args, cfg)
    except ValueError as err:
        p.error(str(err))
    if not args.random_weights:
        base = Path(args.model_base)
        if not base.is_dir():
            p.error(f"--model-base not found: {base} (the folder holding the official ckpts)")
        dit = Path(args.dit_weight) if args.dit_weight else base / cfg.dit_weight
        if not dit.exists():
            p.error(f"--dit-weight not found: {dit}")
        args.dit_weight = str(dit)
        needed = [
            cfg.text_encoder_dir,
            cfg.text_encoder_2_dir,
            f"{cfg.vae_dir}/config.json",
            f"{cfg.vae_dir}/pytorch_model.pt",
        ]
        missing = [n for n in needed if not (base / n).exists()]
        if missing:
            p.error(f"--model-base {base} lacks: {', '.join(missing)}")
    return args


def model_config(args: argparse.Namespace) -> HYVideoConfig:
    """The --model config with the text and RoPE flags applied."""
    return replace(
        HUNYUAN_VIDEO_CONFIG[args.model],
        text_len=args.text_len,
        text_len_2=args.text_len_2,
        hidden_state_skip_layer=args.hidden_state_skip_layer,
        rope_theta=float(args.rope_theta),
    )
