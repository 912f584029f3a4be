"""Command-line glue shared by both CLIs: under torchrun one error message and one log for the whole group; an
output location checked before anything loads."""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from loguru import logger

from .group import SequenceParallelGroup, destroy_sequence_parallel, world_from_env

_VERDICT_KEY = "usp/argument_error_printed"
_VERDICT_TIMEOUT = datetime.timedelta(seconds=60)


def _verdict_store(rank: int):
    """torchrun's rendezvous store (its agent hosts it; older launchers: rank 0), or None without one."""
    import torch.distributed as dist

    hosted_by_agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true"
    try:
        host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
        master = not hosted_by_agent and rank == 0
        return dist.TCPStore(host, port, is_master=master, timeout=_VERDICT_TIMEOUT, wait_for_workers=False)
    except (KeyError, ValueError, RuntimeError):
        return None


class RankZeroArgumentParser(argparse.ArgumentParser):
    """Every rank parses and validates the same arguments; only rank 0 prints the error, every rank exits 2.

    Validation runs before any process group exists, so all ranks fail alike and nobody waits on a peer. Under
    torchrun the other ranks exit only after rank 0 has printed (they wait on the launcher's store): a rank that
    exited first would make torchrun stop rank 0 before its message is out.
    """

    def error(self, message: str):
        rank, _, world = world_from_env()
        store = _verdict_store(rank) if world > 1 else None
        if rank == 0:
            self.print_usage(sys.stderr)
            print(f"{self.prog}: error: {message}", file=sys.stderr, flush=True)
            if store is not None:
                store.set(_VERDICT_KEY, "1")
        elif store is not None:
            try:
                store.wait([_VERDICT_KEY], _VERDICT_TIMEOUT)
            except RuntimeError:
                pass  # rank 0 never got there: exit anyway, torchrun reports the failure
        sys.exit(2)


def quiet_other_ranks() -> int:
    """Keep INFO logs on rank 0 only (other ranks still log warnings and errors, tagged); returns the rank."""
    rank, _, world = world_from_env()
    if rank:
        logger.remove()
        logger.add(sys.stderr, level="WARNING", format=f"[rank {rank}/{world}] {{level}}: {{message}}")
    return rank


def run_on_group(run: Callable[[], int], group: SequenceParallelGroup | None, expected: tuple[type, ...]) -> int:
    """`run()` on this rank, then leave the process group; an `expected` error becomes one line and exit code 1.

    The failing rank's non-zero exit makes torchrun stop the other ranks; any other exception exits non-zero
    with its traceback, to the same effect. Nobody is left waiting on a dead peer.
    """
    rank, _, world = world_from_env()
    try:
        return run()
    except expected as err:
        where = f"[rank {rank}/{world}] " if group is not None else ""
        print(f"error: {where}{err}", file=sys.stderr)
        return 1
    finally:
        destroy_sequence_parallel()


def finite_float(text: str) -> float:
    """argparse type: a float that is a number (NaN passes every range check and would run silently)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


SEED_MAX = 2**64 - 1  # torch.Generator.manual_seed takes 0 .. 2**64 - 1


def device_problem(requested: str | None) -> str | None:
    """Why `--device requested` cannot run here (a malformed name, CUDA absent, no such GPU), or None."""
    if requested is None:
        return None
    import torch

    try:
        device = torch.device(requested)
    except RuntimeError:
        return f"--device {requested!r} is not a device; give cpu, cuda or cuda:N"
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return f"--device {requested}: CUDA is not available on this machine; use --device cpu"
        if device.index is not None and device.index >= torch.cuda.device_count():
            return f"--device {requested}: this machine has {torch.cuda.device_count()} CUDA device(s)"
    elif device.type != "cpu":
        return f"--device {requested}: only cpu, cuda and cuda:N are supported"
    return None


def unwritable_reason(directory: Path) -> str | None:
    """Why files cannot be created in `directory` (or, if it does not exist yet, in its nearest existing
    parent, where it would be made), or None when they can. Tried for real: permission bits lie for root."""
    target = Path(directory)
    while not target.exists():
        if target.parent == target:
            return f"{directory} has no existing parent"
        target = target.parent
    if not target.is_dir():
        return f"{target} is not a directory"
    try:
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as err:
        return f"cannot write in {target}: {err.strerror or err}"
    return None
