"""The peer methods' published constants for Wan2.1 (baselines.md; numbers as their authors ship them).

`peer_constants(task, ckpt_dir)` gives {method: settings} for `delta_cache.peers.make_policy`. A
`cache_peers.json` in the checkpoint folder (written by scripts/calibrate_peers.py, shipped with the tiny model)
replaces the published values: the tiny model has none of its own.
"""

from __future__ import annotations

from pathlib import Path

from delta_cache.peers import load_calibration
from delta_cache.preset_file import shipped_adaptive

# The shipped tiny model's profiled preset: its "adaptive" section is `--cache_method adaptive`'s default there
TINY_PROFILE = Path(__file__).resolve().parents[2] / "assets" / "profile_tiny" / "wan2.1-t2v-tiny-profiled.json"


def _floats(text: str) -> tuple[float, ...]:
    """A table written ten values to a row, as its authors print it."""
    return tuple(float(v) for v in text.replace(",", " ").split())


# TeaCache polynomials (highest power first): indicator e (use_ret_steps off) and e0 (on).
TEA_E = {
    "t2v-1.3B": (2.39676752e03, -1.31110545e03, 2.01331979e02, -8.29855975e00, 1.37887774e-01),
    "t2v-14B": (-5784.54975374, 5449.50911966, -1811.16591783, 256.27178429, -13.02252404),
    "i2v-14B-480P": (-3.02331670e02, 2.23948934e02, -5.25463970e01, 5.87348440e00, -2.01973289e-01),
    "i2v-14B-720P": (-114.36346466, 65.26524496, -18.82220707, 4.91518089, -0.23412683),
}
TEA_E0 = {
    "t2v-1.3B": (-5.21862437e04, 9.23041404e03, -5.28275948e02, 1.36987616e01, -4.99875664e-02),
    "t2v-14B": (-3.03318725e05, 4.90537029e04, -2.65530556e03, 5.87365115e01, -3.15583525e-01),
    "i2v-14B-480P": (2.57151496e05, -3.54229917e04, 1.40286849e03, -1.35890334e01, 1.32517977e-01),
    "i2v-14B-720P": (8.10705460e03, 2.13393892e03, -3.72934672e02, 1.66203073e01, -4.17769401e-02),
}
# README slow / fast thresholds: (use_ret_steps off), (on).
TEA_THRESHOLDS = {
    "t2v-1.3B": ((0.05, 0.08), (0.05, 0.10)),
    "t2v-14B": ((0.14, 0.20), (0.10, 0.20)),
    "i2v-14B-480P": ((0.13, 0.26), (0.20, 0.30)),
    "i2v-14B-720P": ((0.20, 0.30), (0.20, 0.30)),
}

# MagCache magnitude ratios, interleaved cond/uncond per step, [1.0, 1.0] padding for step 0.
MAG_T2V_1_3B = _floats(
    """
    1.0, 1.0, 1.0124, 1.02213, 1.00166, 1.0041, 0.99791, 1.00061, 0.99682, 0.99762
    0.99634, 0.99685, 0.99567, 0.99586, 0.99416, 0.99422, 0.99578, 0.99575, 0.9957, 0.99563
    0.99511, 0.99506, 0.99535, 0.99531, 0.99552, 0.99549, 0.99541, 0.99539, 0.9954, 0.99536
    0.99489, 0.99485, 0.99518, 0.99514, 0.99484, 0.99478, 0.99481, 0.99479, 0.99415, 0.99413
    0.99419, 0.99416, 0.99396, 0.99393, 0.99388, 0.99386, 0.99349, 0.99349, 0.99309, 0.99304
    0.9927, 0.9927, 0.99228, 0.99226, 0.99171, 0.9917, 0.99137, 0.99135, 0.99068, 0.99063
    0.99005, 0.99003, 0.98944, 0.98942, 0.98849, 0.98849, 0.98758, 0.98757, 0.98644, 0.98643
    0.98504, 0.98503, 0.9836, 0.98359, 0.98202, 0.98201, 0.97977, 0.97978, 0.97717, 0.97718
    0.9741, 0.97411, 0.97003, 0.97002, 0.96538, 0.96541, 0.9593, 0.95933, 0.95086, 0.95089
    0.94013, 0.94019, 0.92402, 0.92414, 0.90241, 0.9026, 0.86821, 0.86868, 0.81838, 0.81939
    """
)

