"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

Plain-torch port of the authors' reference implementation: colour (brightness, saturation,
contrast), translation (with zero padding) and cutout. Every transform is a differentiable
function of the image, so the generator receives gradients through the augmentation; the same
policy is applied to real and generated images before they reach the discriminator.

Images are float tensors [N, C, H, W] in [-1, 1]. Random parameters are drawn with
``generator`` when one is given (on that generator's device), else with the global RNG on the
image's device. Training on a GPU passes a CUDA generator: a CPU draw would need a
host-to-device copy per transform, and each such copy waits for the GPU's queue to drain.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["DiffAugment", "POLICIES"]


def _device(x: torch.Tensor, generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else x.device


def _rand(shape, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    r = torch.rand(shape, generator=generator, device=_device(x, generator))
    return r.to(device=x.device, dtype=x.dtype)


def _randint(low: int, high: int, shape, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=generator, device=_device(x, generator)).to(x.device)


def rand_brightness(x, generator=None):
    return x + (_rand((x.size(0), 1, 1, 1), x, generator) - 0.5)


def rand_saturation(x, generator=None):
    x_mean = x.mean(dim=1, keepdim=True)
    return (x - x_mean) * (_rand((x.size(0), 1, 1, 1), x, generator) * 2) + x_mean


def rand_contrast(x, generator=None):
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (_rand((x.size(0), 1, 1, 1), x, generator) + 0.5) + x_mean


def rand_translation(x, generator=None, ratio: float = 0.125):
    n, _, h, w = x.shape
    shift_x, shift_y = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = _randint(-shift_x, shift_x + 1, (n, 1, 1), x, generator)
    ty = _randint(-shift_y, shift_y + 1, (n, 1, 1), x, generator)
    gb, gx, gy = torch.meshgrid(
        torch.arange(n, device=x.device), torch.arange(h, device=x.device),
        torch.arange(w, device=x.device), indexing="ij")
    gx = torch.clamp(gx + tx + 1, 0, h + 1)
    gy = torch.clamp(gy + ty + 1, 0, w + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2).contiguous()


def rand_cutout(x, generator=None, ratio: float = 0.5):
    n, _, h, w = x.shape
    cut_h, cut_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = _randint(0, h + (1 - cut_h % 2), (n, 1, 1), x, generator)
    oy = _randint(0, w + (1 - cut_w % 2), (n, 1, 1), x, generator)
    gb, gx, gy = torch.meshgrid(
        torch.arange(n, device=x.device), torch.arange(cut_h, device=x.device),
        torch.arange(cut_w, device=x.device), indexing="ij")
    gx = torch.clamp(gx + ox - cut_h // 2, min=0, max=h - 1)
    gy = torch.clamp(gy + oy - cut_w // 2, min=0, max=w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


POLICIES = {
    "color": [rand_brightness, rand_saturation, rand_contrast],
    "translation": [rand_translation],
    "cutout": [rand_cutout],
}


def DiffAugment(x: torch.Tensor, policy: str = "color,translation,cutout",
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the comma-separated ``policy`` (subset of color, translation, cutout) to ``x``."""
    if not policy:
        return x
    for p in policy.split(","):
        p = p.strip()
        if p not in POLICIES:
            raise ValueError(f"unknown DiffAugment policy {p!r}; choose from {sorted(POLICIES)}")
        for f in POLICIES[p]:
            x = f(x, generator)
    return x
