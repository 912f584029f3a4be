"""`python scripts/diffusers_demo.py`: a shipped tiny model run through diffusers, with our cache.

    python scripts/diffusers_demo.py                                  # t2v-tiny as a diffusers WanPipeline
    python scripts/diffusers_demo.py --delta_cache                    # + the tiny model's preset
    python scripts/diffusers_demo.py --model hunyuanvideo --delta_cache --cache_method adaptive --cache_speedup 2.5
    python scripts/diffusers_demo.py --delta_cache --cache_method teacache --save_file teacache.mp4

The model's own flags (generate.py's or sample_video.py's: --prompt, the seed, every cache flag) are read and
checked as by its CLI, and the cache is the same object (`--delta_cache`'s preset, peer or `adaptive`); it is
put on diffusers' pipeline with `delta_cache.diffusers.enable_delta_cache`. The pipeline is the folder
scripts/to_diffusers.py writes (--pipeline_dir; by default outputs/diffusers/<model>, converted on first use),
loaded by diffusers' own `DiffusionPipeline.from_pretrained`, and called with the folder's generation settings
(size, frames, steps, guidance). Writes the video and, beside it, the same stats file as our CLIs.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for sub in ("Wan2.1", "HunyuanVideo", ""):
    sys.path.insert(0, str(REPO / sub))

from evaluation.targets import model_parser, select_target  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    cls, argv = select_target(argv, "diffusers_demo.py")
    p = model_parser(cls, "Run a tiny model of ours through diffusers with delta_cache.")
    g = p.add_argument_group("diffusers demo")
    g.add_argument("--pipeline_dir", type=Path, default=None, help="a folder of scripts/to_diffusers.py")
    if not any("--save_file" in a.option_strings for a in p._actions):
        g.add_argument("--save_file", default=None, help="the video to write (.mp4)")
    args = p.parse_args(argv)
    save = Path(args.save_file or f"diffusers_{cls.name}{'_cached' if args.delta_cache else ''}.mp4")
    if save.suffix != ".mp4":
        p.error(f"--save_file must end in .mp4, got {save}")
    if save.exists():
        p.error(f"--save_file {save} exists; choose another name (nothing is overwritten)")
    target = cls(cls.validate(p, args))  # the CLI's own checks, and its cache (args.cache_config)
    folder = args.pipeline_dir or REPO / "outputs" / "diffusers" / target.profile_name()

    import torch
    from diffusers import DiffusionPipeline

    from delta_cache.diffusers import describe, enable_delta_cache
    from delta_cache.diffusers.convert import converted, read_call
    from delta_cache.diffusers.target import two_passes
    from delta_cache.policy import Policy
    from delta_cache.report import full_compute_stats, run_report, save_with_report
    from evaluation.metrics import to_uint8

    try:
        if args.pipeline_dir is None:
            converted(target, folder)  # written on first use
        call = read_call(folder)
    except ValueError as err:
        p.error(str(err))
    pipe = DiffusionPipeline.from_pretrained(str(folder))
    config = getattr(args, "cache_config", None) if args.delta_cache else None
    cache = None
    if config is not None:
        # our CLI's cache object: a static preset, or the peer / adaptive policy its flags built
        policy = isinstance(config, Policy)
        cache = enable_delta_cache(pipe, method=config) if policy else enable_delta_cache(pipe, preset=config)
    seed = target.seed if target.seed is not None and target.seed >= 0 else random.randrange(2**31)
    prompt = args.prompt
    t0 = time.perf_counter()
    frames = pipe(prompt, output_type="np", generator=torch.Generator().manual_seed(seed), **call).frames[0]
    seconds = time.perf_counter() - t0
    if cache is not None:
        report = cache.report(seconds)
    else:
        depths = describe(pipe.transformer).depths(pipe.transformer)
        steps = call["num_inference_steps"]
        cfg = two_passes(type(pipe), call, lambda: pipe.guider.config.guidance_scale)
        report = run_report(
            None, full_compute_stats({"cond": steps, "uncond": steps} if cfg else {"cond": steps}, depths), seconds
        )

    def write(path: Path) -> None:
        import imageio.v3 as iio

        iio.imwrite(path, to_uint8(frames), fps=target.fps, extension=".mp4")

    save_with_report(write, save, report)
    speed = f", {report['theoretical_speedup']:.2f}x theoretical" if cache is not None else ""
    print(f"wrote {save} ({prompt!r}, seed {seed}, {seconds:.1f} s through diffusers{speed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
