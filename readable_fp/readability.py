"""How readable a renderer is: near copies of a latent, image distances, and how well the
distances separate near copies from independent latents (ROC AUC).

Shared by the StyleGAN2 evaluation (gan_training/evaluate.py) and the vector-dog evaluation
(bench/vector_dog_eval.py), so both renderers are judged by the same measurement.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

NEAR_COSINE = 0.95


def near_copies(z: torch.Tensor, cosine: float = NEAR_COSINE, generator: torch.Generator | None = None) -> torch.Tensor:
    """Return z' with cos(z_i, z'_i) == ``cosine`` and |z'_i| == |z_i| for each row of ``z``.

    z' = |z| (c z/|z| + sqrt(1 - c^2) u/|u|) with u a Gaussian direction made orthogonal to z.
    """
    if not -1.0 <= cosine <= 1.0:
        raise ValueError(f"cosine must lie in [-1, 1], got {cosine}")
    z64 = z.detach().to(torch.float64).reshape(z.shape[0], -1)
    g = torch.randn(z64.shape, generator=generator, dtype=torch.float32).to(torch.float64)
    norm = z64.norm(dim=1, keepdim=True)
    zhat = z64 / norm
    u = g - (g * zhat).sum(dim=1, keepdim=True) * zhat
    u = u - (u * zhat).sum(dim=1, keepdim=True) * zhat  # second Gram-Schmidt pass for exactness
    uhat = u / u.norm(dim=1, keepdim=True)
    out = norm * (cosine * zhat + math.sqrt(max(0.0, 1.0 - cosine * cosine)) * uhat)
    return out.reshape(z.shape).to(z.dtype)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a = a.to(torch.float64).reshape(a.shape[0], -1)
    b = b.to(torch.float64).reshape(b.shape[0], -1)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    w = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (w / w.sum()).to(torch.float32)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM of two N x C x H x W batches (Gaussian window, per channel, valid filtering).

    Returns a length-N tensor: the mean SSIM over channels and window positions.
    """
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two N x C x H x W tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    x = x.to(torch.float32)
    y = y.to(torch.float32)
    n, c, h, w = x.shape
    size = min(win_size, h, w)
    if size % 2 == 0:
        size -= 1
    size = max(size, 1)
    g = _gaussian_window(size, sigma)
    kh = g.view(1, 1, size, 1).repeat(c, 1, 1, 1)
    kw = g.view(1, 1, 1, size).repeat(c, 1, 1, 1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, kh, groups=c), kw, groups=c)

    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x * mu_x
    syy = blur(y * y) - mu_y * mu_y
    sxy = blur(x * y) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2))
    return s.mean(dim=(1, 2, 3))


def ssim_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1 - SSIM for images in [0, 1]."""
    return 1.0 - ssim(x, y, data_range=1.0)


def blur_l2_distance(x: torch.Tensor, y: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """RMS difference of images in [0, 1] after ``factor`` x ``factor`` area downsampling."""
    f = max(1, min(factor, x.shape[-1], x.shape[-2]))
    dx = F.avg_pool2d(x.to(torch.float32), f) - F.avg_pool2d(y.to(torch.float32), f)
    return dx.pow(2).mean(dim=(1, 2, 3)).sqrt()


DISTANCES = {"1-ssim": ssim_distance, "blur_l2": blur_l2_distance}


def _average_ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="mergesort")
    sv = v[order]
    ranks = np.empty(len(v), dtype=np.float64)
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def roc_auc_smaller(d_near, d_indep) -> float:
    """AUC for 'near pairs have smaller distance': P(d_near < d_indep) + 0.5 P(equal).

    Mann-Whitney U from average ranks; equals the brute-force mean over all (near, indep) pairs.
    """
    a = np.asarray(d_near, dtype=np.float64).ravel()
    b = np.asarray(d_indep, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError("roc_auc_smaller needs at least one value in each group")
    ranks = _average_ranks(np.concatenate([a, b]))
    rb = ranks[a.size :].sum()  # rank sum of the independent (should be larger) group
    u = rb - b.size * (b.size + 1) / 2.0  # pairs where d_indep > d_near (ties count 0.5)
    return float(u / (a.size * b.size))
