"""The three packages import from anywhere, and `wan` is this repository's (not upstream's)."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_packages_import_from_another_directory(tmp_path):
    code = "import wan, hyvideo, delta_cache; print(wan.__file__)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().startswith(str(REPO))


def test_upstream_public_names():
    from wan.configs import SIZE_CONFIGS, WAN_CONFIGS
    from wan.modules.model import WanModel  # noqa: F401
    from wan.text2video import WanT2V  # noqa: F401

    assert {"t2v-14B", "t2v-1.3B"} <= set(WAN_CONFIGS)
    assert SIZE_CONFIGS["832*480"] == (832, 480)
