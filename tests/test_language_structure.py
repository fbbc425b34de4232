"""Taking the shared language structure out of the terms (readable_fp/language_structure.py):
what two models share only through alike embeddings goes, what their weights share stays."""
from __future__ import annotations

import torch

from readable_fp import language_structure as ls
from readable_fp.terms import center

T, D = 200, 48


def _embeddings(seed: int, shared: torch.Tensor) -> torch.Tensor:
    """Two 'languages' with alike token geometry: a common part plus each model's own."""
    g = torch.Generator().manual_seed(seed)
    return shared @ torch.randn(D, D, generator=g) + 0.5 * torch.randn(T, D, generator=g)


def _term(X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    return X @ W @ X.T


def test_shared_embeddings_alone_no_longer_score():
    g = torch.Generator().manual_seed(0)
    shared = torch.randn(T, D, generator=g)
    Xa, Xb = _embeddings(1, shared), _embeddings(2, shared)
    # unrelated weights that both act partly as a scaled identity: the Gram leaks into the terms
    Wa = 3 * torch.eye(D) + torch.randn(D, D, generator=g)
    Wb = 3 * torch.eye(D) + torch.randn(D, D, generator=g)
    a, b = _term(Xa, Wa), _term(Xb, Wb)
    B = ls.basis(ls.gram(Xa), ls.gram(Xb))
    before, after = ls.cosine_without(None, a, b), ls.cosine_without(B, a, b)
    assert before > 0.1 and abs(after) < 0.05, (before, after)  # measured 0.15 -> 0.03


def test_shared_weights_still_score():
    g = torch.Generator().manual_seed(3)
    X = torch.randn(T, D, generator=g)
    W = torch.eye(D) + torch.randn(D, D, generator=g)
    tuned = W + 0.1 * torch.randn(D, D, generator=g)
    B = ls.basis(ls.gram(X), ls.gram(X))  # one embedding on both sides: B B^T is singular
    assert ls.cosine_without(B, _term(X, W), _term(X, W)) > 0.999999
    assert ls.cosine_without(B, _term(X, W), _term(X, tuned)) > 0.95


def test_without_a_basis_it_is_the_centred_cosine():
    g = torch.Generator().manual_seed(4)
    a, b = torch.randn(T, T, generator=g), torch.randn(T, T, generator=g)
    a = a + b
    assert abs(ls.cosine_without(None, a, b) - float((center(a) * center(b)).sum())) < 1e-12
