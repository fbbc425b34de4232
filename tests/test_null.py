"""The calibrated verdict: the null of independent pairs, its statistics, `null add`, layer matching."""
from __future__ import annotations

import json
import math

import pytest
import torch
from scipy import stats

from readable_fp import api, bundled
from readable_fp import null as nulls
from readable_fp import null_add
from readable_fp.cli import main
from readable_fp.compare import match_layers
from readable_fp.errors import FingerprintError

from helpers import LLAMA_TINY, save_tiny

N = 64


def _null(values, group=nulls.LANGUAGE, mode="last2"):
    return nulls.Null([nulls.NullPair(f"m{i}", f"n{i}", group, mode, v, 4096) for i, v in enumerate(values)])


def test_p_value_is_the_student_t_predictive_tail():
    v = [2.57, 2.65, 0.90, 1.7]
    cal = _null(v).calibrate(12.0, "last2")
    n, mean, sd = len(v), sum(v) / len(v), torch.tensor(v, dtype=torch.float64).std().item()
    t = (12.0 - mean) / (sd * math.sqrt(1 + 1 / n))
    assert cal.p == pytest.approx(stats.t.sf(t, n - 1), rel=1e-9)
    assert cal.z == pytest.approx((12.0 - mean) / sd)
    assert cal.n_pairs == 4 and cal.group == nulls.LANGUAGE
    # the threshold is where p crosses alpha
    assert _null(v).calibrate(cal.same_base_above - 1e-6, "last2").p > nulls.ALPHA
    assert _null(v).calibrate(cal.same_base_above + 1e-6, "last2").p < nulls.ALPHA


def test_verdicts_follow_the_stated_rates():
    nl = _null([2.57, 2.65, 0.90, 1.7, 2.2])
    assert nl.calibrate(2.0, "last2").verdict == "independent"
    assert nl.calibrate(99.0, "last2").verdict == "same base"
    above = nl.calibrate(0, "last2").same_base_above
    mid = nl.calibrate((above + 3) / 2, "last2")
    assert nulls.ALPHA <= mid.p < nulls.P_INDEPENDENT and mid.verdict == "inconclusive"


def test_the_most_conservative_group_decides():
    """Seed controls sit far lower than real language models: pooling them would call an
    unrelated real pair related. The largest p over the groups decides."""
    nl = nulls.Null(_null([2.57, 2.65, 0.90]).pairs + _null([0.1, 0.2, 0.15, 0.05, 0.3], "seed controls").pairs)
    cal = nl.calibrate(2.6, "last2")
    assert cal.verdict == "independent" and cal.group == nulls.LANGUAGE
    pooled = _null([2.57, 2.65, 0.90, 0.1, 0.2, 0.15, 0.05, 0.3]).calibrate(2.6, "last2")
    assert cal.p > pooled.p


def test_modes_and_minimum_group_size():
    nl = nulls.Null(_null([1.0, 2.0], mode="all").pairs + _null([1.0]).pairs)
    assert nl.calibrate(5.0, "last2") is None  # one pair is no distribution
    assert nl.calibrate(5.0, "all") is not None
    assert nl.calibrate(5.0, None) is None
    assert nulls.mode_of(None) == "last2" and nulls.mode_of("-2,-1") == "last2" and nulls.mode_of([-1, -2]) == "last2"
    assert nulls.mode_of("all") == "all" and nulls.mode_of("0,1") is None
    assert len(_null([1.0, 2.0, 3.0]).without("m1", "n1").pairs) == 2


def test_shipped_null_is_documented_and_complete():
    nl = nulls.Null.read(nulls.SHIPPED)
    assert "different seeds" in nl.how
    for mode in ("last2", "all"):
        groups = nl.groups(mode)
        assert set(groups) == {nulls.LANGUAGE, "seed controls"}
        assert len(groups[nulls.LANGUAGE]) >= 3 and len(groups["seed controls"]) >= 10


def test_user_store_adds_to_the_shipped_null(tmp_path, monkeypatch):
    monkeypatch.setenv("READABLE_FP_HOME", str(tmp_path))
    base = len(nulls.load().pairs)
    _null([1.0, 2.0]).write(tmp_path / "null.json")
    assert len(nulls.load().pairs) == base + 2
    (tmp_path / "null.json").write_text("{not json")
    with pytest.raises(FingerprintError, match="unreadable null file"):
        nulls.load()


