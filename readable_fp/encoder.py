"""From a model's invariant terms to a 512-dim latent vector that looks like a draw from N(0, I).

Three encoders, all deterministic (float64 arithmetic, fixed weights):

- ``trained``: a convolutional network on the 6 x 64 x 64 sketch of the terms
  (`readable_fp.sketch`), trained by `encoder_training/` (contrastive + fidelity + an
  adversarial Gaussian term); weights in ``pretrained/encoder.safetensors``.
- ``random-projection``: a fixed Gaussian matrix (512 x 24576) applied to the same unit-norm
  sketch; entries come from NumPy's Philox bit stream (stable across releases) through our own
  Box-Muller, so every install gets the same matrix without shipping it.
- ``mean-pool``: no sketch, the published code's pooling: each T x T term z-scored, averaged
  over a 16 x 32 grid of token blocks, the six grids averaged and scaled to norm sqrt(512).

Which one the library uses by default is decided by measurement: ``pretrained/encoder.json``
records the held-out metrics of all three and names the best under ``default``.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import FingerprintError
from .sketch import CHANNELS, K, check_terms, last_two_keys, sketch

LATENT = 512
PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
WEIGHTS = PRETRAINED / "encoder.safetensors"
RECORD = PRETRAINED / "encoder.json"
NAMES = ("trained", "random-projection", "mean-pool")
FALLBACK_DEFAULT = "random-projection"  # needs no weights; used when no record names a default


class ConvEncoder(nn.Module):
    """Strided 4 x 4 convolutions (64 -> 32 -> 16 -> 8 -> 4), a linear head, and an output
    BatchNorm without affine parameters: in training it holds every latent dimension at mean 0,
    std 1 over the batch; at inference its running statistics make that a fixed affine map."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256), latent: int = LATENT):
        super().__init__()
        layers: list[nn.Module] = []
        c, size = CHANNELS, K
        for w in widths:
            layers += [nn.Conv2d(c, w, 4, stride=2, padding=1), nn.BatchNorm2d(w), nn.LeakyReLU(0.2)]
            c, size = w, size // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c * size * size, latent)
        self.out_norm = nn.BatchNorm1d(latent, affine=False)
        self.config = {"widths": list(widths), "latent": latent, "input": [CHANNELS, K, K]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_norm(self.head(self.features(x).flatten(1)))


def check_input(x: torch.Tensor) -> torch.Tensor:
    """A batch (B x 6 x 64 x 64) or one sketch (6 x 64 x 64), finite; returns the batch."""
    if not isinstance(x, torch.Tensor):
        raise FingerprintError(f"encoder input must be a tensor, not {type(x).__name__}")
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or tuple(x.shape[1:]) != (CHANNELS, K, K):
        raise FingerprintError(f"encoder input has shape {tuple(x.shape)}, expected ({CHANNELS}, {K}, {K}) "
                               "or a batch of those (the sketch of a model's last two layers' terms)")
    if not torch.isfinite(x).all():
        raise FingerprintError("encoder input holds NaN or infinite values")
    return x


class Encoder:
    """Common interface: `encode(invariants)` -> float32 latent; `encode_sketches(B x 6 x 64 x 64)`."""

    name = "?"

    def encode(self, inv) -> np.ndarray:
        return self.encode_sketches(sketch(inv))[0]


def to_sphere(z: torch.Tensor) -> np.ndarray:
    """Rows scaled to norm sqrt(512), the norm of a typical N(0, I) draw (cosines unchanged)."""
    z = z.double()
    return (z * (math.sqrt(z.shape[1]) / z.norm(dim=1, keepdim=True).clamp_min(1e-300))).float().numpy()

    def encode_sketches(self, x: torch.Tensor) -> np.ndarray:
        raise NotImplementedError


class TrainedEncoder(Encoder):
    name = "trained"

    def __init__(self, net: ConvEncoder, record: dict | None = None):
        self.net = net.double().eval()
        self.record = record or {}

    def encode_sketches(self, x: torch.Tensor) -> np.ndarray:
        x = check_input(x)
        with torch.no_grad():
            return to_sphere(self.net(x.double()))


class RandomProjection(Encoder):
    name = "random-projection"
    SEED = 20261205

    def encode_sketches(self, x: torch.Tensor) -> np.ndarray:
        x = check_input(x).double().flatten(1)
        return to_sphere(x @ _gaussian_matrix(self.SEED).T)


@lru_cache(maxsize=2)
def _gaussian_matrix(seed: int) -> torch.Tensor:
    """LATENT x (6*64*64) standard normals from Philox raw bits (a stable stream) by Box-Muller.

    Built 32 rows at a time from the one stream (the same numbers as a single draw), so the
    temporaries stay at a few MB instead of several times the matrix's 100 MB."""
    width = CHANNELS * K * K
    bits = np.random.Philox(seed)
    out = np.empty((LATENT, width), dtype=np.float64)
    for r in range(0, LATENT, 32):
        raw = bits.random_raw(32 * width)  # uint64: two 32-bit uniforms each
        u1 = ((raw >> np.uint64(32)).astype(np.float64) + 0.5) / 2.0 ** 32
        u2 = ((raw & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) / 2.0 ** 32
        out[r:r + 32] = (np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)).reshape(32, width)
    return torch.from_numpy(out)


class MeanPool(Encoder):
    """The published code's untrained reduction, applied to the raw terms (no sketch)."""

    name = "mean-pool"
    GRID = (16, 32)

    def encode(self, inv) -> np.ndarray:
        keys = last_two_keys(inv)
        check_terms(inv, keys)
        if len(inv.probes) < max(self.GRID):
            raise FingerprintError(f"mean pooling needs at least {max(self.GRID)} probe tokens, got {len(inv.probes)}")
        # z-scoring commutes with block averaging: pool once, then shift and scale the grid.
        T = len(inv.probes)
        P_r, P_c = _block_means(T, self.GRID[0]), _block_means(T, self.GRID[1])
        grids = []
        for k in keys:
            m = inv.terms[k].double()
            sd = m.std()
            grids.append((P_r @ m @ P_c.T - m.mean()) / (sd if sd > 0 else 1.0))
        return to_sphere(torch.stack(grids).mean(0).flatten()[None])[0]

    def encode_sketches(self, x):
        raise FingerprintError("mean pooling reads the raw terms, not sketches")


def _block_means(T: int, n: int) -> torch.Tensor:
    """n x T: row i averages the tokens of block i, split as adaptive_avg_pool does."""
    P = torch.zeros(n, T, dtype=torch.float64)
    for i in range(n):
        lo, hi = (i * T) // n, -(-((i + 1) * T) // n)
        P[i, lo:hi] = 1.0 / (hi - lo)
    return P


def load_trained(path: str | Path = WEIGHTS) -> TrainedEncoder:
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FingerprintError(f"{path}: no trained encoder weights (train them: python -m encoder_training.train)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
        cfg = json.loads(meta["config"])
        net = ConvEncoder(tuple(cfg["widths"]), cfg["latent"])
        net.load_state_dict(state)
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as e:
        raise FingerprintError(f"{path}: not a readable-fp encoder ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    return TrainedEncoder(net, json.loads(meta.get("record", "{}")))


def default_name() -> str:
    """The encoder the held-out metrics favour (pretrained/encoder.json), else the random projection."""
    try:
        name = json.loads(RECORD.read_text())["default"]
    except (OSError, ValueError, KeyError):
        return FALLBACK_DEFAULT
    return name if name in NAMES else FALLBACK_DEFAULT


def get(name: str | None = None) -> Encoder:
    """An encoder by name (`NAMES`), or a path to trained weights; None: the measured best."""
    name = name or default_name()
    if name == "trained":
        return load_trained()
    if name == "random-projection":
        return RandomProjection()
    if name == "mean-pool":
        return MeanPool()
    if name.endswith(".safetensors"):
        return load_trained(name)
    raise FingerprintError(f"unknown encoder '{name}': use one of {', '.join(NAMES)} or a .safetensors path")


def latent(inv, encoder: str | Encoder | None = None) -> np.ndarray:
    """The 512-dim float32 latent of a model's invariants (see `readable_fp.invariants`)."""
    enc = encoder if isinstance(encoder, Encoder) else get(encoder)
    return enc.encode(inv)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-300))
