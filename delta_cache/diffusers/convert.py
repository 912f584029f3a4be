"""A model of ours (a `Target`) written as a diffusers pipeline folder, and read back with its call keywords.

The folder is what diffusers' own `DiffusionPipeline.from_pretrained` reads, plus `delta_cache.json`: the
pipeline-call keywords that generate as our CLI does (size, frames, steps, guidance, negative prompt, prompt
encoding), which `scripts/diffusers_demo.py` passes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

CALL_FILE = "delta_cache.json"


def write_pipeline(target, out: str | Path) -> Path:
    """Load `target` on the CPU and write its diffusers folder to `out`: complete, or nothing (it is built in a
    staging folder beside `out` and renamed into place). `out` must not exist or be empty."""
    import torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="to-diffusers-") as tmp:
            target.prepare(tmp)
            target.load(torch.device("cpu"), None)
            call = target.save_diffusers(staging)
        identity = json.loads(json.dumps(target.identity(), default=str))
        record = {"model": target.name, "from": identity, "call": call}
        (staging / CALL_FILE).write_text(json.dumps(record, indent=1))
        if out.exists():
            out.rmdir()  # empty: replaced by the finished folder
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def read_record(folder: str | Path) -> dict:
    """The folder's `delta_cache.json` (the model it was made from, the call keywords); ValueError naming what is
    missing."""
    path = Path(folder) / CALL_FILE
    try:
        record = json.loads(path.read_text())
        record["call"]  # noqa: B018 (a record without call keywords is not ours)
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a folder written by scripts/to_diffusers.py ({err})") from err
    return record


def read_call(folder: str | Path) -> dict:
    """The folder's pipeline-call keywords (`delta_cache.json`); ValueError naming what is missing."""
    return read_record(folder)["call"]


def converted(target, folder: str | Path) -> Path:
    """The diffusers folder of `target` (a model of ours from its CLI's flags) at `folder`, written on first
    use. ValueError where the folder was converted from another setting than `target`'s (the step count
    aside: a pipeline call takes any)."""
    folder = Path(folder)
    if not folder.exists():
        print(f"converting {target.profile_name()} into {folder} (scripts/to_diffusers.py)")
        return write_pipeline(target, folder)
    made_from = read_record(folder).get("from", {})
    now = json.loads(json.dumps(target.identity(), default=str))
    differ = [k for k in now if k != "steps" and made_from.get(k) != now[k]]
    if differ:
        changes = ", ".join(f"{k}: {made_from.get(k)} -> {now[k]}" for k in differ)
        raise ValueError(f"{folder} was converted from another setting ({changes}); convert again into a new folder")
    return folder
