"""The evaluation suite's own parts: the ROC figures, and pruning that leaves a loadable model."""
from __future__ import annotations

import pytest
import torch

from bench import pruning
from bench.evaluate import calibrate, roc, summary
from readable_fp.attacks import load_model_dir, save_model_dir

from helpers import LLAMA_TINY, save_tiny


def test_roc_and_partial_roc():
    assert roc([5, 6, 7], [1, 2, 3]) == 1.0
    assert roc([1, 2, 3], [5, 6, 7]) == 0.0
    assert roc([2, 2], [2, 2]) == 0.5  # ties count half
    # one negative (of 4) above every positive: the curve is 0 on FPR [0, 0.25], then 1
    assert roc([5, 6], [9, 1, 2, 3]) == pytest.approx(0.75)
    assert roc([5, 6], [9, 1, 2, 3], max_fpr=0.05) == 0.0
    assert roc([5, 6], [4, 1, 2, 3], max_fpr=0.05) == 1.0


def _row(a, b, derived, ics, group="real families"):
    return {"a": a, "b": b, "derived": derived, "group": group,
            **{m: {"ics": ics, "n_tokens": 4096} for m in ("ours", "all", "published")}}


def test_calibration_leaves_each_independent_pair_out():
    rows = [_row("x", "y", False, 1.8), _row("x", "z", False, 1.7), _row("y", "z", False, 0.7),
            _row("x", "x2", True, 99.0), _row("y", "y2", True, 40.0)]
    calibrate(rows)
    assert [r["ours"]["verdict"] for r in rows[3:]] == ["same base", "same base"]
    s = summary(rows)["ours"]
    assert s["false_positives"] == 0 and s["derived_same_base"] == 2 and s["margin"] == pytest.approx(38.2)


@pytest.mark.parametrize("edit, check", [
    (lambda s: pruning.prune_ffn(s, 0.25), lambda c, sd: c["intermediate_size"] == 96),
    (lambda s: pruning.prune_hidden(s, 0.2), lambda c, sd: c["hidden_size"] == 48 and c["head_dim"] == 8),
    (lambda s: pruning.drop_layer(s, -1), lambda c, sd: c["num_hidden_layers"] == 2
     and not any(".layers.2." in k for k in sd)),
])
def test_pruned_models_load_and_run(tmp_path, edit, check):
    from transformers import AutoModelForCausalLM

    save_tiny("llama", tmp_path / "src", **LLAMA_TINY)
    state = edit(load_model_dir(tmp_path / "src"))
    assert check(state.config, state.tensors)
    save_model_dir(state, tmp_path / "dst", tmp_path / "src")
    model, info = AutoModelForCausalLM.from_pretrained(str(tmp_path / "dst"), output_loading_info=True)
    assert not any(info.values())  # no missing, unexpected or mismatched weights
    ids = torch.arange(10)[None]
    assert torch.isfinite(model(input_ids=ids, labels=ids).loss)
