"""The invariant terms of method.md section 3, and the ICS between two sets of them.

For probe-token embeddings X (T x d) and one canonical layer:
    attention      M_a = X Wq^T Wk X^T      (summed over heads; query head h reads kv group h // (H/KV))
    value/output   M_b = X Wv^T Wo^T X^T
    feed-forward   M_f = X Wup^T Wdown^T X^T (up/down, not the published gate*up, which rotations break)
Norm gains are folded into the weights that read the normalised stream before the products,
which is what makes residual rotations and gain transfers leave the terms unchanged.
"""
from __future__ import annotations

import torch

from .adapters import Layer

TERMS = ("attn", "ov", "ffn")


def _scale(X: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
    return X if g is None else X * g


def layer_terms(X: torch.Tensor, L: Layer) -> dict[str, torch.Tensor]:
    """The three T x T terms of one layer (float32)."""
    T = X.shape[0]
    hd = L.q.shape[0] // L.n_heads
    vd = L.v.shape[0] // L.n_kv
    rep = L.n_heads // L.n_kv
    Xa = _scale(X, L.attn_gain)

    q = (Xa @ L.q.T).view(T, L.n_heads, hd)
    k = (Xa @ L.k.T).view(T, L.n_kv, hd)
    if L.q_gain is not None:
        q = q * L.q_gain
    if L.k_gain is not None:
        k = k * L.k_gain
    # repeat_interleave, as Hugging Face's repeat_kv: kv group g serves heads g*rep .. g*rep+rep-1
    k = k.repeat_interleave(rep, dim=1)
    m_a = q.reshape(T, -1) @ k.reshape(T, -1).T

    v = (Xa @ L.v.T).view(T, L.n_kv, vd).repeat_interleave(rep, dim=1).reshape(T, -1)
    o = _scale(X, L.o_gain) @ L.o  # (T, H*vd): row t is Wo^T applied to x_t, split by head
    m_b = v @ o.T

    up = _scale(X, L.ffn_gain) @ L.up.T
    down = _scale(X, L.down_gain) @ L.down
    m_f = up @ down.T
    return {"attn": m_a, "ov": m_b, "ffn": m_f}


def center(M: torch.Tensor) -> torch.Tensor:
    """Double-centre (remove row and column means), then scale to unit Frobenius norm.

    Well-trained models share some token-to-token structure (frequent-direction offsets);
    centring removes the rank-one parts of it, and the unit norm makes the cosine a dot product.
    """
    M = M.double()
    M = M - M.mean(dim=0, keepdim=True) - M.mean(dim=1, keepdim=True) + M.mean()
    n = torch.linalg.norm(M)
    return M / n if n > 0 else M


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine of two centred terms (100 x this is the per-term ICS)."""
    return float((center(a) * center(b)).sum())
