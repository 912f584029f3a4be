"""The peer methods' published constants for HunyuanVideo T2V (baselines.md; numbers as their authors ship them).

One model pass per step (embedded guidance; real CFG batches both halves into that pass), so every table has
one entry per step and every method one state. MagCache's table is chosen by the video height (720 or 544).
"""

from __future__ import annotations

from pathlib import Path

from delta_cache.peers import load_calibration
from delta_cache.preset_file import shipped_adaptive

# The shipped tiny model's profiled preset: its "adaptive" section is `--cache_method adaptive`'s default there
TINY_PROFILE = Path(__file__).resolve().parents[2] / "assets" / "profile_hy_tiny" / "hyvideo-tiny-profiled.json"


def _floats(text: str) -> tuple[float, ...]:
    """A table written ten values to a row, as its authors print it."""
    return tuple(float(v) for v in text.replace(",", " ").split())


# TeaCache4HunyuanVideo: indicator = modulated input of double block 0; step 0 and the last step forced.
TEA_COEFFICIENTS = (7.33226126e02, -4.01131952e02, 6.75869174e01, -3.14987800e00, 9.61237896e-02)
TEA_SLOW, TEA_FAST = 0.10, 0.15  # README: about 1.6x and 2.1x

# MagCache magnitude ratios, one per step, [1.0] padding for step 0.
MAG_720 = _floats(
    """
    1.0, 1.0754, 1.27807, 1.11596, 1.09504, 1.05188, 1.00844, 1.05779, 1.00657, 1.04142
    1.03101, 1.00679, 1.02556, 1.00908, 1.06949, 1.05438, 1.02214, 1.02321, 1.03019, 1.00779
    1.03381, 1.01886, 1.01161, 1.02968, 1.00544, 1.02822, 1.00689, 1.02119, 1.0105, 1.01044
    1.01572, 1.02972, 1.0094, 1.02368, 1.0226, 0.98965, 1.01588, 1.02146, 1.0018, 1.01687
    0.99436, 1.00283, 1.01139, 0.97122, 0.98251, 0.94513, 0.97656, 0.90943, 0.85703, 0.75456
    """
)

MAG_544 = _floats(
    """
    1.0, 1.06971, 1.29073, 1.11245, 1.09596, 1.05233, 1.01415, 1.05672, 1.00848, 1.03632
    1.02974, 1.00984, 1.03028, 1.00681, 1.06614, 1.05022, 1.02592, 1.01776, 1.02985, 1.00726
    1.03727, 1.01502, 1.00992, 1.03371, 0.9976, 1.02742, 1.0093, 1.01869, 1.00815, 1.01461
    1.01152, 1.03082, 1.0061, 1.02162, 1.01999, 0.99063, 1.01186, 1.0217, 0.99947, 1.01711
    0.9904, 1.00258, 1.00878, 0.97039, 0.97686, 0.94315, 0.97728, 0.91154, 0.86139, 0.76592
    """
)


# DiCache's HunyuanVideo script (run_hunyuanvideo_dicache.py): threshold 0.1 compared with <=, the first 20% of
# the steps computed, g <= 1.5, probe 1 double block
DICACHE = {"threshold": 0.1, "ret_ratio": 0.2, "gamma_max": 1.5, "probe_depth": 1, "inclusive": True}


def dit_folder(model_base: str | Path | None, dit_weight: str | Path | None, dit_path: str) -> Path | None:
    """The folder of the DiT weights (where a `cache_peers.json` calibration lives): --dit-weight's, else the
    config's `dit_path` under --model-base; None without either (random weights)."""
    if dit_weight:
        return Path(dit_weight).parent
    return (Path(model_base) / dit_path).parent if model_base else None


def peer_constants(height: int = 720, ckpt_dir: str | Path | None = None, model: str | None = None) -> dict:
    """{method: settings}; a `cache_peers.json` calibration beside the DiT weights replaces the published ones.

    HYVideo-debug (random weights, 2 + 4 blocks) takes the published numbers, with DBCache at cache-dit's F1B0
    example (F8 leaves no middle block).
    """
    if ckpt_dir is not None and (Path(ckpt_dir) / "cache_peers.json").is_file():
        # DiCache's settings need no calibration: its warm-up is a share of the steps
        out = {"dicache": DICACHE, **load_calibration(Path(ckpt_dir) / "cache_peers.json")}
        adaptive = shipped_adaptive(TINY_PROFILE) if model == "HYVideo-tiny" else None
        return out if adaptive is None else {**out, "adaptive": adaptive}
    tea = dict(indicator="modulated_input", coefficients=TEA_COEFFICIENTS, ret_steps=1, last_forced=1)
    out = {
        "teacache": {"modes": {False: {**tea, "slow": TEA_SLOW, "fast": TEA_FAST}}},
        "fbcache": {"threshold": 0.06},  # ParaAttention's HunyuanVideo default (25f6f0c)
        "magcache": {
            "threshold": 0.24,
            "K": 6,
            "retention_ratio": 0.2,
            "ratios": MAG_544 if height == 544 else MAG_720,
            "branches": None,
            "inclusive": True,  # HunyuanVideo's script compares err <= threshold
        },
        "easycache": {"threshold": 0.025, "ret_steps": 5},
        "dbcache": {"threshold": 0.08, "Fn": 8, "Bn": 0, "max_warmup_steps": 8},  # per block list
        "dicache": DICACHE,
    }
    if model == "HYVideo-debug":
        out["dbcache"] = {"threshold": 0.12, "Fn": 1, "Bn": 0, "max_warmup_steps": 8, "max_continuous_cached_steps": 3}
    return out


def borrowed_settings(scaled) -> tuple[dict, dict]:
    """What a HunyuanVideo model we calibrate ourselves borrows from the published settings (the thresholds and
    counts no calibration run fixes), each count of steps passed through `scaled` (calibrate_peers.py's rule):
    TeaCache's slow and fast thresholds (one mode), and FBCache's, MagCache's and EasyCache's settings."""
    tea = {False: (TEA_SLOW, TEA_FAST)}
    return tea, {
        "fbcache": {"threshold": 0.06},
        "magcache": {"threshold": 0.24, "K": scaled(6), "retention_ratio": 0.2, "inclusive": True},
        "easycache": {"threshold": 0.025, "ret_steps": scaled(5)},
    }
