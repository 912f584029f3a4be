"""The profiler's figures (matplotlib, imported lazily, Agg backend): the paper's Figs. 2, 3/6 and 4, sensitivity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.partial.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    tmp.replace(path)


def r_attn_heatmap(tables: dict[str, np.ndarray], path: Path, background: dict[str, tuple[int, ...]]) -> None:
    """R_attn, blocks x steps, one panel per stack (Fig. 2); background (cached) blocks marked with a dot."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(tables), figsize=(5 * len(tables), 3.6), squeeze=False)
    for ax, (stack, t) in zip(axes[0], tables.items(), strict=True):
        im = ax.imshow(t.T, aspect="auto", origin="lower", cmap="magma", interpolation="nearest")
        ax.set_xlabel("step")
        ax.set_ylabel(f"block of {stack}")
        ax.set_title(f"R_attn ({stack})")
        for i in background[stack]:
            ax.plot(-0.9, i, "o", color="tab:cyan", ms=4, clip_on=False)
        fig.colorbar(im, ax=ax)
    _save(fig, path)


def step_curve(drift: dict[str, np.ndarray], refreshes: tuple[int, ...], warmup: int, path: Path) -> None:
    """mean |ε_s − ε_{s+1}| per CFG branch (Fig. 4) with the chosen warm-up and refresh steps."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, d in drift.items():
        ax.plot(np.arange(len(d)), d, marker=".", label=name)
    ax.axvspan(-0.5, warmup - 0.5, color="0.85", label="warm-up")
    for s in refreshes:
        ax.axvline(s, color="tab:red", lw=0.8, alpha=0.6)
    ax.set_xlabel("step s")
    ax.set_ylabel("mean |ε_s − ε_{s+1}|")
    ax.set_title("step statistic (red: refresh steps)")
    ax.legend(fontsize=8)
    _save(fig, path)


def sensitivity_bars(rows: list[dict], background: dict[str, tuple[int, ...]], path: Path) -> None:
    """Latent error of caching each block alone; background blocks blue, foreground orange; runs listed apart."""
    plt = _plt()
    singles = [r for r in rows if len(r["blocks"]) == 1]
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(singles) + 2), 3.2))
    labels = [f"{r['stack'][0]}{r['blocks'][0]}" for r in singles]
    colours = ["tab:blue" if r["blocks"][0] in background[r["stack"]] else "tab:orange" for r in singles]
    ax.bar(range(len(singles)), [r["latent_rel_l2"] for r in singles], color=colours)
    ax.set_xticks(range(len(singles)), labels, rotation=90 if len(singles) > 16 else 0, fontsize=7)
    ax.set_ylabel("latent rel. L2 vs full")
    ax.set_title("cached alone (blue: background-focused, orange: foreground-focused)")
    _save(fig, path)


def attention_overlay(
    fg_block: torch.Tensor,
    bg_block: torch.Tensor,
    mask: torch.Tensor,
    frames: np.ndarray | None,
    titles: tuple[str, str],
    path: Path,
) -> None:
    """ā of one foreground- and one background-focused block over the middle token frame (Figs. 3/6).

    fg_block/bg_block: ā [f, h, w]; mask [f, h, w]; frames: the decoded video [F, H, W, 3] or None.
    """
    plt = _plt()
    f = fg_block.shape[0]
    j = f // 2
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    if frames is not None:
        k = min(len(frames) - 1, round(j * (len(frames) - 1) / max(f - 1, 1)))
        axes[0].imshow(frames[k])
        axes[0].set_title(f"frame {k}, mask contour")
        h, w = frames.shape[1:3]
    else:
        axes[0].imshow(mask[j].float().numpy(), cmap="gray")
        axes[0].set_title("foreground mask")
        h, w = mask.shape[1:]
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)  # token cells stretched over the frame's pixels
    th, tw = mask.shape[1:]
    ys, xs = (np.arange(th) + 0.5) * h / th - 0.5, (np.arange(tw) + 0.5) * w / tw - 0.5
    for ax in axes:
        ax.contour(xs, ys, mask[j].float().numpy(), levels=[0.5], colors="cyan", linewidths=1)
    for ax, a, title in zip(axes[1:], (fg_block, bg_block), titles, strict=True):
        if frames is not None:
            ax.imshow(frames[k], alpha=0.45)
        ax.imshow(a[j].float().numpy(), cmap="inferno", alpha=0.75, extent=extent)
        ax.set_title(title, fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    _save(fig, path)