def test_match_layers_keeps_order_and_skips_dropped_layers():
    S = torch.full((4, 5), 0.0, dtype=torch.float64)
    for i, j in [(0, 0), (1, 1), (2, 3), (3, 4)]:  # B has an extra layer at 2
        S[i, j] = 1.0
    S[3, 2] = 0.9  # tempting, but out of order with (2, 3)
    assert match_layers(S) == [(0, 0), (1, 1), (2, 3), (3, 4)]
    assert match_layers(S.T) == [(0, 0), (1, 1), (3, 2), (4, 3)]
    assert match_layers(torch.eye(3, dtype=torch.float64)) == [(0, 0), (1, 1), (2, 2)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Three independent tiny llamas (different seeds), a copy of the first with its last layer
    dropped, and a lightly perturbed copy of the first."""
    from bench.pruning import drop_layer
    from readable_fp.attacks import load_model_dir, save_model_dir

    root = tmp_path_factory.mktemp("null")
    cfg = dict(LLAMA_TINY, num_hidden_layers=4)
    for s in range(3):
        save_tiny("llama", root / f"seed{s}", seed=s, **cfg)
    state = load_model_dir(root / "seed0")
    save_model_dir(drop_layer(state, -1), root / "pruned", root / "seed0")
    g = torch.Generator().manual_seed(5)
    state.tensors = {k: v + 0.01 * v.std() * torch.randn(v.shape, generator=g) for k, v in state.tensors.items()}
    save_model_dir(state, root / "copy", root / "seed0")
    return root


def test_compare_reports_the_verdict(tiny, capsys):
    res = api.compare(tiny / "seed0", tiny / "pruned", n_tokens=N, layers="all", progress=False)
    assert res.matched and res.ics > 99.9 and res.verdict == "same base"
    assert sorted({(t.layer_a, t.layer_b) for t in res.terms}) == [(0, 0), (1, 1), (2, 2)]
    last2 = api.compare(tiny / "seed0", tiny / "pruned", n_tokens=N, progress=False)
    assert last2.ics < 90  # the default reads layers 2, 3 against 1, 2: depth pruning defeats it
    other = api.compare(tiny / "seed0", tiny / "seed1", n_tokens=N, progress=False)
    assert other.verdict in ("independent", "inconclusive") and other.calibration.p > nulls.ALPHA
    assert main(["compare", str(tiny / "seed0"), str(tiny / "pruned"), "--layers", "all", "--tokens", str(N),
                 "--json", "--no-progress"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["matched"] and d["calibration"]["verdict"] == "same base" and d["calibration"]["mode"] == "all"
    assert main(["compare", str(tiny / "seed0"), str(tiny / "seed1"), "--layers", "0,1", "--tokens", str(N),
                 "--no-progress"]) == 0
    assert "verdict: none" in capsys.readouterr().out


def test_null_add_pairs_members_and_refuses_related_models(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("READABLE_FP_HOME", str(tmp_path))
    shipped = len(nulls.load().pairs)
    pairs = null_add.add([str(tiny / "seed1"), str(tiny / "seed2")], progress=False, with_bundled=False)
    assert [(p.a, p.b) for p in pairs] == [("seed2", "seed1")] and abs(pairs[0].ics) < 20
    assert len(nulls.load().pairs) == shipped + 1
    assert sorted(f.name for f in (tmp_path / "null-members").iterdir()) == [
        "seed1.inv.safetensors", "seed2.inv.safetensors"]
    before = (tmp_path / "null.json").read_bytes()
    # seed0 is fine on its own, but 'copy' shares seed0's base: nothing at all is written
    with pytest.raises(FingerprintError, match="look related"):
        null_add.add([str(tiny / "seed0"), str(tiny / "copy")], progress=False, with_bundled=False)
    assert (tmp_path / "null.json").read_bytes() == before
    assert len(list((tmp_path / "null-members").iterdir())) == 2
    with pytest.raises(FingerprintError, match="already in the null"):
        null_add.add([str(tiny / "seed1")], progress=False, with_bundled=False)
    # the command line: one-line error, non-zero exit
    assert main(["null", "add", str(tiny / "copy"), str(tiny / "seed0"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "look related" in err or "already in the null" in err


def test_null_show(capsys):
    assert main(["null", "show"]) == 0
    out = capsys.readouterr().out
    assert "mode last2: 'same base' above ICS" in out and "seed controls" in out


def test_shipped_null_on_the_bundled_real_models():
    """The demo's pairs, judged by the shipped null: an int8 export is the same base, SmolLM2 and
    all-MiniLM are not (neither pair is in the null: the export is derived, and these two models'
    own pair is left out of the null used here)."""
    nl = nulls.Null.read(nulls.SHIPPED)
    same = api.compare(bundled.model("minilm"), bundled.model("minilm-int8"), progress=False, null=nl)
    assert same.verdict == "same base"
    smol, mini = "SmolLM2-135M", "all-MiniLM-L6-v2"
    other = api.compare(bundled.path("smollm2"), bundled.path("minilm"), progress=False, null=nl.without(smol, mini))
    assert other.verdict == "independent", other.calibration.line()
