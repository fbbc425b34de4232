"""The encoder's input: a model's last-two-layer terms reduced to a fixed 6 x 64 x 64 tensor.

The published encoder reads the six T x T terms directly (T = 4096, kernel 48), which needs a
GPU. Here each centred, unit-norm term M (as ICS sees it) is reduced by a count sketch
keyed by probe *string*:

    C = S_r^T M S_c,   S_r[i, h_r(s_i)] = sign_r(s_i),   S_c[j, h_c(s_j)] = sign_c(s_j)

with h_r, h_c in [0, 64) and the signs taken from the SHA-256 of the string. Why this form:
- it is linear and `<C(M), C(N)>` is an unbiased estimate of `<M, N>`, so the cosine of two
  sketches estimates the ICS of the two models (measured error: `encoder_training/`);
- keyed by strings, not positions, so two models that share a base but picked partly different
  probe strings (an extended vocabulary) still line up on the strings they share;
- rows and columns use *independent* hashes: real terms have effective rank 1.5-14, and with
  one hash for both sides a rank-one term sketches to a rank-one PSD-like matrix whose cosine
  with any other is biased upwards (measured: 12 / 100 between SmolLM2 and all-MiniLM,
  whose ICS is 2.4; with independent hashes 0.3 +- 0.7 over ten hash seeds).

Each channel is scaled to Frobenius norm 64, so entries have RMS 1 (the centred term's own norm\ncancels in that scaling, so it is never computed).
"""
from __future__ import annotations

import hashlib

import torch

from .errors import FingerprintError
from .terms import TERMS

K = 64
CHANNELS = 2 * len(TERMS)  # the last two layers' attn, ov and ffn terms
_SALT = b"readable-fp sketch v1\0"


def _hash_matrices(probes: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """S_r and S_c (T x K, float64), each with its column means removed: (J S_r)^T M (J S_c)
    equals the sketch of the double-centred J M J, so centring costs nothing extra."""
    T = len(probes)
    rb, rs, cb, cs = [], [], [], []
    for s in probes:
        d = hashlib.sha256(_SALT + s.encode("utf-8")).digest()
        rb.append(int.from_bytes(d[0:4], "little") % K)
        rs.append(1.0 if d[4] & 1 else -1.0)
        cb.append(int.from_bytes(d[8:12], "little") % K)
        cs.append(1.0 if d[12] & 1 else -1.0)
    out = []
    for b, sg in ((rb, rs), (cb, cs)):
        S = torch.zeros(T, K, dtype=torch.float64)
        S[torch.arange(T), torch.tensor(b)] = torch.tensor(sg, dtype=torch.float64)
        out.append(S - S.mean(dim=0, keepdim=True))
    return out[0], out[1]


def last_two_keys(inv) -> list[str]:
    """The six term keys the encoder reads: attn, ov, ffn of the model's last two layers (a hybrid's
    last two layers with attention)."""
    eligible = inv.info.get("attention_layers") or list(range(inv.n_layers))
    want = list(eligible[-2:])
    if len(want) < 2 or not set(want) <= set(inv.layers):
        raise FingerprintError(
            f"the encoder reads the model's last two layers with attention ({', '.join(map(str, want))} of "
            f"{inv.n_layers}), "
            f"but these invariants hold layers {inv.layers}; compute them with the default --layers")
    return [f"{t}@{i}" for i in want for t in TERMS]


def check_terms(inv, keys: list[str]) -> None:
    T = len(inv.probes)
    if T < 2:
        raise FingerprintError(f"invariants hold {T} probe tokens; at least 2 are needed")
    for k in keys:
        m = inv.terms.get(k)
        if m is None:
            raise FingerprintError(f"invariants lack the term '{k}'")
        if tuple(m.shape) != (T, T):
            raise FingerprintError(f"term '{k}' has shape {tuple(m.shape)}, expected ({T}, {T}) for {T} probe tokens")
        if not torch.isfinite(m).all():
            raise FingerprintError(f"term '{k}' holds NaN or infinite values")


def sketch(inv) -> torch.Tensor:
    """The 6 x 64 x 64 float32 encoder input of an `Invariants` (float64 arithmetic)."""
    keys = last_two_keys(inv)
    check_terms(inv, keys)
    Sr, Sc = _hash_matrices(inv.probes)
    out = torch.stack([Sr.T @ (inv.terms[k].double() @ Sc) for k in keys])
    n = out.flatten(1).norm(dim=1)
    out = torch.where(n[:, None, None] > 0, out * (K / n.clamp_min(1e-300))[:, None, None], out)
    return out.float()


def sketch_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean per-channel cosine of two batches of sketches (B x 6 x K x K): the sketch's estimate of ICS / 100."""
    a, b = a.flatten(2).double(), b.flatten(2).double()
    cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-300)
    return cos.mean(-1)
