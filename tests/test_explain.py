"""`compare` says why, in words: each pattern of per-term and per-layer values gets its sentence,
on made-up comparisons (one per rule) and on the bundled real pairs."""
from __future__ import annotations

from readable_fp import api, bundled
from readable_fp.compare import Comparison, TermScore


def _cmp(values: dict[str, list[float]], layers=((4, 4), (5, 5)), matched=False, models=None) -> Comparison:
    terms = [TermScore(t, la, lb, values[t][k]) for k, (la, lb) in enumerate(layers) for t in ("attn", "ov", "ffn")]
    return Comparison(sum(s.ics for s in terms) / len(terms), 4096, terms, models or [{}, {}], matched=matched)


def test_each_pattern_has_its_sentence():
    same = _cmp({"attn": [100, 99.99], "ov": [99.98, 100], "ffn": [99.95, 99.97]},
                models=[{"dtype": "bf16", "n_layers": 6}, {"dtype": "q4_k", "n_layers": 6}])
    assert "the same weights" in same.why()[0] and "quantised copy" in same.why()[1]
    tuned = _cmp({"attn": [97.1, 96.0], "ov": [95.2, 94.8], "ffn": [93.0, 98.2]})
    assert tuned.why() == ["every term is high, the lowest ffn at layer 4 (93.0): what a fine-tune, quantisation or "
                           "pruning of one base looks like"]
    # the independent pair of issue 18: attn ~1.2, ov ~0.9, ffn 14.4 in the second-to-last layer
    lang = _cmp({"attn": [1.2, 1.3], "ov": [0.9, 0.8], "ffn": [14.4, 5.1]}, models=[{"dtype": "f32"}, {"dtype": "q8_0"}])
    assert lang.why() == ["only the ffn terms stand out (up to 14.4; attn and ov below 10): language structure that "
                          "independently trained models share, not a shared base"]  # storage says nothing here
    assert _cmp({"attn": [1, 2], "ov": [0.5, -1], "ffn": [3, 2]}).why()[0].startswith("no term reaches 10")
    mixed = _cmp({"attn": [80, 70], "ov": [5, 3], "ffn": [40, 30]}).why()[0]
    assert mixed.startswith("the terms disagree (highest attn at layer 4: 80.0; lowest ov at layer 5: 3.0)")


def test_layers_removed_or_reordered():
    pruned = _cmp({"attn": [99, 98, 97], "ov": [99, 98, 96], "ffn": [98, 97, 95]}, layers=((0, 0), (2, 1), (3, 2)),
                  matched=True, models=[{"n_layers": 4}, {"n_layers": 3}])
    assert pruned.why()[-1] == "layers matched out of step (A 0 ~ B 0, A 2 ~ B 1, A 3 ~ B 2): layers removed or reordered"
    shallower = _cmp({"attn": [99, 98], "ov": [99, 98], "ffn": [98, 97]}, layers=((4, 3), (5, 4)),
                     models=[{"n_layers": 6}, {"n_layers": 5}])
    assert shallower.why()[-1] == "A has 6 layers, B 5: layers removed or added"


def test_real_pairs_are_explained_in_the_table_and_json():
    derived = api.compare(bundled.model("minilm"), bundled.model("minilm-int8"), progress=False)
    assert derived.why() == ["every term and layer agrees to within 0.1: the same weights, up to the rearrangements "
                             "the terms ignore (permuted heads or neurons, rotations, rescaling)",
                             "stored differently (A f32, B int8): one may be a quantised copy of the other"]
    assert "why: stored differently" in derived.table() and derived.to_dict()["why"] == derived.why()
    unrelated = api.compare(bundled.model("minilm"), bundled.path("smollm2"), progress=False)
    assert unrelated.verdict == "independent" and unrelated.why() == ["no term reaches 10: these layers share little, if anything"]
