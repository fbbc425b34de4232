"""A plain-PyTorch StyleGAN2 generator that draws a fingerprint latent as an image.

The network mirrors NVIDIA's stylegan2-ada-pytorch ``Generator`` with architecture
'skip' and no conditioning label (c_dim = 0), so that

* its ``state_dict`` has exactly NVIDIA's parameter and buffer names and shapes (a model
  converted from an official pickle loads with ``strict=True``), and
* it computes the same function in float32: weights are stored unscaled and the
  equalized-learning-rate gains are applied at run time, activations are leaky ReLU with
  gain sqrt(2) and clamping, convolutions are modulated/demodulated, resampling uses the
  [1,3,3,1] low-pass filter with NVIDIA's ``upfirdn2d`` padding conventions.

Only ``torch.nn.functional`` is used: no custom CUDA kernels (NVIDIA's need a compiler
and a GPU at import time), no fp16 blocks. Everything runs in float32 on CPU or CUDA;
a pickle trained with ``num_fp16_res > 0`` gives NVIDIA's ``force_fp32=True`` output.

Files are safetensors (never pickle): ``save_generator`` / ``load_generator``.
``render`` / ``render_png`` turn one latent into a deterministic RGB image.
"""

from __future__ import annotations

import inspect
import io
import json
import math
import os
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

from .errors import FingerprintError

__all__ = ["Generator", "save_generator", "load_generator", "generator_meta", "render", "render_png"]

_LRELU_ALPHA = 0.2
_LRELU_GAIN = math.sqrt(2.0)  # keeps the activations' magnitude (He init) through lrelu
_META_KEY = "readable_fp.stylegan2"  # the one safetensors metadata key (see save_generator)
_FORMAT = "readable_fp.stylegan2.Generator"
_FORMAT_VERSION = 1


# --------------------------------------------------------------------------- low-level ops


def _setup_filter(taps=(1, 3, 3, 1)) -> torch.Tensor:
    """NVIDIA's ``upfirdn2d.setup_filter`` for a short 1-D filter: the normalised outer
    product (a 4-tap filter is below NVIDIA's separable threshold of 8, so the stored
    buffer is the 2-D [4, 4] matrix summing to 1)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def _upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, pad=(0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad, then FIR-filter each channel (``upfirdn2d`` with
    down=1, flip_filter=False). ``pad`` is (x_before, x_after, y_before, y_after) in
    up-sampled pixels, as NVIDIA's; only non-negative pads occur in this generator."""
    n, c, h, w = x.shape
    if up > 1:
        # Each input pixel becomes the top-left of an up x up cell of zeros.
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    assert min(pad) >= 0
    x = F.pad(x, list(pad))  # F.pad order is (left, right, top, bottom) = NVIDIA's x0, x1, y0, y1
    # A 2-D filter takes the whole gain (NVIDIA: gain ** (ndim / 2)); NVIDIA flips the
    # filter to make conv2d (a correlation) a true convolution.
    k = (f * gain).flip([0, 1]).to(x.dtype)
    k = k[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, k, groups=c)


def _conv2d_resample(x, w, f, up: int, padding: int, groups: int) -> torch.Tensor:
    """The two cases of NVIDIA's ``conv2d_resample`` this generator needs.

    up == 1: a plain correlation (NVIDIA passes flip_weight=True there).
    up == 2: a stride-2 transposed convolution with the un-flipped weight, then the
    [1,3,3,1] filter with gain up**2 (NVIDIA's "transpose" fast path with
    flip_weight=False); the pads are NVIDIA's formulas for the filter/kernel sizes."""
    if up == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    out_ch, in_per_group, kh, kw = w.shape
    # conv_transpose2d wants [in, out/groups, kh, kw]; regroup per sample for grouped convs.
    w = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
    w = w.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    fw = f.shape[-1]
    p0 = padding + (fw + up - 1) // 2 - (kw - 1)
    p1 = padding + (fw - up) // 2 - (kw - up)
    x = F.conv_transpose2d(x, w, stride=up, groups=groups)
    return _upfirdn2d(x, f, pad=(p0, p1, p0, p1), gain=up**2)


