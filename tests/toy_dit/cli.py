"""The toy model's command line: the flags its own generate command would have (the scripts add theirs)."""

from __future__ import annotations

import argparse

from usp import device_problem


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Generate with ToyDiT.")
    p.add_argument("--prompt", default="a toy prompt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--frames", type=int, default=2)
    p.add_argument("--device", default=None)
    p.add_argument("--compile", action="store_true")
    return p


def validate(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    if args.steps < 3:
        p.error(f"--steps must be >= 3, got {args.steps}")
    problem = device_problem(args.device)
    if problem:
        p.error(problem)
    return args
