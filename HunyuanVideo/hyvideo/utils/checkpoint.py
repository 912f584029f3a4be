"""Checkpoint file I/O for HunyuanVideo with loud, complete errors (every missing/unexpected key is reported).

The DiT lives in one torch pickle (`mp_rank_00_model_states.pt`) holding the weights under "module" (or "ema",
`--load-key`); a directory holding `*_model_states.pt` or bare `pytorch_model_*.pt` files is accepted as upstream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import Tensor

MODEL_STATES = "mp_rank_00_model_states.pt"
LOAD_KEYS = ("module", "ema")


# Copied from wan/utils/checkpoint.py (CheckpointError .. load_torch_file); tests/test_hyvideo_components.py
# checks that the two copies stay equal.
class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable or does not fit the model."""


def _preview(keys: Iterable[str], limit: int = 6) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def check_state_dict(
    state_dict: dict[str, Tensor],
    expected: dict[str, torch.Size],
    what: str,
    translate: Callable[[dict], dict] | None = None,
) -> None:
    """Raise CheckpointError naming missing keys, unexpected keys and shape mismatches, if any.

    `translate` maps model-side key names back to the file's naming, so errors speak the file's language.
    """

    def names(keys: set[str]) -> list[str]:
        return list(translate(dict.fromkeys(keys)).keys()) if translate else list(keys)

    missing = set(expected) - set(state_dict)
    unexpected = set(state_dict) - set(expected)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys [{_preview(names(missing))}]")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys [{_preview(names(unexpected))}]")
    wrong = [
        f"{names({k})[0]}: file {tuple(state_dict[k].shape)} vs model {tuple(expected[k])}"
        for k in sorted(set(expected) & set(state_dict))
        if state_dict[k].shape != expected[k]
    ]
    if wrong:
        problems.append(f"{len(wrong)} wrong shapes [{'; '.join(wrong[:4])}{' ...' if len(wrong) > 4 else ''}]")
    if problems:
        raise CheckpointError(f"{what} does not fit the model: " + "; ".join(problems))


def load_torch_file(path: str | Path) -> dict[str, Tensor]:
    """A plain state dict saved with torch.save (weights only: no code runs on load)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - re-raised with the file name
        raise CheckpointError(f"cannot read {path}: {type(err).__name__}: {err}") from err
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path} does not hold a state dict (found {type(sd).__name__})")
    return sd


def dit_weight_file(dit_weight: str | Path) -> tuple[Path, bool]:
    """(file, bare): the DiT file named by --dit-weight, and whether it is a bare state dict (no load key)."""
    path = Path(dit_weight)
    if path.is_file():
        return path, False
    if not path.is_dir():
        raise CheckpointError(f"--dit-weight not found: {path}")
    states = sorted(path.glob("*_model_states.pt"))
    if states:
        preferred = path / MODEL_STATES
        return (preferred if preferred.is_file() else states[0]), False
    bare = sorted(path.glob("pytorch_model_*.pt"))
    if len(bare) == 1:
        return bare[0], True
    if len(bare) > 1:
        raise CheckpointError(f"{path} holds several pytorch_model_*.pt files; pass one with --dit-weight")
    raise CheckpointError(f"{path} holds no *_model_states.pt or pytorch_model_*.pt file")


def load_dit_state_dict(dit_weight: str | Path, load_key: str = "module") -> dict[str, Tensor]:
    """The DiT weights of --dit-weight, taken from under `load_key` unless the file is a bare state dict."""
    path, bare = dit_weight_file(dit_weight)
    ckpt = load_torch_file(path)
    if bare:
        return ckpt
    if load_key not in ckpt:
        found = ", ".join(sorted(map(str, ckpt))[:6])
        raise CheckpointError(f"--load-key {load_key!r} not in {path}; the file's top-level keys: {found}")
    sd = ckpt[load_key]
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}[{load_key!r}] is not a state dict (found {type(sd).__name__})")
    return sd