def _upsample2d(img: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """NVIDIA's ``upsample2d(img, f)`` for up=2: the skip-architecture RGB image path."""
    fw = f.shape[-1]
    p0, p1 = (fw + 1) // 2, (fw - 2) // 2
    return _upfirdn2d(img, f, up=2, pad=(p0, p1, p0, p1), gain=4)


def _bias_act(x, b, lrelu: bool, gain: float = 1.0, clamp=None):
    """NVIDIA's ``bias_act`` order: add bias, activate, scale, clamp."""
    x = x + b.reshape(1, -1, *([1] * (x.ndim - 2)))
    if lrelu:
        x = F.leaky_relu(x, _LRELU_ALPHA)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def _modulated_conv2d(x, weight, styles, noise=None, up=1, padding=0, resample_filter=None,
                      demodulate=True, fused=True):
    """Scale the weight's input channels by ``styles``, optionally normalise each output
    filter to unit L2 norm (demodulation), convolve, add noise.

    fused=True builds one weight per sample and runs a single grouped convolution (best
    for small batches / inference); fused=False scales activations before and after a
    shared convolution (best for training batches). Both compute the same function."""
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    w = dcoefs = None
    if demodulate or fused:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # [N, O, I, k, k]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
    if not fused:
        x = x * styles.reshape(n, -1, 1, 1)
        x = _conv2d_resample(x, weight, resample_filter, up, padding, groups=1)
        if demodulate:
            x = x * dcoefs.reshape(n, -1, 1, 1)
        return x + noise if noise is not None else x
    if demodulate:
        w = w * dcoefs.reshape(n, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])  # the batch becomes conv groups
    x = _conv2d_resample(x, w.reshape(-1, in_ch, kh, kw), resample_filter, up, padding, groups=n)
    x = x.reshape(n, -1, *x.shape[2:])
    return x + noise if noise is not None else x


# --------------------------------------------------------------------------- layers


class FullyConnectedLayer(torch.nn.Module):
    """Dense layer with equalized learning rate: the stored weight is N(0, 1/lr_mul^2)
    and is scaled by lr_mul/sqrt(fan_in) at run time, so the optimiser's step size is
    the same for every layer and ``lr_multiplier`` slows the mapping network down."""

    def __init__(self, in_features, out_features, lrelu=False, lr_multiplier=1.0, bias_init=0.0):
        super().__init__()
        self.lrelu = lrelu
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        x = F.linear(x, self.weight * self.weight_gain)
        return _bias_act(x, self.bias * self.bias_gain, self.lrelu, _LRELU_GAIN if self.lrelu else 1.0)


class MappingNetwork(torch.nn.Module):
    """z -> w through ``num_layers`` lrelu layers, broadcast to ``num_ws`` copies, with the
    running mean ``w_avg`` that truncation pulls towards."""

    def __init__(self, z_dim, w_dim, num_ws, num_layers=8, lr_multiplier=0.01, w_avg_beta=0.995):
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws = z_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        features = [z_dim] + [w_dim] * num_layers  # NVIDIA: layer_features = w_dim, no label embedding
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], lrelu=True,
                                                        lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, truncation_psi=1.0, truncation_cutoff=None, update_emas=False):
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape [N, {self.z_dim}], got {list(z.shape)}")
        z = z.to(torch.float32)
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()  # normalize_2nd_moment
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        x = x.to(torch.float32)  # under autocast F.linear returns bf16/fp16; w_avg and lerp are fp32
        if update_emas:  # training only: exponential moving average of w over batches
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            # Same lerp as NVIDIA; out-of-place so autograd through ws stays valid.
            t = self.w_avg.lerp(x, truncation_psi)
            x = t if truncation_cutoff is None else torch.cat([t[:, :truncation_cutoff], x[:, truncation_cutoff:]], 1)
        return x


