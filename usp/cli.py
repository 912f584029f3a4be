"""Command-line glue shared by both CLIs under torchrun: one error message and one log for the whole group."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from loguru import logger

from .group import SequenceParallelGroup, destroy_sequence_parallel, world_from_env


class RankZeroArgumentParser(argparse.ArgumentParser):
    """Every rank parses and validates the same arguments; only rank 0 prints the error, every rank exits 2.

    Validation runs before any process group exists, so all ranks fail alike and nobody waits on a peer.
    """

    def error(self, message: str):
        if world_from_env()[0] == 0:
            super().error(message)  # prints usage + message, exits 2
        self.exit(2)


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
