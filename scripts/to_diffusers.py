"""`python scripts/to_diffusers.py --out DIR`: a model of ours as a diffusers pipeline folder.

    python scripts/to_diffusers.py --out wan-tiny-diffusers                        # the shipped t2v-tiny
    python scripts/to_diffusers.py --model hunyuanvideo --out hy-tiny-diffusers    # the shipped HYVideo-tiny
    python scripts/to_diffusers.py --task t2v-1.3B --ckpt_dir ./Wan2.1-T2V-1.3B --out wan1.3b-diffusers

The folder holds what diffusers' own `DiffusionPipeline.from_pretrained` reads (`WanPipeline` /
`HunyuanVideoPipeline`: transformer, VAE, text encoders, tokenizers, scheduler config) and `delta_cache.json`:
the pipeline-call keywords that generate as our CLI does with the same flags (size, frames, steps, guidance,
negative prompt, prompt encoding), which scripts/diffusers_demo.py passes. The model's own flags choose what
is converted (defaults: the shipped tiny model). An existing non-empty --out is refused: nothing is overwritten.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for sub in ("Wan2.1", "HunyuanVideo", ""):
    sys.path.insert(0, str(REPO / sub))

from delta_cache.diffusers.convert import write_pipeline  # noqa: E402
from evaluation.targets import model_parser, select_target  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    cls, argv = select_target(argv, "to_diffusers.py")
    p = model_parser(cls, "Write a model of ours as a diffusers pipeline folder.")
    p.add_argument("--out", type=Path, required=True, help="the pipeline folder to write (must not exist or be empty)")
    args = p.parse_args(argv)
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        p.error(f"--out {args.out} exists and is not an empty folder; choose another (nothing is overwritten)")
    target = cls(cls.validate(p, args))
    try:
        out = write_pipeline(target, args.out)
    except ValueError as err:
        p.error(str(err))
    print(f"wrote {out} (load it with diffusers' DiffusionPipeline.from_pretrained; run scripts/diffusers_demo.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