class SynthesisLayer(torch.nn.Module):
    """Modulated 3x3 convolution (optionally 2x up-sampling) + noise + bias + lrelu."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, up=1, conv_clamp=None, kernel_size=3):
        super().__init__()
        self.resolution, self.up, self.conv_clamp = resolution, up, conv_clamp
        self.padding = kernel_size // 2
        # Registration order follows NVIDIA so that state_dict() lists keys in its order too.
        self.register_buffer("resample_filter", _setup_filter())
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)  # styles start at 1
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x, w, noise_mode="const", fused=True):
        styles = self.affine(w)
        noise = None
        if noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        elif noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = _modulated_conv2d(x, self.weight, styles, noise, up=self.up, padding=self.padding,
                              resample_filter=self.resample_filter, fused=fused)
        return _bias_act(x, self.bias, True, _LRELU_GAIN, self.conv_clamp)


class ToRGBLayer(torch.nn.Module):
    """Modulated (not demodulated) 1x1 convolution to colour, linear, clamped."""

    def __init__(self, in_channels, out_channels, w_dim, conv_clamp=None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)  # no demodulation, so the style carries the gain

    def forward(self, x, w, fused=True):
        styles = self.affine(w) * self.weight_gain
        x = _modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return _bias_act(x, self.bias, False, 1.0, self.conv_clamp)


class SynthesisBlock(torch.nn.Module):
    """One resolution: [const | up-conv0] -> conv1 -> toRGB, adding its RGB to the
    up-sampled image of the previous blocks (the 'skip' architecture)."""

    def __init__(self, in_channels, out_channels, w_dim, resolution, img_channels, conv_clamp=None):
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.register_buffer("resample_filter", _setup_filter())
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(self, x, img, ws, noise_mode="const", fused=True):
        ws = ws.unbind(dim=1)
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws[0].shape[0], 1, 1, 1])
            x = self.conv1(x, ws[0], noise_mode, fused)
        else:
            x = self.conv0(x, ws[0], noise_mode, fused)
            x = self.conv1(x, ws[1], noise_mode, fused)
        if img is not None:
            img = _upsample2d(img, self.resample_filter)
        y = self.torgb(x, ws[self.num_conv], fused)
        return x, (y if img is None else img + y)


class SynthesisNetwork(torch.nn.Module):
    """ws [N, num_ws, w_dim] -> image [N, C, R, R]; blocks b4, b8, ..., b{R}."""

    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512, conv_clamp=None):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2**i for i in range(2, int(math.log2(img_resolution)) + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim, res,
                                   img_channels, conv_clamp=conv_clamp)
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last toRGB; every other toRGB shares the next block's first w

    def forward(self, ws, noise_mode="const", fused_modconv=None):
        """``noise_mode``: 'const' (the stored noise_const, deterministic), 'random' (fresh
        noise, for training) or 'none'. ``fused_modconv`` None = NVIDIA's choice
        (fused in eval mode, unfused while training); the result is the same."""
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")
        fused = (not self.training) if fused_modconv is None else bool(fused_modconv)
        ws = ws.to(torch.float32)
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb), noise_mode, fused)
            w_idx += block.num_conv
        return img


# --------------------------------------------------------------------------- generator


class Generator(torch.nn.Module):
    """Unconditional StyleGAN2 generator ('skip' architecture), float32 only.

    ``forward(z)`` returns images in about [-1, 1]. Note that the default noise mode is
    'const' (deterministic rendering); training should pass ``noise_mode='random'``
    and call ``mapping(..., update_emas=True)`` or ``G(z, update_emas=True)`` to track
    ``w_avg``."""

    def __init__(self, z_dim=512, w_dim=512, img_resolution=64, img_channels=3, mapping_layers=8,
                 channel_base=32768, channel_max=512, conv_clamp=256, mapping_lr_multiplier=0.01):
        super().__init__()
        if not (isinstance(img_resolution, int) and img_resolution >= 4 and img_resolution & (img_resolution - 1) == 0):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution!r}")
        for name, v in (("z_dim", z_dim), ("w_dim", w_dim), ("img_channels", img_channels),
                        ("mapping_layers", mapping_layers), ("channel_base", channel_base),
                        ("channel_max", channel_max)):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if min(channel_base // img_resolution, channel_max) < 1:
            raise ValueError("channel_base is too small for img_resolution (a block would have 0 channels)")
        if conv_clamp is not None and not (isinstance(conv_clamp, (int, float)) and conv_clamp > 0):
            raise ValueError(f"conv_clamp must be a positive number or None, got {conv_clamp!r}")
        self.config = dict(z_dim=z_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                           mapping_layers=mapping_layers, channel_base=channel_base, channel_max=channel_max,
                           conv_clamp=conv_clamp, mapping_lr_multiplier=float(mapping_lr_multiplier))
        self.z_dim, self.w_dim = z_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        # synthesis before mapping, as NVIDIA, so state_dict() keys come in NVIDIA's order.
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, channel_base, channel_max, conv_clamp)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, w_dim, self.num_ws, mapping_layers, mapping_lr_multiplier)

    def forward(self, z, truncation_psi=1.0, truncation_cutoff=None, noise_mode="const",
                update_emas=False, fused_modconv=None):
        ws = self.mapping(z, truncation_psi, truncation_cutoff, update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, fused_modconv=fused_modconv)


# --------------------------------------------------------------------------- files


def save_generator(G: Generator, path, extra_meta: dict | None = None) -> None:
    """Write G's state dict as safetensors with its config (and ``extra_meta``) as JSON.

    The metadata is ONE key holding sorted JSON: safetensors writes several metadata
    keys in a per-process random order, which would make the bytes non-deterministic.
    Written to a temporary file in the same directory, then os.replace'd (atomic)."""
    if not isinstance(G, Generator):
        raise TypeError(f"save_generator needs a readable_fp.stylegan2.Generator, got {type(G).__name__}")
    from safetensors.torch import save

    meta = {"format": _FORMAT, "version": _FORMAT_VERSION, "config": G.config, "extra": dict(extra_meta or {})}
    try:
        meta_json = json.dumps(meta, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"extra_meta must be JSON-serialisable: {e}") from None
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in G.state_dict().items()}
    _atomic_write(os.fspath(path), save(tensors, metadata={_META_KEY: meta_json}))


