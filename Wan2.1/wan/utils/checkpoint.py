"""Checkpoint file I/O with loud, complete errors (every missing/unexpected key is reported)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import Tensor

DIT_CONFIG = "config.json"
DIT_SINGLE = "diffusion_pytorch_model.safetensors"
DIT_INDEX = "diffusion_pytorch_model.safetensors.index.json"


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


def dit_files(ckpt_dir: str | Path) -> list[Path]:
    """The DiT safetensors files of an official directory: one file, or the shards named by the index."""
    ckpt_dir = Path(ckpt_dir)
    single, index = ckpt_dir / DIT_SINGLE, ckpt_dir / DIT_INDEX
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError) as err:
            raise CheckpointError(f"{index} is not a safetensors index (no 'weight_map')") from err
        files = [ckpt_dir / name for name in sorted(set(weight_map.values()))]
        absent = [f.name for f in files if not f.is_file()]
        if absent:
            raise CheckpointError(f"{ckpt_dir}: shards named by the index are missing: {', '.join(absent)}")
        return files
    if single.is_file():
        return [single]
    raise CheckpointError(f"{ckpt_dir}: no DiT weights ({DIT_SINGLE} or {DIT_INDEX})")


def load_dit_state_dict(ckpt_dir: str | Path) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    sd: dict[str, Tensor] = {}
    for f in dit_files(ckpt_dir):
        try:
            sd.update(load_file(str(f)))
        except Exception as err:  # noqa: BLE001
            raise CheckpointError(f"cannot read {f}: {err}") from err
    return sd


def read_dit_config(ckpt_dir: str | Path) -> dict:
    path = Path(ckpt_dir) / DIT_CONFIG
    if not path.is_file():
        raise CheckpointError(f"{ckpt_dir}: {DIT_CONFIG} not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not valid JSON: {err}") from err
