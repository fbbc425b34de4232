"""The verdict on real independent models (issue 18): the families PyPI packages ship in pieces
are rebuilt and read, the pair that used to come out "inconclusive" (SmolLM2 vs Qwen2.5-Coder,
ICS 3.98) is "independent" against a null without either family, a published real fine-tune is
"same base", and the shipped null passes leave-one-family-out for every real pair."""
from __future__ import annotations

import json

import pytest

from encoder_training import pieced_models
from readable_fp import api, bundled
from readable_fp import null as nulls
from readable_fp.cli import main
from readable_fp.errors import FingerprintError
from readable_fp.model_terms import Invariants, language_model


@pytest.fixture(scope="module")
def shipped():
    return nulls.Null.read(nulls.SHIPPED)


def _shipped_ics(nl, a, b):
    (p,) = [p for p in nl.pairs if p.mode == "last2" and {p.a, p.b} == {a, b}]
    return p.ics


@pytest.mark.parametrize("build, arch, n_layers", [
    (pieced_models.qwen_coder_gguf, "gguf:qwen2", 24),
    (pieced_models.mpnet_dir, "mpnet", 12),
    (pieced_models.distilbert_tagger_dir, "distilbert", 6),  # config.json beside model.onnx: the ONNX export
    (pieced_models.sre_minilm_dir, "bert", 6),
])
def test_pieced_models_are_rebuilt_checked_and_read(build, arch, n_layers):
    path = build()
    assert build() == path  # built once: the second call finds it
    lm = language_model(api.open_model(path))
    assert (lm.architecture, lm.n_layers) == (arch, n_layers)


def test_the_issues_pair_is_independent_without_either_family(shipped):
    smol, qwen = "SmolLM2-135M", "Qwen2.5-Coder-0.5B"
    c = api.compare(bundled.path("smollm2"), pieced_models.qwen_coder_gguf(), progress=False,
                    null=shipped.without_models(smol, qwen))
    print(f"\n[ICS] SmolLM2 vs Qwen2.5-Coder-0.5B: {c.ics:.2f} ({c.calibration.line()})")
    assert c.verdict == "independent", c.calibration.line()
    assert max(t.ics for t in c.terms) < 5  # the ffn 14.4 of before was shared language structure
    assert abs(c.ics - _shipped_ics(shipped, smol, qwen)) < 0.05  # the shipped figure is this run's


def test_a_published_fine_tune_is_same_base(shipped):
    c = api.compare(bundled.path("minilm"), pieced_models.sre_minilm_dir(), progress=False, null=shipped)
    assert c.verdict == "same base" and c.ics > 99, c.calibration.line()


def test_leave_one_family_out_on_the_shipped_null(shipped):
    real = [p for p in shipped.pairs if p.mode == "last2" and p.group == nulls.LANGUAGE]
    assert len(real) >= 15
    for p in real:
        cal = shipped.without_models(p.a, p.b).calibrate(p.ics, "last2")
        assert cal.verdict == "independent", f"{p.a} vs {p.b}: {cal.line()}"


def test_files_from_before_the_change_are_refused(tmp_path, capsys):
    old = tmp_path / "null.json"
    d = json.loads(nulls.SHIPPED.read_text())
    d.pop("ics", None)  # as files before the change were written
    old.write_text(json.dumps(d))
    with pytest.raises(FingerprintError, match="earlier readable-fp"):
        nulls.Null.read(old)
    inv = api.invariants(bundled.path("minilm"), n_tokens=256, progress=False)
    Invariants(inv.probes, inv.layers, inv.n_layers, inv.terms, inv.info).save(tmp_path / "old.inv.safetensors")
    assert main(["compare", str(tmp_path / "old.inv.safetensors"), str(bundled.path("minilm"))]) != 0
    err = capsys.readouterr().err.strip()
    assert "earlier readable-fp" in err and "\n" not in err
