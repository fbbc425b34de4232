"""The published method's choices (HuRef's code, github.com/LUMIA-Group/HuRef), on our reader and
our probe tokens, so that only these choices differ in the side-by-side table:

- no norm folding: the norm gains are ignored;
- feed-forward term X ((W_gate * W_up)^T W_down^T) X^T, gate and up multiplied element-wise
  (`WuWd=x@((g.t()*u.t())@d.t())@x.t()` in its main.py; up alone where there is no gate);
- each T x T matrix z-scored (mean 0, sd 1) before the cosine (`stand_normalize2d`), no centring.

One departure, in its favour: grouped-query k and v are repeated per query head as Hugging Face
does (its Llama path multiplies q^T k directly, which fails on GQA models such as SmolLM2).
"""
from __future__ import annotations

import torch

from readable_fp import api
from readable_fp.model_terms import ID_PREFIX, language_model, probe_ids, resolve_layers
from readable_fp.terms import TERMS, _per_head, bilinear
from readable_fp.vocab import choose_probes

_GATE = ("layers.{i}.mlp.gate_proj.weight", "blk.{i}.ffn_gate.weight")


def terms(ckpt, probes: list[str], layers=None) -> dict[str, torch.Tensor]:
    lm = language_model(ckpt)
    get = lm.get
    table = probe_ids(ckpt, by_id=probes[0].startswith(ID_PREFIX))
    X = lm.embed_post(ckpt.get(lm.embedding, rows=[table[s] for s in probes]))
    out = {}
    with torch.no_grad():
        for n, i in enumerate(resolve_layers(layers, lm.n_layers, lm.attention_layers)):
            L = lm.layer(i)
            rep = L.n_heads // L.n_kv
            q, k = _per_head(L.q, L.n_heads, None, 1), _per_head(L.k, L.n_kv, None, rep)
            v = _per_head(L.v, L.n_kv, None, rep)
            gate = next((get(g.format(i=i)) for g in _GATE if get.has(g.format(i=i))), None)
            up = L.up if gate is None else gate * L.up
            # keyed by position from the end, so models of different depths line up as in the published code
            for t, m in zip(TERMS, (bilinear(X, q, k, X), bilinear(X, v, L.o.T, X), bilinear(X, up, L.down.T, X))):
                out[f"{t}@{n}"] = m
    return out


def _z(m: torch.Tensor) -> torch.Tensor:
    m = m.double().flatten()
    return (m - m.mean()) / m.std()


def compare(a, b, n_tokens: int = 4096) -> tuple[float, dict[str, float]]:
    """The published ICS of two checkpoints (100 x the cosine of the z-scored, concatenated terms)."""
    ca, cb = api.open_model(a), api.open_model(b)
    by_id = ca.vocab is None or cb.vocab is None
    probes = choose_probes([probe_ids(ca, by_id), probe_ids(cb, by_id)], n_tokens)
    ta, tb = terms(ca, probes), terms(cb, probes)
    per = {k: 100 * float(torch.nn.functional.cosine_similarity(_z(ta[k]), _z(tb[k]), dim=0)) for k in ta}
    return sum(per.values()) / len(per), per
