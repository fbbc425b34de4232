"""Why a comparison came out as it did, in words, from its per-term and per-layer values.

The number and the verdict say how sure we are; these lines say what the pattern looks like:
every term agreeing (a copy, a quantised copy, a fine-tune), only the FFN terms high (language
structure that independently trained models share, not a shared base), layers matched out of
step (layers removed or reordered), models stored differently (a quantised copy). They read the
comparison only; they never change the verdict.
"""
from __future__ import annotations

from .terms import TERMS

HIGH = 50.0  # a term this high is far above any independent pair measured (method.md section 3)
LOW = 10.0  # attention terms of independent pairs stay below this


def explain(res) -> list[str]:
    """One to four short sentences about a `readable_fp.compare.Comparison`."""
    by_term = {t: [s.ics for s in res.terms if s.term == t] for t in TERMS}
    top = {t: max(v) for t, v in by_term.items() if v}
    low = min(res.terms, key=lambda s: s.ics)
    if all(s.ics >= 99.9 for s in res.terms):
        out = ["every term and layer agrees to within 0.1: the same weights, up to the rearrangements the terms "
               "ignore (permuted heads or neurons, rotations, rescaling)"]
    elif all(s.ics >= HIGH for s in res.terms):
        out = [f"every term is high, the lowest {low.term} at layer {low.layer_a} ({low.ics:.1f}): what a "
               "fine-tune, quantisation or pruning of one base looks like"]
    elif top.get("ffn", 0) >= LOW and max(top.get("attn", 0), top.get("ov", 0)) < LOW:
        out = [f"only the ffn terms stand out (up to {top['ffn']:.1f}; attn and ov below {LOW:.0f}): language "
               "structure that independently trained models share, not a shared base"]
    elif all(s.ics < LOW for s in res.terms):
        # worded so that it holds beside either verdict: a few points of ICS can be "same base"
        out = [f"no term reaches {LOW:.0f}: these layers share little, if anything"]
    else:
        hi = max(res.terms, key=lambda s: s.ics)
        out = [f"the terms disagree (highest {hi.term} at layer {hi.layer_a}: {hi.ics:.1f}; lowest {low.term} at "
               f"layer {low.layer_a}: {low.ics:.1f}): some structure is shared, not all of it"]
    # how two related models differ; for unrelated ones their storage and depths explain nothing
    return out + (_models(res) if res.ics >= HIGH else [])


def _models(res) -> list[str]:
    """What the two models' own records add: how they are stored, their depths, the layer matching."""
    out = []
    a, b = (res.models + [{}, {}])[:2]
    if a.get("dtype") and b.get("dtype") and a["dtype"] != b["dtype"]:
        out.append(f"stored differently (A {a['dtype']}, B {b['dtype']}): one may be a quantised copy of the other")
    pairs = sorted({(s.layer_a, s.layer_b) for s in res.terms})
    if res.matched and len({la - lb for la, lb in pairs}) > 1:
        out.append("layers matched out of step (" + ", ".join(f"A {la} ~ B {lb}" for la, lb in pairs[:8])
                   + (", ..." if len(pairs) > 8 else "") + "): layers removed or reordered")
    elif a.get("n_layers") and b.get("n_layers") and a["n_layers"] != b["n_layers"]:
        out.append(f"A has {a['n_layers']} layers, B {b['n_layers']}: layers removed or added")
    return out