def generator_meta(path) -> dict:
    """The metadata ``save_generator`` wrote (``config`` and ``extra``), read without the tensors."""
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FingerprintError(f"generator file not found: {path}")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            raw = (f.metadata() or {}).get(_META_KEY)
    except Exception as e:  # safetensors raises its own error types for a non-safetensors file
        raise FingerprintError(f"{path} is not a safetensors generator file ({type(e).__name__}: {e})") from None
    try:
        meta = json.loads(raw)
        if meta.get("format") != _FORMAT:
            raise ValueError("wrong format tag")
        if meta.get("version") != _FORMAT_VERSION:
            raise FingerprintError(f"{path}: generator format version {meta.get('version')} is not supported "
                                   f"(this readable-fp reads version {_FORMAT_VERSION})")
        # checked without building it (that would allocate every weight just to read the metadata)
        inspect.signature(Generator).bind(**meta["config"])
        if not all(isinstance(meta["config"].get(k), int) for k in ("z_dim", "img_resolution")):
            raise ValueError("z_dim and img_resolution must be integers")
        if not isinstance(meta.get("extra", {}), dict):
            raise ValueError("extra is not an object")
    except FingerprintError:
        raise
    except Exception:
        raise FingerprintError(f"{path} is a safetensors file but not a readable-fp StyleGAN2 generator "
                               f"(missing or invalid '{_META_KEY}' metadata)") from None
    return meta


