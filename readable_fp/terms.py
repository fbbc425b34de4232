"""The invariant terms of method.md section 3, and the ICS between two sets of them.

For probe-token embeddings X (T x d) and one canonical layer:
    attention      M_a = X Wq^T Wk X^T      (summed over heads; query head h reads kv group h // (H/KV))
    value/output   M_b = X Wv^T Wo^T X^T
    feed-forward   M_f = X Wup^T Wdown^T X^T (up/down, not the published gate*up, which rotations break)
Norm gains are folded into the weights that read the normalised stream before the products,
which is what makes residual rotations and gain transfers leave the terms unchanged.

A mixture of experts is read as one wide FFN whose neurons are all its experts' neurons
(shared experts included): M_f = sum_e X Wup_e^T Wdown_e^T X^T. Permuting the experts together
with the router's rows is then a permutation of the wide FFN's neurons, which the dense term
already ignores; so are permuting or rescaling neurons inside an expert, and every residual
attack, exactly as for a dense FFN (each expert reads and writes the stream like one). The
router is left out: its weights decide which neurons fire for a token, as the activation
function does in a dense FFN, which the dense term leaves out too. An MoE upcycled from a dense
model (experts initialised as copies of its FFN, as Mixtral from Mistral) starts with a sum of
E copies of the dense term, the same term up to scale, so it compares as the same base.
"""
from __future__ import annotations

import torch

from .adapters import Layer

TERMS = ("attn", "ov", "ffn")


def _scale(X: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
    return X if g is None else X * g


def bilinear(A: torch.Tensor, W1: torch.Tensor, W2: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """A W1^T W2 B^T for A, B (T x d) and W1, W2 (r x d), in whichever order costs fewer FLOPs.

    Every term has this form; with a wide FFN (r >> d) forming the d x d product first saves
    about 40% of the work on a 7B model.
    """
    T, d = A.shape
    r = W1.shape[0]
    if d * r * d + T * d * d + T * d * T < 2 * T * d * r + T * r * T:
        return (A @ (W1.T @ W2)) @ B.T
    return (A @ W1.T) @ (B @ W2.T).T


def _per_head(W: torch.Tensor, n: int, gain: torch.Tensor | None, rep: int) -> torch.Tensor:
    """Rows of a q/k/v matrix with the per-head norm gain applied and kv groups repeated.

    repeat_interleave, as Hugging Face's repeat_kv: kv group g serves heads g*rep .. g*rep+rep-1
    (tiling instead would silently pair the wrong heads).
    """
    W = W.reshape(n, -1, W.shape[1])
    if gain is not None:
        W = W * gain[None, :, None]
    if rep > 1:
        W = W.repeat_interleave(rep, dim=0)
    return W.reshape(-1, W.shape[2])


def layer_terms(X: torch.Tensor, L: Layer, where: str = "layer") -> dict[str, torch.Tensor]:
    """The three T x T terms of one layer (float32); experts are read and summed one at a time."""
    rep = L.n_heads // L.n_kv
    Xa = _scale(X, L.attn_gain)
    q = _per_head(L.q, L.n_heads, L.q_gain, 1)
    k = _per_head(L.k, L.n_kv, L.k_gain, rep)
    m_a = bilinear(Xa, q, k, Xa)
    del q, k
    v = _per_head(L.v, L.n_kv, None, rep)
    m_b = bilinear(Xa, v, L.o.T, _scale(X, L.o_gain))  # Wo (d x H*vd): head h's columns pair with v's head h
    del v
    Xf, Xd = _scale(X, L.ffn_gain), _scale(X, L.down_gain)
    m_f = None
    for up, down in L.ffns(where):
        m = bilinear(Xf, up, down.T, Xd)
        m_f = m if m_f is None else m_f + m
    return {"attn": m_a, "ov": m_b, "ffn": m_f}


def center(M: torch.Tensor) -> torch.Tensor:
    """Double-centre (remove row and column means), then scale to unit Frobenius norm.

    Well-trained models share some token-to-token structure (frequent-direction offsets);
    centring removes the rank-one parts of it, and the unit norm makes the cosine a dot product.
    """
    M = M.to(torch.float64, copy=True)  # in place from here: a 4096 x 4096 term is 134 MB in float64
    row, col, mean = M.mean(dim=0, keepdim=True), M.mean(dim=1, keepdim=True), M.mean()
    M.sub_(row).sub_(col).add_(mean)
    n = torch.linalg.norm(M)
    return M.div_(n) if n > 0 else M
