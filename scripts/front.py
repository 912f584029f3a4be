"""Check one method's front against every other point of a reproduce.py run folder.

    python scripts/front.py outputs/reproduce_peers                 # adaptive, 1.5x-3.5x, writes RUN/front.md
    python scripts/front.py RUN --method adaptive --range 1.5 3.5

Reads RUN/results.jsonl (no video is generated or scored again); evaluation/front.py says what is compared.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from evaluation.front import front_markdown  # noqa: E402
from evaluation.harness import summarise  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="One method's front against every other point of a run folder.")
    p.add_argument("run", type=Path, help="a scripts/reproduce.py run folder")
    p.add_argument("--method", default="adaptive", help="the front: its NAME-speedup=S settings in the run")
    p.add_argument("--range", type=float, nargs=2, default=(1.5, 3.5), metavar=("LO", "HI"))
    args = p.parse_args(argv)
    results = args.run / "results.jsonl"
    if not results.is_file():
        p.error(f"{results} not found; give a folder scripts/reproduce.py scored")
    lo, hi = args.range
    if not 1 <= lo < hi:
        p.error(f"--range must be 1 <= LO < HI, got {lo} {hi}")
    rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    summary = summarise(rows)
    prompts = len({r["index"] for r in rows})
    if not any(s["method"].startswith(f"{args.method}-speedup=") for s in summary):
        p.error(f"{results} has no {args.method}:speedup=S settings")
    text = front_markdown(summary, prompts, args.method, lo, hi)
    (args.run / "front.md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