def load_generator(path) -> Generator:
    """Read a file written by ``save_generator`` (safetensors only, no pickle); eval mode.
    The extra metadata is available as ``G.extra_meta``."""
    from safetensors import safe_open

    meta = generator_meta(path)
    path = os.fspath(path)
    with safe_open(path, framework="pt", device="cpu") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    try:
        G = Generator(**meta["config"])
    except (TypeError, ValueError) as e:
        raise FingerprintError(f"{path}: its generator config is not valid ({e})") from None
    expected = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != got:
        missing = sorted(set(expected) - set(got))
        unexpected = sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
        raise FingerprintError(f"{path}: tensors do not match the generator config "
                               f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]})")
    G.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()}, strict=True)
    G.extra_meta = meta.get("extra", {})
    return G.eval()


def _atomic_write(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a saved model/image should be readable
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# --------------------------------------------------------------------------- rendering


def _latent_tensor(latent, z_dim: int) -> torch.Tensor:
    """Validate one latent (numpy / list / torch) and return it as float32 [1, z_dim]."""
    try:
        if isinstance(latent, torch.Tensor):
            z = latent.detach().to("cpu", torch.float64)
        else:
            z = torch.from_numpy(np.asarray(latent, dtype=np.float64))
    except (TypeError, ValueError) as e:
        raise FingerprintError(f"the latent must be a vector of {z_dim} numbers ({e})") from None
    if tuple(z.shape) == (1, z_dim):  # tolerate a batch of one
        z = z[0]
    if tuple(z.shape) != (z_dim,):
        raise FingerprintError(f"the latent must be a vector of {z_dim} numbers, got shape {tuple(z.shape)}")
    if not torch.isfinite(z).all():
        raise FingerprintError("the latent contains NaN or infinite values")
    return z.to(torch.float32).unsqueeze(0)


def _to_pil(img: torch.Tensor):
    from PIL import Image

    # NVIDIA's conversion: [-1, 1] -> [0, 255] with round-half-up via +128 and truncation.
    x = (img[0].to("cpu", torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    x = x.permute(1, 2, 0).contiguous().numpy()
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)  # grey-scale generators still give an RGB image
    return Image.fromarray(x[:, :, :3], "RGB")


# The published method's setting (../shared/method.md: AFHQ-Dog at "truncation psi 0.5, cutoff 8"):
# the first 8 ws (coarse and middle layers: pose, head, coat) are pulled halfway to the average dog,
# the fine layers keep the latent's own detail. NVIDIA's generate.py --trunc truncates every layer,
# which draws another picture (for 16 ws at 512 px, the 8 fine ones differ).
TRUNCATION_PSI, TRUNCATION_CUTOFF = 0.5, 8


def render(latent, G: Generator, truncation_psi: float = TRUNCATION_PSI, truncation_cutoff=TRUNCATION_CUTOFF):
    """The image of one latent: an RGB ``PIL.Image`` of G.img_resolution squared.

    Deterministic: constant noise, no randomness, no autograd, float32 (on G's device)."""
    z = _latent_tensor(latent, G.z_dim)
    param = next(G.parameters())
    was_training = G.training
    G.eval()
    try:
        with torch.no_grad():
            img = G(z.to(param.device), truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                    noise_mode="const")
    finally:
        G.train(was_training)
    return _to_pil(img)


def render_png(latent, G: Generator, path=None, **kw) -> bytes:
    """``render`` as PNG bytes (no metadata chunks, fixed compression: the same image
    gives the same bytes); also written atomically to ``path`` when one is given."""
    buf = io.BytesIO()
    render(latent, G, **kw).save(buf, format="PNG", compress_level=6)
    data = buf.getvalue()
    if path is not None:
        _atomic_write(os.fspath(path), data)
    return data
