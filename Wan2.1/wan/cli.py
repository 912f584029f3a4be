"""Argument parsing and validation for generate.py: every check runs before anything heavy loads."""

from __future__ import annotations

import argparse
from pathlib import Path

from usp import SEED_MAX, RankZeroArgumentParser, check_layout, device_problem, finite_float, unwritable_reason

from .cache_cli import add_cache_args, build_cache_config
from .configs import SIZE_CONFIGS, SUPPORTED_SIZES, WAN_CONFIGS
from .schedulers import SOLVERS
from .utils.checkpoint import DIT_CONFIG, DIT_INDEX, DIT_SINGLE
from .utils.video import MAX_STEM_BYTES

DEBUG_TASK = "t2v-debug"  # random weights written on the fly: pipeline checks, not pictures
DEBUG_TASKS = (DEBUG_TASK, "i2v-debug")
EXAMPLE_IMAGE = Path(__file__).resolve().parents[2] / "assets" / "i2v_example.png"  # --image's default (I2V)
I2V_480P_SHIFT = 3.0  # upstream's --sample_shift for I2V at 832*480 / 480*832
TINY_TASK = "t2v-tiny"  # trained, shipped in the repository: the default without --ckpt_dir
TINY_CKPT_DIR = Path(__file__).resolve().parents[1] / "Wan2.1-T2V-tiny"


def str2bool(v: str) -> bool:
    if v.lower() in ("true", "1", "yes", "y"):
        return True
    if v.lower() in ("false", "0", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (True/False), got {v!r}")


def _per_task(field: str) -> str:
    """A default that depends on the task, as --help shows it: "t2v-14B 50, ..., t2v-tiny 25"."""
    return ", ".join(f"{task} {getattr(cfg, field)}" for task, cfg in WAN_CONFIGS.items())


def build_parser() -> argparse.ArgumentParser:
    p = RankZeroArgumentParser(
        description="Generate a video from a text prompt with Wan2.1. Several GPUs: torchrun --nproc_per_node=N "
        "generate.py ... --ulysses_size N (scripts/launch_wan.sh)."
    )
    p.add_argument(
        "--task",
        choices=list(WAN_CONFIGS),
        default=None,
        help=f"task to run; default t2v-14B with --ckpt_dir, {TINY_TASK} (the shipped tiny model) without; "
        f"{DEBUG_TASK} runs random weights",
    )
    p.add_argument("--size", default=None, help="W*H, one of the task's sizes (default: the task's first)")
    p.add_argument(
        "--frame_num", type=int, default=None, help=f"frames, 4n+1 (default: the task's: {_per_task('frame_num')})"
    )
    p.add_argument(
        "--ckpt_dir", default=None, help=f"official checkpoint directory (e.g. ./Wan2.1-T2V-14B); {TINY_TASK}: shipped"
    )
    p.add_argument(
        "--offload_model",
        type=str2bool,
        default=None,
        help="offload T5/DiT to CPU between uses (default True on one process, False under torchrun)",
    )
    p.add_argument("--ulysses_size", type=int, default=1, help="Ulysses sequence-parallel degree (heads split)")
    p.add_argument("--ring_size", type=int, default=1, help="ring-attention degree (needs xfuser on CUDA)")
    p.add_argument("--t5_fsdp", action="store_true", help="shard T5 with FSDP (torchrun)")
    p.add_argument("--t5_cpu", action="store_true", help="keep the T5 encoder on the CPU")
    p.add_argument("--dit_fsdp", action="store_true", help="shard the DiT with FSDP (torchrun)")
    p.add_argument("--save_file", default=None, help="output .mp4 (default: an auto name that never overwrites)")
    p.add_argument("--prompt", default=None, help="text prompt (default: the task's example prompt)")
    p.add_argument("--base_seed", type=int, default=-1, help=f"noise seed in 0..{SEED_MAX}; -1 draws one")
    p.add_argument("--image", default=None, help="I2V: the first frame (default: assets/i2v_example.png)")
    p.add_argument("--sample_solver", choices=SOLVERS, default="unipc")
    p.add_argument(
        "--sample_steps", type=int, default=None, help=f"denoising steps (default: {_per_task('sample_steps')})"
    )
    p.add_argument(
        "--sample_shift",
        type=finite_float,
        default=None,
        help=f"flow shift > 0 (default: {_per_task('sample_shift')}; i2v-14B at 480p {I2V_480P_SHIFT})",
    )
    p.add_argument(
        "--sample_guide_scale",
        type=finite_float,
        default=None,
        help=f"CFG scale >= 0 (default: {_per_task('sample_guide_scale')})",
    )
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available, else cpu)")
    p.add_argument("--compile", action="store_true", help="torch.compile each DiT block once (regional)")
    add_cache_args(p)
    return p


def required_files(task: str, ckpt_dir: Path) -> list[Path]:
    cfg = WAN_CONFIGS[task]
    files = [
        ckpt_dir / DIT_CONFIG,
        ckpt_dir / cfg.t5_checkpoint,
        ckpt_dir / cfg.t5_tokenizer,
        ckpt_dir / cfg.vae_checkpoint,
    ]
    return files + ([ckpt_dir / cfg.clip_checkpoint] if cfg.model_type == "i2v" else [])


