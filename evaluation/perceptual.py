"""LPIPS (alex) and FID, the paper's optional metrics, computed only when their packages and weights are present.

The release (method.md §6.2) scored `lpips.LPIPS(net='alex')` per frame on `im2tensor` inputs (uint8 -> [-1, 1])
and `pytorch_fid` per video: the 2048-d pool features of the reference's frames against the generated video's,
a Fréchet distance between the two Gaussians, then the mean over videos. With 129 frames a 2048-d covariance is
rank-deficient, so that per-video FID is noisy; a pooled FID (every frame of every prompt, one Gaussian per
method) is reported beside it. Both packages import torchvision and download ImageNet weights at first use, so on
a CPU machine without them each metric is reported as skipped with the reason instead.
"""

from __future__ import annotations

import numpy as np
import torch

_BATCH = 32


def _torch_frames(frames: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 [F, H, W, 3] -> float [F, 3, H, W] in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 255.0


class Lpips:
    """Mean over frames of LPIPS-alex v0.1 between a video and its reference."""

    def __init__(self, device: torch.device):
        import lpips  # optional extra

        self.device = device
        self.net = lpips.LPIPS(net="alex", version="0.1", verbose=False).to(device).eval()

    @torch.no_grad()
    def __call__(self, reference: np.ndarray, video: np.ndarray) -> float:
        values = []
        for i in range(0, len(reference), _BATCH):
            ref = _torch_frames(reference[i : i + _BATCH], self.device) * 2 - 1  # im2tensor's [-1, 1]
            out = _torch_frames(video[i : i + _BATCH], self.device) * 2 - 1
            values.append(self.net(ref, out).flatten().double().cpu())
        return float(torch.cat(values).mean())


class InceptionFeatures:
    """pytorch_fid's InceptionV3 (the TF FID weights): [F, H, W, 3] uint8 -> [F, 2048] float64 pool features."""

    def __init__(self, device: torch.device):
        from pytorch_fid.inception import InceptionV3  # optional extra

        self.device = device
        self.net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).to(device).eval()

    @torch.no_grad()
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        out = [self.net(_torch_frames(frames[i : i + _BATCH], self.device))[0] for i in range(0, len(frames), _BATCH)]
        return torch.cat(out).flatten(1).double().cpu().numpy()


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), with pytorch_fid's guards for a singular product."""
    from scipy import linalg

    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # singular product (few samples): regularise both, as pytorch_fid does
        offset = np.eye(len(sigma1)) * 1e-6
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: imaginary component {np.max(np.abs(covmean.imag)):.3g} in sqrt(S1 S2)")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of [N, D] features (np.cov, as pytorch_fid)."""
    return features.mean(axis=0), np.cov(features, rowvar=False)


def video_fid(reference: np.ndarray, video: np.ndarray) -> float:
    """The paper's per-video FID from two [F, D] feature arrays."""
    return frechet_distance(*gaussian(reference), *gaussian(video))


class PooledGaussian:
    """Running sums of [N, D] features, so a pooled FID over every frame needs no stored features."""

    def __init__(self):
        self.n, self.total, self.outer = 0, 0.0, 0.0

    def add(self, features: np.ndarray) -> None:
        self.n += len(features)
        self.total = self.total + features.sum(axis=0)
        self.outer = self.outer + features.T @ features

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        mu = self.total / self.n
        return mu, (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)


def load_optional(name: str, device: torch.device):
    """(metric, None) when `name` ('lpips' or 'fid') can run here, else (None, why not) in one line."""
    import importlib

    package = {"lpips": "lpips", "fid": "pytorch_fid.inception"}[name]
    try:  # a torchvision built for another torch fails with a RuntimeError, not an ImportError
        importlib.import_module(package)
    except Exception as err:
        pip = "lpips" if name == "lpips" else "pytorch-fid"
        return None, f"{package} not importable ({_one_line(err)}); pip install {pip} and a matching torchvision"
    try:
        return (Lpips(device) if name == "lpips" else InceptionFeatures(device)), None
    except Exception as err:  # weights not cached and no network, mostly
        return None, f"{package} could not load its weights ({_one_line(err)})"


def _one_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:160]
