"""The registry of models: a name -> the `delta_cache.target.Target` its package declares.

Adding a model is one package with a `Target` subclass and one line here (docs/adding_a_model.md). The scripts
read the registry and the target; none of them names a model.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from delta_cache.target import Target

# name -> "module:class"; the first is the scripts' default model
TARGETS = {
    "wan": "wan.target:WanTarget",
    "hunyuanvideo": "hyvideo.target:HunyuanTarget",
}


def target_class(name: str) -> type[Target]:
    module, _, cls = TARGETS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def select_target(argv: list[str] | None, prog: str, diffusers: bool = False) -> tuple[type[Target], list[str]]:
    """(the target `--model` selects, the remaining arguments). `--model` takes a registered name (removed from
    the arguments) or a value of a model's own --model flag (HunyuanVideo's config names, which stay). With
    `diffusers`, a script that can also run a diffusers pipeline: `--diffusers PATH` selects it instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # "--model=NAME" as argparse takes it, split so that both spellings are read alike
    argv = [part for a in argv for part in (a.split("=", 1) if a.startswith("--model=") else [a])]
    if diffusers and any(a == "--diffusers" or a.startswith("--diffusers=") for a in argv):
        if "--model" in argv:
            sys.exit(f"{prog}: error: give --model (our stacks) or --diffusers (a diffusers pipeline), not both")
        from delta_cache.diffusers.target import DiffusersTarget

        return DiffusersTarget, argv
    if "--model" not in argv:
        return target_class(next(iter(TARGETS))), argv
    i = argv.index("--model")
    value = argv[i + 1] if i + 1 < len(argv) else ""
    if value in TARGETS:
        del argv[i : i + 2]  # a model's own --model then keeps its default
        return target_class(value), argv
    for name in TARGETS:
        cls = target_class(name)
        if value in cls.model_values:
            return cls, argv
    accepted = [v for name in TARGETS for v in (name, *target_class(name).model_values)]
    sys.exit(f"{prog}: error: unknown --model {value!r}; accepted: {', '.join(accepted)}")


def model_parser(cls: type[Target], description: str) -> argparse.ArgumentParser:
    """The model's own command-line parser (its generate command's flags), to add a script's to."""
    p = cls.build_parser()
    p.description = description
    if not any("--model" in a.option_strings for a in p._actions):  # the scripts' model selector, for --help
        p.add_argument("--model", choices=[cls.name], default=cls.name, help=f"one of: {', '.join(TARGETS)}")
    return p


def read_prompt_file(p: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """`--prompts FILE` (one prompt per line), refused with `--num_prompts`, a missing file or an empty one."""
    if args.num_prompts is not None:
        p.error("give --prompts FILE or --num_prompts N, not both")
    if not args.prompts.is_file():
        p.error(f"--prompts file not found: {args.prompts}")
    prompts = [line.strip() for line in args.prompts.read_text().splitlines() if line.strip()]
    if not prompts:
        p.error(f"--prompts file {args.prompts} holds no prompt")
    return prompts