MAG_T2V_14B = _floats(
    """
    1.0, 1.0, 1.02504, 1.03017, 1.00025, 1.00251, 0.9985, 0.99962, 0.99779, 0.99771
    0.9966, 0.99658, 0.99482, 0.99476, 0.99467, 0.99451, 0.99664, 0.99656, 0.99434, 0.99431
    0.99533, 0.99545, 0.99468, 0.99465, 0.99438, 0.99434, 0.99516, 0.99517, 0.99384, 0.9938
    0.99404, 0.99401, 0.99517, 0.99516, 0.99409, 0.99408, 0.99428, 0.99426, 0.99347, 0.99343
    0.99418, 0.99416, 0.99271, 0.99269, 0.99313, 0.99311, 0.99215, 0.99215, 0.99218, 0.99215
    0.99216, 0.99217, 0.99163, 0.99161, 0.99138, 0.99135, 0.98982, 0.9898, 0.98996, 0.98995
    0.9887, 0.98866, 0.98772, 0.9877, 0.98767, 0.98765, 0.98573, 0.9857, 0.98501, 0.98498
    0.9838, 0.98376, 0.98177, 0.98173, 0.98037, 0.98035, 0.97678, 0.97677, 0.97546, 0.97543
    0.97184, 0.97183, 0.96711, 0.96708, 0.96349, 0.96345, 0.95629, 0.95625, 0.94926, 0.94929
    0.93964, 0.93961, 0.92511, 0.92504, 0.90693, 0.90678, 0.8796, 0.87945, 0.86111, 0.86189
    """
)

MAG_I2V_480P = _floats(
    """
    1.0, 1.0, 0.98783, 0.98993, 0.97559, 0.97593, 0.98311, 0.98319, 0.98202, 0.98225
    0.9888, 0.98878, 0.98762, 0.98759, 0.98957, 0.98971, 0.99052, 0.99043, 0.99383, 0.99384
    0.98857, 0.9886, 0.99065, 0.99068, 0.98845, 0.98847, 0.99057, 0.99057, 0.98957, 0.98961
    0.98601, 0.9861, 0.98823, 0.98823, 0.98756, 0.98759, 0.98808, 0.98814, 0.98721, 0.98724
    0.98571, 0.98572, 0.98543, 0.98544, 0.98157, 0.98165, 0.98411, 0.98413, 0.97952, 0.97953
    0.98149, 0.9815, 0.9774, 0.97742, 0.97825, 0.97826, 0.97355, 0.97361, 0.97085, 0.97087
    0.97056, 0.97055, 0.96588, 0.96587, 0.96113, 0.96124, 0.9567, 0.95681, 0.94961, 0.94969
    0.93973, 0.93988, 0.93217, 0.93224, 0.91878, 0.91896, 0.90955, 0.90954, 0.92617, 0.92616
    """
)

MAG_I2V_720P = _floats(
    """
    1.0, 1.0, 0.99428, 0.99498, 0.98588, 0.98621, 0.98273, 0.98281, 0.99018, 0.99023
    0.98911, 0.98917, 0.98646, 0.98652, 0.99454, 0.99456, 0.9891, 0.98909, 0.99124, 0.99127
    0.99102, 0.99103, 0.99215, 0.99212, 0.99515, 0.99515, 0.99576, 0.99572, 0.99068, 0.99072
    0.99097, 0.99097, 0.99166, 0.99169, 0.99041, 0.99042, 0.99201, 0.99198, 0.99101, 0.99101
    0.98599, 0.98603, 0.98845, 0.98844, 0.98848, 0.98851, 0.98862, 0.98857, 0.98718, 0.98719
    0.98497, 0.98497, 0.98264, 0.98263, 0.98389, 0.98393, 0.97938, 0.9794, 0.97535, 0.97536
    0.97498, 0.97499, 0.973, 0.97301, 0.96827, 0.96828, 0.96261, 0.96263, 0.95335, 0.9534
    0.94649, 0.94655, 0.93397, 0.93414, 0.91636, 0.9165, 0.89088, 0.89109, 0.8679, 0.86768
    """
)

# MagCache README settings: (threshold, K, retention ratio).
MAG_SETTINGS = {
    "t2v-1.3B": (MAG_T2V_1_3B, 0.12, 4, 0.2),
    "t2v-14B": (MAG_T2V_14B, 0.24, 6, 0.2),
    "i2v-14B-480P": (MAG_I2V_480P, 0.24, 6, 0.2),
    "i2v-14B-720P": (MAG_I2V_720P, 0.24, 6, 0.2),
}