def validate_image(p: argparse.ArgumentParser, args: argparse.Namespace, cfg) -> None:
    """--image only for I2V tasks; there the file must decode (read now: it is small, the weights are not)."""
    if cfg.model_type != "i2v":
        if args.image is not None:
            i2v = ", ".join(t for t, c in WAN_CONFIGS.items() if c.model_type == "i2v")
            p.error(f"--image is for the image-to-video tasks ({i2v}); task {args.task} is text-to-video")
        return
    from .image2video import load_image

    args.image = args.image or str(EXAMPLE_IMAGE)
    if not Path(args.image).is_file():
        p.error(f"--image not found: {args.image}")
    try:
        args.image_tensor = load_image(args.image)
    except ValueError as err:
        p.error(str(err))


def validate(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Fill task defaults and reject bad input with one-line errors (p.error exits with code 2)."""
    if args.task is None:
        args.task = "t2v-14B" if args.ckpt_dir else TINY_TASK
    cfg = WAN_CONFIGS[args.task]
    sizes = SUPPORTED_SIZES[args.task]
    args.size = args.size or sizes[0]
    if args.size not in sizes:
        p.error(f"unsupported --size {args.size} for task {args.task}; supported: {', '.join(sizes)}")
    args.frame_num = cfg.frame_num if args.frame_num is None else args.frame_num
    if args.frame_num < 1 or (args.frame_num - 1) % 4:
        p.error(f"--frame_num must be 4n+1 (1, 5, 9, ..., 81), got {args.frame_num}")
    args.sample_steps = cfg.sample_steps if args.sample_steps is None else args.sample_steps
    if args.sample_shift is None:
        i2v_480p = cfg.model_type == "i2v" and args.size in ("832*480", "480*832")
        args.sample_shift = I2V_480P_SHIFT if i2v_480p else cfg.sample_shift
    args.sample_guide_scale = cfg.sample_guide_scale if args.sample_guide_scale is None else args.sample_guide_scale
    if args.sample_steps < 1:
        p.error(f"--sample_steps must be >= 1, got {args.sample_steps}")
    if args.sample_shift <= 0:
        p.error(f"--sample_shift must be > 0, got {args.sample_shift}")
    if args.sample_guide_scale < 0:
        p.error(f"--sample_guide_scale must be >= 0 (1 = no guidance), got {args.sample_guide_scale}")
    if not (args.base_seed == -1 or 0 <= args.base_seed <= SEED_MAX):
        p.error(f"--base_seed must be in 0..{SEED_MAX}, or -1 to draw one; got {args.base_seed}")
    problem = device_problem(args.device)
    if problem:
        p.error(problem)
    try:
        world = check_layout(args.ulysses_size, args.ring_size, cfg.num_heads)
    except ValueError as err:
        p.error(f"--ulysses_size/--ring_size: {err}")
    if world == 1 and (args.dit_fsdp or args.t5_fsdp):
        p.error("--dit_fsdp/--t5_fsdp shard weights across processes; launch with torchrun --nproc_per_node=N")
    if args.offload_model is None:
        args.offload_model = world == 1
    args.prompt = cfg.example_prompt if args.prompt is None else args.prompt
    if not args.prompt.strip():
        p.error("--prompt is empty; give a text prompt")
    if args.save_file is not None:
        out = Path(args.save_file)
        if out.suffix.lower() != ".mp4":
            p.error(f"--save_file must end with .mp4, got {args.save_file}")
        if not out.parent.is_dir():
            p.error(f"--save_file directory does not exist: {out.parent}")
        if out.is_dir():
            p.error(f"--save_file is a directory: {out}; give a file name ending in .mp4")
        if len(out.stem.encode()) > MAX_STEM_BYTES:  # the stats file beside it adds 17 bytes to the name
            p.error(f"--save_file name is {len(out.stem.encode())} bytes before .mp4; give at most {MAX_STEM_BYTES}")
    reason = unwritable_reason(Path(args.save_file).parent if args.save_file else Path.cwd())
    if reason:
        p.error(
            f"--save_file: {reason}"
            if args.save_file
            else f"the video would be written here, but {reason}; give --save_file in a writable directory"
        )
    if args.ckpt_dir is None and args.task == TINY_TASK:
        if not TINY_CKPT_DIR.is_dir():
            p.error(
                f"the shipped {TINY_TASK} model is missing at {TINY_CKPT_DIR}; run scripts/train_tiny.py "
                "or pass --ckpt_dir"
            )
        args.ckpt_dir = str(TINY_CKPT_DIR)
    try:  # after the tiny model's folder is known: its calibration file holds its peer constants
        args.cache_config = build_cache_config(args, cfg.num_layers, args.task)
    except ValueError as err:
        p.error(str(err))
    validate_image(p, args, cfg)
    if args.ckpt_dir is None:
        if args.task not in DEBUG_TASKS:
            p.error(f"--ckpt_dir is required for task {args.task} (e.g. ./Wan2.1-{args.task.upper()[:3]}...)")
    else:
        ckpt = Path(args.ckpt_dir)
        if not ckpt.is_dir():
            p.error(f"--ckpt_dir not found: {ckpt}")
        if (ckpt / DIT_CONFIG).is_file():
            from .text2video import check_task_matches

            try:  # config.json only: a folder of another task is named as such, before any weights load
                check_task_matches(cfg, ckpt)
            except ValueError as err:
                p.error(str(err))
        missing = [str(f.relative_to(ckpt)) for f in required_files(args.task, ckpt) if not f.exists()]
        if not any((ckpt / n).is_file() for n in (DIT_SINGLE, DIT_INDEX)):
            missing.append(f"{DIT_SINGLE} (or {DIT_INDEX})")
        if missing:
            p.error(f"--ckpt_dir {ckpt} lacks checkpoint files: {', '.join(missing)}")
    args.size_wh = SIZE_CONFIGS[args.size]
    return args
