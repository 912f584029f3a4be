"""scripts/gpu_check.py's code paths at toy sizes on CPU (the real run needs a GPU), and its input checks."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO, _script_main, run_main

GPU_CHECK = REPO / "scripts" / "gpu_check.py"


def test_gpu_check_smoke_run_writes_every_part(tmp_path):
    out = tmp_path / "results.md"
    res = subprocess.run(
        [sys.executable, str(GPU_CHECK), "--smoke", "--out", str(out)], capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-3000:]
    text = out.read_text()
    for part in ("env", "attention", "bench_wan", "bench_hyvideo", "memory", "nccl"):
        assert f"### {part} (" in text, part
    assert '"error"' not in text
    # the bench part reports both delta dtypes, bf16 smaller, and compiled step times
    assert '"bf16"' in text and '"compiled_speedup"' in text


def test_gpu_check_refuses_a_cpu_run_and_unknown_parts(tmp_path, capsys):
    import torch

    main = _script_main("gpu_check_script", GPU_CHECK)
    out = tmp_path / "r.md"
    if not torch.cuda.is_available():
        code, err = run_main(main, ["--out", str(out)], capsys)
        assert code == 2 and "no CUDA device" in err.strip().splitlines()[-1]
    code, err = run_main(main, ["--smoke", "--parts", "env,speed", "--out", str(out)], capsys)
    assert code == 2 and "unknown ['speed']" in err
    assert not out.exists()
