"""StyleGAN2 residual discriminator on plain torch (Karras et al. 2020, config E/F "resnet").

Same structure as NVIDIA's stylegan2-ada-pytorch ``Discriminator(architecture='resnet')``,
without class conditioning or custom CUDA ops:

* equalized learning rate (weights ~ N(0, 1), scaled by 1/sqrt(fan_in) at run time);
* FromRGB (1x1) at the top resolution, then one residual block per resolution down to 8x8:
  conv3x3 -> lrelu -> blur + conv3x3 stride 2 -> lrelu, skip = blur + stride 2 + 1x1 conv,
  both branches summed and scaled by sqrt(0.5);
* 4x4 epilogue: minibatch standard deviation, conv3x3, fully connected, output logit;
* leaky ReLU (slope 0.2) with gain sqrt(2), optional activation clamp (``conv_clamp``);
* channels per resolution ``min(channel_base // res, channel_max)``, like the generator.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Discriminator"]

_LRELU_GAIN = math.sqrt(2.0)


def _blur_kernel(channels: int) -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = f[:, None] * f[None, :]
    f = f / f.sum()
    return f[None, None].repeat(channels, 1, 1, 1)  # [C, 1, 4, 4] depthwise


def _act(x: torch.Tensor, activation: str, clamp: float | None) -> torch.Tensor:
    if activation == "lrelu":
        x = F.leaky_relu(x, 0.2) * _LRELU_GAIN
        if clamp is not None:
            x = x.clamp(-clamp * _LRELU_GAIN, clamp * _LRELU_GAIN)
    elif clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class FullyConnectedLayer(nn.Module):
    def __init__(self, in_features, out_features, bias=True, activation="linear",
                 lr_multiplier=1.0, bias_init=0.0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        x = F.linear(x, w, b)
        return _act(x, self.activation, None)


class Conv2dLayer(nn.Module):
    """Equalized-lr conv; ``down=2`` blurs with [1,3,3,1] and strides like upfirdn2d does."""

    def __init__(self, in_channels, out_channels, kernel_size, bias=True, activation="linear",
                 down=1, conv_clamp=None):
        super().__init__()
        self.activation = activation
        self.down = down
        self.conv_clamp = conv_clamp
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size ** 2)
        if down > 1:
            self.register_buffer("resample_filter", _blur_kernel(in_channels), persistent=False)

    def forward(self, x):
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        if self.down == 1:
            x = F.conv2d(x, w, b, padding=self.kernel_size // 2)
        else:
            f = self.resample_filter.to(x.dtype)
            p = (f.shape[-1] - self.down) + (self.kernel_size - 1)  # upfirdn2d padding
            if self.kernel_size == 1:  # blur + subsample, then 1x1 conv
                x = F.conv2d(F.pad(x, [p // 2 + p % 2, p // 2] * 2), f, stride=self.down, groups=x.shape[1])
                x = F.conv2d(x, w, b)
            else:  # blur, then strided conv
                x = F.conv2d(F.pad(x, [(p + 1) // 2, p // 2] * 2), f, groups=x.shape[1])
                x = F.conv2d(x, w, b, stride=self.down)
        return _act(x, self.activation, self.conv_clamp)


class DiscriminatorBlock(nn.Module):
    def __init__(self, in_channels, tmp_channels, out_channels, resolution, img_channels,
                 first, conv_clamp=None):
        super().__init__()
        self.resolution = resolution
        self.first = first
        if first:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x, img):
        if self.first:
            x = self.fromrgb(img.to(x.dtype) if x is not None else img)
        y = self.skip(x) * math.sqrt(0.5)
        x = self.conv0(x)
        x = self.conv1(x) * math.sqrt(0.5)
        return y + x


class MinibatchStdLayer(nn.Module):
    def __init__(self, group_size=4, num_channels=1):
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    def forward(self, x):
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:  # largest group size <= group_size that divides the batch
            g -= 1
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = y - y.mean(dim=0)
        y = y.square().mean(dim=0)
        y = (y + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4])
        y = y.reshape(-1, f, 1, 1)
        y = y.repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    def __init__(self, in_channels, resolution=4, mbstd_group_size=4, mbstd_num_channels=1, conv_clamp=None):
        super().__init__()
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1)

    def forward(self, x):
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        return self.out(x)


class Discriminator(nn.Module):
    def __init__(self, img_resolution=64, img_channels=3, channel_base=32768, channel_max=512,
                 conv_clamp=256, mbstd_group_size=4, mbstd_num_channels=1):
        super().__init__()
        log2 = int(np.log2(img_resolution))
        if img_resolution != 2 ** log2 or img_resolution < 8:
            raise ValueError(f"img_resolution must be a power of two >= 8, got {img_resolution}")
        self.config = dict(img_resolution=img_resolution, img_channels=img_channels,
                           channel_base=channel_base, channel_max=channel_max, conv_clamp=conv_clamp,
                           mbstd_group_size=mbstd_group_size, mbstd_num_channels=mbstd_num_channels)
        self.img_resolution = img_resolution
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        ch = {res: min(channel_base // res, channel_max) for res in self.block_resolutions + [4]}
        for res in self.block_resolutions:
            block = DiscriminatorBlock(ch[res], ch[res], ch[res // 2], res, img_channels,
                                       first=(res == img_resolution), conv_clamp=conv_clamp)
            setattr(self, f"b{res}", block)
        self.b4 = DiscriminatorEpilogue(ch[4], resolution=4, mbstd_group_size=mbstd_group_size,
                                        mbstd_num_channels=mbstd_num_channels, conv_clamp=conv_clamp)

    def forward(self, img):
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
        # The 4x4 epilogue (minibatch std, fc) always runs in float32, as NVIDIA's
        # mixed-precision D keeps its low resolutions in fp32.
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.b4(x.float())
