"""Training inputs for the encoder: groups of related term sets, reduced to sketches.

A *base* is something with invariant terms; a *variant* of it is the same base after a
perturbation that imitates fine-tuning (relative Gaussian noise of size eps on every weight
matrix and on the probe embeddings). eps runs log-uniformly from 1e-3 (ICS ~100) to 3
(ICS near 0), so related pairs cover the whole range of ICS, not just "same" and "different".

Two kinds of base:
- synthetic (as in the paper): products of Gaussian matrices X W1^T W2 X^T, one (W1, W2) per
  channel, with heavy-tailed token norms and a decaying spectrum in X, because real terms are
  dominated by a few directions (measured effective ranks 1.5-14 on SmolLM2 and Gemma-3);
- real: the canonical attention/FFN weights of real checkpoints (SmolLM2-135M, Gemma-3-270m,
  all-MiniLM-L6-v2) at pairs of *non-final* layers on random subsets of their probe strings.
  The final two layers are kept out: they are the held-out real inputs of `evaluate.py`.

Everything is drawn from one seeded torch.Generator, so a seed fixes the data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from readable_fp.adapters import Layer
from readable_fp.model_terms import Invariants, language_model, probe_ids
from readable_fp.sketch import sketch
from readable_fp.terms import TERMS, bilinear, layer_terms

LAYER_FIELDS = ("q", "k", "v", "o", "up", "down")


def as_invariants(probes: list[str], terms: list[torch.Tensor]) -> Invariants:
    """Six terms (attn, ov, ffn of two layers) as the last two layers of a 2-layer model."""
    keys = [f"{t}@{i}" for i in (0, 1) for t in TERMS]
    return Invariants(list(probes), [0, 1], 2, dict(zip(keys, terms)))


def _noisy(t: torch.Tensor, eps: float, gen: torch.Generator) -> torch.Tensor:
    rms = t.pow(2).mean().sqrt()
    return t + eps * rms * torch.randn(t.shape, generator=gen)


def log_uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    return math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * float(torch.rand((), generator=gen)))


@dataclass
class SyntheticBase:
    probes: list[str]
    X: torch.Tensor  # T x d
    pairs: list[tuple[torch.Tensor, torch.Tensor]]  # six (W1, W2), each r x d

    @classmethod
    def draw(cls, gen: torch.Generator, T: int, universe: int = 200_000, own_strings: float = 0.5) -> "SyntheticBase":
        """A random base; with probability `own_strings` its probe strings are its own random
        subset of a large universe, else the one shared set (like models of one tokenizer)."""
        d = int(torch.randint(32, 257, (), generator=gen))
        if float(torch.rand((), generator=gen)) >= own_strings:
            ids = range(T)
        else:
            ids = torch.randperm(universe, generator=gen)[:T].tolist()
        probes = [f"tok{i}" for i in ids]
        alpha = 1.5 * float(torch.rand((), generator=gen))  # spectrum decay: 0 (flat) .. 1.5 (a few directions)
        spread = float(torch.rand((), generator=gen))  # log-normal spread of token norms
        X = torch.randn(T, d, generator=gen) * torch.arange(1, d + 1).pow(-alpha)
        X = X * torch.exp(spread * torch.randn(T, 1, generator=gen))
        pairs = []
        for _ in range(2 * len(TERMS)):
            r = int(torch.randint(8, 129, (), generator=gen))
            pairs.append((torch.randn(r, d, generator=gen), torch.randn(r, d, generator=gen)))
        return cls(probes, X, pairs)

    def variant(self, eps: float, gen: torch.Generator) -> Invariants:
        if eps == 0:
            X, pairs = self.X, self.pairs
        else:
            X = _noisy(self.X, eps, gen)
            pairs = [(_noisy(a, eps, gen), _noisy(b, eps, gen)) for a, b in self.pairs]
        return as_invariants(self.probes, [bilinear(X, a, b, X) for a, b in pairs])


@dataclass
class RealBase:
    probes: list[str]
    X: torch.Tensor
    layers: list[Layer]

    def variant(self, eps: float, gen: torch.Generator) -> Invariants:
        terms = []
        X = self.X if eps == 0 else _noisy(self.X, eps, gen)
        for L in self.layers:
            if eps:
                L = Layer(**{**L.__dict__, **{f: _noisy(getattr(L, f), eps, gen) for f in LAYER_FIELDS}})
            terms += list(layer_terms(X, L).values())
        return as_invariants(self.probes, terms)


class RealModel:
    """One checkpoint's probe table, embedding rows and canonical layers, read on demand."""

    def __init__(self, ckpt):
        self.ckpt = ckpt
        self.lm = language_model(ckpt)
        self.table = probe_ids(ckpt)
        self.n_layers = self.lm.n_layers
        self._layers: dict[int, Layer] = {}

    def layer(self, i: int) -> Layer:
        if i not in self._layers:
            self._layers[i] = self.lm.layer(i)
        return self._layers[i]

    def base(self, layers: tuple[int, int], probes: list[str]) -> RealBase:
        X = self.lm.embed_post(self.ckpt.get(self.lm.embedding, rows=[self.table[s] for s in probes]))
        return RealBase(list(probes), X, [self.layer(i) for i in layers])

    def training_layer_pairs(self) -> list[tuple[int, int]]:
        """Consecutive pairs of layers, never touching the last two (held out for evaluation)."""
        return [(i, i + 1) for i in range(0, self.n_layers - 3, 2)]


def group_sketches(base, n_variants: int, gen: torch.Generator, eps_range=(1e-3, 3.0)) -> torch.Tensor:
    """Sketches of the clean base and n_variants - 1 perturbed variants: n_variants x 6 x 64 x 64."""
    out = [sketch(base.variant(0.0, gen))]
    for _ in range(n_variants - 1):
        out.append(sketch(base.variant(log_uniform(gen, *eps_range), gen)))
    return torch.stack(out)


def build_pool(seed: int, n_synthetic: int, real_models: list[RealModel], subsets_per_pair: int,
               n_variants: int = 4, T_synthetic: int = 256, T_real: int = 512, progress: bool = True) -> dict:
    """The training pool: groups x variants x 6 x 64 x 64 (float16) and where each group came from."""
    gen = torch.Generator().manual_seed(seed)
    groups, kinds = [], []
    jobs = [("synthetic", None, None)] * n_synthetic
    for m_i, m in enumerate(real_models):
        for pair in m.training_layer_pairs():
            jobs += [("real", m_i, pair)] * subsets_per_pair
    strings = [sorted(m.table) for m in real_models]
    with torch.no_grad():
        for kind, m_i, pair in tqdm(jobs, desc="encoder training data", unit="group", disable=not progress):
            if kind == "synthetic":
                base = SyntheticBase.draw(gen, T_synthetic)
            else:
                pick = torch.randperm(len(strings[m_i]), generator=gen)[:T_real].tolist()
                base = real_models[m_i].base(pair, [strings[m_i][j] for j in pick])
            groups.append(group_sketches(base, n_variants, gen).half())
            kinds.append(kind if kind == "synthetic" else f"real:{m_i}:{pair[0]}")
    return {"x": torch.stack(groups), "kinds": kinds}
