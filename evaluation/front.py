"""Does one method's front dominate every other method's point? The check issue 34 sets for `adaptive`.

The front: the method's settings `NAME-speedup=S` of a run, ordered by theoretical speedup, PSNR interpolated
linearly between neighbours. Every other method's point (its mean PSNR at its mean theoretical speedup, full
compute and the front method's other settings, its ablations, aside) within the speed range gets its margin:
the front's PSNR at that speedup minus its own. A point outside the front's speeds is reported uncovered.
Beside it, per front setting: measured over theoretical speedup, and adherence against full compute in prompts.
"""

from __future__ import annotations

import math
import re

import numpy as np


def front_settings(summary: list[dict], name: str) -> list[dict]:
    pattern = re.compile(rf"^{re.escape(name)}-speedup=[0-9.]+$")
    return sorted((s for s in summary if pattern.match(s["method"])), key=lambda s: s["theoretical_speedup"])


def margins(summary: list[dict], name: str = "adaptive", lo: float = 1.5, hi: float = 3.5) -> list[dict]:
    """Per other method's point with lo <= theoretical speedup <= hi: the front's PSNR there and the margin."""
    front = front_settings(summary, name)
    xs = [s["theoretical_speedup"] for s in front]
    ys = [s["psnr"] for s in front]
    out = []
    for s in summary:
        x = s["theoretical_speedup"]
        if s["method"] == "full" or s["method"].startswith(f"{name}-") or s["method"] == name:
            continue
        if x is None or not lo <= x <= hi or s["psnr"] is None:
            continue
        covered = bool(front) and xs[0] <= x <= xs[-1]
        at = float(np.interp(x, xs, ys)) if covered else None
        out.append(
            {
                "method": s["method"],
                "theoretical_speedup": x,
                "psnr": s["psnr"],
                "front_psnr": at,
                "margin": None if at is None or math.isinf(s["psnr"]) else at - s["psnr"],
            }
        )
    return sorted(out, key=lambda r: r["theoretical_speedup"])


def front_checks(summary: list[dict], prompts: int, name: str = "adaptive") -> list[dict]:
    """Per front setting: measured / theoretical speedup and each adherence column's difference to full
    compute in prompts (positive: more prompts pass than under full compute)."""
    full = next((s for s in summary if s["method"] == "full"), {})
    rows = []
    for s in front_settings(summary, name):
        row = {"method": s["method"], "theoretical_speedup": s["theoretical_speedup"], "speedup": s["speedup"]}
        row["measured_ratio"] = s["speedup"] / s["theoretical_speedup"] if s["speedup"] else None
        for key in ("colour_ok", "direction_ok", "background_ok"):
            if s.get(key) is not None and full.get(key) is not None:
                row[key] = round((s[key] - full[key]) * prompts)
        rows.append(row)
    return rows


def front_markdown(summary: list[dict], prompts: int, name: str = "adaptive", lo: float = 1.5, hi: float = 3.5):
    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    lines = [
        f"Every other method's point between {lo}x and {hi}x theoretical against the {name} front:",
        "",
        f"| Method | Theoretical | PSNR | {name} front there | Margin (dB) |",
        "|---|---|---|---|---|",
    ]
    for r in margins(summary, name, lo, hi):
        psnr = "inf" if math.isinf(r["psnr"]) else f(r["psnr"], ".2f")
        margin = f(r["margin"], "+.2f") if r["front_psnr"] is not None else "not covered"
        lines.append(
            f"| {r['method']} | {r['theoretical_speedup']:.2f}x | {psnr} | {f(r['front_psnr'], '.2f')} | {margin} |"
        )
    lines += [
        "",
        f"The {name} settings: measured against theoretical speedup, adherence against full compute (prompts):",
        "",
        "| Setting | Theoretical | Measured | Measured / theoretical | colour | direction | static bg |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in front_checks(summary, prompts, name):
        adherence = " | ".join(
            f"{r.get(k, '-'):+d}" if k in r else "-" for k in ("colour_ok", "direction_ok", "background_ok")
        )
        lines.append(
            f"| {r['method']} | {r['theoretical_speedup']:.2f}x | {f(r['speedup'], '.2f')}x | "
            f"{f(r['measured_ratio'], '.2f')} | {adherence} |"
        )
    return "\n".join(lines) + "\n"
