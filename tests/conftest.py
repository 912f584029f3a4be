"""Shared fixtures: tiny official-format Wan checkpoint directories written once per session."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# sample_video.py's random-weight model (its default is the shipped tiny model, 60 blocks)
HY_DEBUG = ("--model", "HYVideo-debug")


@pytest.fixture(scope="session")
def debug_config():
    from wan.configs import WAN_CONFIGS

    return WAN_CONFIGS["t2v-debug"]


@pytest.fixture(scope="session")
def wan_ckpt(tmp_path_factory, debug_config) -> Path:
    """Single-file DiT checkpoint directory (like T2V-1.3B)."""
    from wan.debug import write_random_checkpoint

    return write_random_checkpoint(tmp_path_factory.mktemp("wan_single"), debug_config, seed=0)


@pytest.fixture(scope="session")
def wan_ckpt_sharded(tmp_path_factory, debug_config) -> Path:
    """Sharded DiT checkpoint directory with an index (like T2V-14B)."""
    from wan.debug import write_random_checkpoint

    return write_random_checkpoint(tmp_path_factory.mktemp("wan_sharded"), debug_config, seed=0, shards=3)


def _script_main(name: str, path: Path):
    """`main` of a CLI script that is not in a package (Wan2.1/ is not importable)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture(scope="session")
def generate_main():
    return _script_main("wan_generate", REPO / "Wan2.1" / "generate.py")


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


@pytest.fixture(scope="session")
def hy_debug_config():
    from hyvideo.configs import HUNYUAN_VIDEO_CONFIG

    return HUNYUAN_VIDEO_CONFIG["HYVideo-debug"]


@pytest.fixture(scope="session")
def hy_ckpt(tmp_path_factory, hy_debug_config) -> Path:
    """Official-format HunyuanVideo `ckpts/` folder (DiT .pt under "module", VAE folder, text encoders)."""
    from hyvideo.debug import write_random_checkpoint

    return write_random_checkpoint(tmp_path_factory.mktemp("hy_ckpts"), hy_debug_config, seed=0)


@pytest.fixture(scope="session")
def sample_video_main():
    return _script_main("hy_sample_video", REPO / "HunyuanVideo" / "sample_video.py")


@pytest.fixture(scope="session")
def profile_main():
    return _script_main("profile_model_script", REPO / "scripts" / "profile_model.py")


@pytest.fixture(scope="session")
def to_diffusers_main():
    return _script_main("to_diffusers_script", REPO / "scripts" / "to_diffusers.py")


@pytest.fixture(scope="session")
def diffusers_demo_main():
    return _script_main("diffusers_demo_script", REPO / "scripts" / "diffusers_demo.py")


@pytest.fixture(scope="session")
def reproduce_main():
    return _script_main("reproduce_script", REPO / "scripts" / "reproduce.py")


def run_script(main, argv: list[str], capsys) -> subprocess.CompletedProcess:
    """A script's `main` run in this process, its exit code, stdout and stderr as the shell would see them: an
    argparse error is SystemExit(2), a `sys.exit("message")` exit code 1 with the message on stderr."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    err = captured.err
    if isinstance(code, str):
        code, err = 1, err + code + "\n"
    return subprocess.CompletedProcess(argv, code, captured.out, err)


def run_main(main, argv: list[str], capsys) -> tuple[int, str]:
    """(exit code, stderr) of `run_script`."""
    done = run_script(main, argv, capsys)
    return done.returncode, done.stderr


# the tiny models' flags for a diffusers conversion at 8 steps (the folders' generation settings)
TINY_STEPS = {"wan": ["--sample_steps", "8"], "hunyuanvideo": ["--model", "hunyuanvideo", "--infer-steps", "8"]}


@pytest.fixture(scope="session")
def converted(tmp_path_factory, to_diffusers_main):
    """Both shipped tiny models converted to diffusers pipeline folders at 8 steps (scripts/to_diffusers.py)."""
    pytest.importorskip("diffusers")
    out = {}
    for model, flags in TINY_STEPS.items():
        folder = tmp_path_factory.mktemp("pipelines") / model
        assert to_diffusers_main([*flags, "--out", str(folder)]) == 0
        out[model] = folder
    return out
