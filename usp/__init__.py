"""usp: the sequence-parallel group and USP attention shared by both models (xfuser on CUDA, yunchang on CPU).

Each model package applies it from outside with its own `parallel.py` (`parallelize(model, group)`); this
package never imports a model. The collectives are yunchang's and xfuser's; nothing here reimplements them.
"""

from .cli import (
    SEED_MAX,
    RankZeroArgumentParser,
    device_problem,
    finite_float,
    quiet_other_ranks,
    run_on_group,
    unwritable_reason,
)
from .group import (
    SequenceParallelGroup,
    check_degrees,
    check_layout,
    destroy_sequence_parallel,
    init_sequence_parallel,
    rank_device,
    world_from_env,
    xfuser_available,
)

__all__ = [
    "SEED_MAX",
    "RankZeroArgumentParser",
    "device_problem",
    "finite_float",
    "quiet_other_ranks",
    "run_on_group",
    "unwritable_reason",
    "SequenceParallelGroup",
    "check_degrees",
    "check_layout",
    "destroy_sequence_parallel",
    "init_sequence_parallel",
    "rank_device",
    "world_from_env",
    "xfuser_available",
]