def teacache_modes(coefficients_e, coefficients_e0, thresholds) -> dict:
    """TeaCache's two Wan modes: e with step 0 and the last step forced; e0 with the first 5 steps forced."""
    (slow, fast), (slow_ret, fast_ret) = thresholds
    modes = {False: dict(indicator="timestep_embedding", coefficients=coefficients_e, ret_steps=1, last_forced=1)}
    modes[False].update(slow=slow, fast=fast)
    if coefficients_e0 is not None:
        modes[True] = dict(indicator="timestep_projection", coefficients=coefficients_e0, ret_steps=5, last_forced=0)
        modes[True].update(slow=slow_ret, fast=fast_ret)
    return {"modes": modes}


def published(key: str) -> dict:
    """The published constants of one Wan2.1 model ('t2v-1.3B', 't2v-14B', 'i2v-14B-480P', 'i2v-14B-720P')."""
    ratios, mag_thresh, k, retention = MAG_SETTINGS[key]
    return {
        "teacache": teacache_modes(TEA_E[key], TEA_E0[key], TEA_THRESHOLDS[key]),
        "fbcache": {"threshold": 0.03},  # ParaAttention's Wan value (25f6f0c)
        "magcache": {"threshold": mag_thresh, "K": k, "retention_ratio": retention, "ratios": ratios},
        "easycache": {"threshold": 0.05, "ret_steps": 10},
        "dbcache": {"threshold": 0.08, "Fn": 8, "Bn": 0, "max_warmup_steps": 8},  # DBCacheConfig() defaults
        "dicache": DICACHE,
    }


# DiCache's Wan script (run_wan_dicache.py): threshold 0.08, the first 20% of the steps computed, g <= 2, probe 1
DICACHE = {"threshold": 0.08, "ret_ratio": 0.2, "gamma_max": 2.0, "probe_depth": 1}

I2V_480P_SIZES = ("832*480", "480*832")


def peer_constants(task: str, ckpt_dir: str | Path | None = None, size: str | None = None) -> dict:
    """{method: settings} for `task`: the checkpoint folder's calibration file if it has one, else published.

    I2V-14B's constants are per resolution (the 480P and 720P checkpoints): `size` picks them. t2v-debug and
    i2v-debug (random weights, 4 blocks) borrow 1.3B's and I2V-480P's numbers, with DBCache at cache-dit's F1B0
    example.
    """
    if ckpt_dir is not None and (Path(ckpt_dir) / "cache_peers.json").is_file():
        # DiCache's settings need no calibration: its warm-up is a share of the steps
        out = {"dicache": DICACHE, **load_calibration(Path(ckpt_dir) / "cache_peers.json")}
        adaptive = shipped_adaptive(TINY_PROFILE) if task == "t2v-tiny" else None
        return out if adaptive is None else {**out, "adaptive": adaptive}
    if task == "i2v-14B":
        return published("i2v-14B-480P" if size in I2V_480P_SIZES else "i2v-14B-720P")
    if task in MAG_SETTINGS:
        return published(task)
    if task in ("t2v-debug", "i2v-debug"):
        out = published("t2v-1.3B" if task == "t2v-debug" else "i2v-14B-480P")
        out["dbcache"] = {"threshold": 0.12, "Fn": 1, "Bn": 0, "max_warmup_steps": 8, "max_continuous_cached_steps": 3}
        return out
    return {}


def borrowed_settings(scaled) -> tuple[dict, dict]:
    """What a Wan model we calibrate ourselves borrows from T2V-1.3B's published settings (the thresholds and
    counts no calibration run fixes), each count of steps passed through `scaled` (calibrate_peers.py's rule):
    TeaCache's slow and fast thresholds per mode (use_ret_steps False / True), and FBCache's, MagCache's and
    EasyCache's settings."""
    tea = {False: (0.05, 0.08), True: (0.05, 0.10)}  # T2V-1.3B's README slow / fast
    return tea, {
        "fbcache": {"threshold": 0.03},
        "magcache": {"threshold": 0.12, "K": scaled(4), "retention_ratio": 0.2},
        "easycache": {"threshold": 0.05, "ret_steps": scaled(10)},
    }
