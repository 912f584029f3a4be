"""Foreground masks for R_attn: from the model's own prediction (`motion`), from a file, or from SAM2.

All masks end on the token grid [f, h, w] (bool) that ā is reshaped to; `to_token_grid` does the pooling
from a finer grid (the latent grid, or pixels) with an explicit area rule.

`motion` (the default for real models) replaces the paper's PCA + SAM2 by a rule that needs no checkpoint: the
foreground is where a voxel of the prediction deviates from the per-pixel temporal median of the clip (a static
background is its own median), split by Otsu's threshold. The paper's PCA to 3 channels is an option;
docs/profiler.md measures the variants against the tiny model's ground truth.

Mask file format (`--mask file`): a .npy or .npz (key "mask") array of shape [F, H, W] (one clip, used for
every prompt) or [P, F, H, W] (one per prompt), nonzero = foreground, on the pixel grid (F = frames), the
latent grid or the token grid; any grid that divides evenly onto the token grid is accepted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

MASK_SOURCES = ("scene", "motion", "file", "sam2")


def to_token_grid(mask: Tensor, grid: tuple[int, int, int], min_area: float = 0.5) -> Tensor:
    """[F', H', W'] bool/float on a grid that divides onto `grid` (f, h, w) -> [f, h, w] bool.

    Time is pooled with "any" (a frame group is foreground where any of its frames is: the causal VAE packs
    4 frames into a latent frame, the first one alone), space by area: a token is foreground when at least
    `min_area` of its cells are. A pixel-rate time axis (4k + 1 frames for k latent frames) is grouped as the
    VAE groups it.
    """
    f, h, w = grid
    m = mask.float()
    if m.shape[0] != f:
        if (m.shape[0] - 1) % max(f - 1, 1) == 0 and f > 1:
            step = (m.shape[0] - 1) // (f - 1)
            m = torch.stack([m[0]] + [m[1 + j * step : 1 + (j + 1) * step].amax(dim=0) for j in range(f - 1)])
        elif m.shape[0] % f == 0:
            m = m.unflatten(0, (f, -1)).amax(dim=1)
        else:
            raise ValueError(f"mask has {mask.shape[0]} frames, which do not group onto {f} token frames")
    if m.shape[1] % h or m.shape[2] % w:
        raise ValueError(f"mask of {tuple(mask.shape[1:])} pixels does not divide onto the {h}x{w} token grid")
    area = F.avg_pool2d(m[:, None], (m.shape[1] // h, m.shape[2] // w))[:, 0]
    return area >= min_area


def pca3(x: Tensor) -> Tensor:
    """[C, F, H, W] -> [3, F, H, W]: the top 3 principal components over all voxels (the paper's RGB image)."""
    c = x.shape[0]
    flat = x.float().reshape(c, -1).T  # [voxels, C]
    flat = flat - flat.mean(dim=0)
    _, _, v = torch.linalg.svd(flat, full_matrices=False)
    return (flat @ v[: min(3, c)].T).T.reshape(-1, *x.shape[1:])


def otsu(values: Tensor, bins: int = 256) -> float:
    """Otsu's threshold: the split of a 1-D sample that maximises the between-class variance."""
    v = values.flatten().double()
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return hi
    hist = torch.histc(v, bins=bins, min=lo, max=hi)
    centres = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)
    centres = (centres[:-1] + centres[1:]) / 2
    w0 = hist.cumsum(0)
    w1 = hist.sum() - w0
    m0 = (hist * centres).cumsum(0) / w0.clamp(min=1)
    m1 = ((hist * centres).sum() - (hist * centres).cumsum(0)) / w1.clamp(min=1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(centres[int(between.argmax())])


def motion_mask(prediction: Tensor, reduce: str = "none", standardise: bool = True) -> Tensor:
    """Foreground [F, H, W] bool from a latent-grid prediction [C, F, H, W] (the final x0 of a generation).

    `reduce`: "none" (all channels) or "pca" (3 channels, the paper's image); `standardise`: each latent frame's
    channels brought to zero mean and unit variance first (the causal VAE's first latent frame holds one frame,
    the others four, and their statistics differ). The deviation from the per-pixel temporal median is split by
    Otsu's threshold over all voxels. The defaults are the best of these variants on the tiny model (docs).
    """
    if reduce not in ("pca", "none"):
        raise ValueError(f"motion mask: reduce must be pca or none, got {reduce!r}")
    x = pca3(prediction) if reduce == "pca" else prediction.float()
    if standardise:
        x = (x - x.mean(dim=(2, 3), keepdim=True)) / x.std(dim=(2, 3), keepdim=True).clamp(min=1e-6)
    deviation = (x - x.median(dim=1, keepdim=True).values).norm(dim=0)  # [F, H, W]
    return deviation > otsu(deviation)


def iou(a: Tensor, b: Tensor) -> float:
    union = (a | b).sum().item()
    return (a & b).sum().item() / union if union else 1.0


def load_mask_file(path: str | Path, prompts: int) -> np.ndarray:
    """The masks of `--mask_file`, [P, F, H, W] bool (a single clip is repeated for every prompt).

    Shape errors against the token grid surface later in `to_token_grid`; this checks the file itself.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--mask_file not found: {path}")
    try:
        data = np.load(path)
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(f"--mask_file {path} is not a .npy/.npz file: {err}") from err
    if isinstance(data, np.lib.npyio.NpzFile):
        if "mask" not in data:
            raise ValueError(f"--mask_file {path} has no array named 'mask' (found: {', '.join(data.files)})")
        data = data["mask"]
    if data.ndim == 3:
        data = np.broadcast_to(data, (prompts, *data.shape))
    if data.ndim != 4:
        raise ValueError(f"--mask_file {path}: expected [F, H, W] or [P, F, H, W], got shape {list(data.shape)}")
    if data.shape[0] != prompts:
        raise ValueError(f"--mask_file {path} holds masks for {data.shape[0]} prompts; profiling {prompts}")
    return data != 0


def check_mask_grid(shape: tuple[int, ...], grid: tuple[int, int, int], what: str) -> None:
    """One-line error when a [.., F, H, W] mask cannot pool onto the token grid (before any model loads)."""
    try:
        to_token_grid(torch.zeros(shape[-3:], dtype=torch.bool), grid)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from err


def sam2_mask(rgb: np.ndarray, checkpoint: str | None, config: str | None) -> Tensor:
    """SAM2 on the PCA image, when the `sam2` package and a checkpoint are present (lazily imported).

    rgb: [F, H, W, 3] float in [0, 1]. Automatic mask generation on the middle frame; the foreground is the
    union of the masks that are neither the largest region (the background) nor touching every border.
    Frames are segmented independently.
    """
    try:
        from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator
        from sam2.build_sam import build_sam2
    except ImportError as err:
        raise ValueError("--mask sam2 needs the `sam2` package (pip install sam2); use --mask motion instead") from err
    if not checkpoint or not Path(checkpoint).is_file() or not config:
        raise ValueError("--mask sam2 needs --sam2_checkpoint FILE and --sam2_config NAME (e.g. sam2.1_hiera_s.yaml)")
    generator = SAM2AutomaticMaskGenerator(build_sam2(config, checkpoint, device="cuda"))
    out = []
    for frame in (rgb * 255).astype(np.uint8):
        masks = sorted(generator.generate(frame), key=lambda m: -m["area"])
        fg = np.zeros(frame.shape[:2], dtype=bool)
        for m in masks[1:]:
            seg = m["segmentation"]
            if not (seg[0].any() and seg[-1].any() and seg[:, 0].any() and seg[:, -1].any()):
                fg |= seg
        out.append(fg)
    return torch.from_numpy(np.stack(out))
