"""The token-to-token structure that independently trained language models share, taken out of
the terms before they are compared.

Two unrelated real models agree on which probe tokens are alike: the Gram matrices G = X X^T of
their probe embeddings correlate. Every term X W1^T W2 X^T carries part of G wherever W1^T W2 acts
like a scaled identity on part of the stream, and part of G^2 where it acts like a projection onto
the embeddings' main directions; so unrelated models scored ICS up to 4 (SmolLM2 vs Qwen2.5-Coder:
ffn 14.4 in one layer) although no weight is shared. Before the cosine, each centred term of both
models is replaced by its least-squares residual on span{G_A, G_B, G_A^2, G_B^2} (centred): both
lose the same subspace, the part any two language models could share by reading language alone.
What is left is what the weights themselves decide. Measured on the evaluation suite
(bench/results/language_structure.md): the 15 real independent pairs fell from ICS 1.36 +- 1.84
(max 3.98) to 0.23 +- 0.28 (max 0.68). Seven derived pairs fell too, most where the default
layers compare layers out of step (last layer dropped: 35.7 -> 11.2; `--layers all` reads it as
100), since two layers of one model share the same Gram; but the lowest derived pair now stands
40 sd of the independent pairs above their mean instead of 18.

G is read from the same probe embeddings as the terms, so it is as invariant as they are: residual
rotations and permutations leave X X^T unchanged, the other attacks do not touch X, and probes are
matched by string.
"""
from __future__ import annotations

import torch

from .terms import center


def gram(X: torch.Tensor) -> torch.Tensor:
    """The probe embeddings' Gram matrix X X^T (T x T, float32)."""
    X = X.float()
    return X @ X.T


def squared(G: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
    """G^2 (float32); from the embeddings X (T x d) when they are at hand and narrower than T:
    X (X^T X) X^T costs T^2 d + T d^2 instead of T^3 (0.1 s instead of 0.8 s for all-MiniLM)."""
    if X is not None and X.shape[1] < X.shape[0]:
        X = X.float()
        return X @ ((X.T @ X) @ X.T)
    return G.float() @ G.float()


def basis(gram_a: torch.Tensor, gram_b: torch.Tensor, x_a: torch.Tensor | None = None,
          x_b: torch.Tensor | None = None) -> torch.Tensor:
    """The centred, unit-norm G_A, G_B, G_A^2, G_B^2, flattened: 4 x T^2 (float64); x_a, x_b: the
    probe embeddings, if still in memory (`squared`)."""
    mats = [gram_a, gram_b, squared(gram_a, x_a), squared(gram_b, x_b)]
    return torch.stack([center(m).flatten() for m in mats])


def cosine_without(B: torch.Tensor | None, a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine of two terms once the shared language structure `B` is taken out of both (None:
    of the centred terms as they are, the similarity the encoder's sketches estimate).

    With P the projection onto the rows of B and a, b the centred terms, the residuals' inner
    products are a.b - (Ba)^T (B B^T)^+ (Bb) and the like, so no residual is ever formed. The
    pseudo-inverse copes with G_A = G_B (two copies of one embedding: a quantised model)."""
    a, b = center(a).flatten(), center(b).flatten()
    ab = float(a @ b)
    if B is None:
        return ab
    pinv = torch.linalg.pinv(B @ B.T, rtol=1e-9, hermitian=True)
    Ba, Bb = B @ a, B @ b
    ab -= float(Ba @ pinv @ Bb)
    aa, bb = 1.0 - float(Ba @ pinv @ Ba), 1.0 - float(Bb @ pinv @ Bb)  # centred terms have unit norm
    return ab / (aa * bb) ** 0.5 if aa > 1e-12 and bb > 1e-12 else 0.0
