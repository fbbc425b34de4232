"""The encoder: the sketch that reduces the terms, the three encoders, the shipped weights and
their record, bad input, determinism, and a short training run that repeats bit for bit."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from readable_fp import api, encoder
from readable_fp.compare import compare_invariants
from readable_fp.errors import FingerprintError
from readable_fp.model_terms import Invariants
from readable_fp.sketch import K, sketch, sketch_cosine

from encoder_training.data import SyntheticBase


def _pair(eps: float, seed: int = 0, T: int = 384):
    gen = torch.Generator().manual_seed(seed)
    base = SyntheticBase.draw(gen, T, own_strings=0.0)
    return base.variant(0.0, gen), base.variant(eps, gen)


@pytest.fixture(scope="module")
def smollm2_inv(smollm2_gguf):
    return api.invariants(str(smollm2_gguf), n_tokens=4096, progress=False)


def test_sketch_shape_scale_and_ics_estimate():
    a, b = _pair(0.3)
    sa, sb = sketch(a), sketch(b)
    assert sa.shape == (6, K, K) and sa.dtype == torch.float32
    assert torch.allclose(sa.flatten(1).norm(dim=1), torch.full((6,), float(K)), rtol=1e-5)
    ics = compare_invariants(a, b, remove_language=False).ics
    est = 100 * float(sketch_cosine(sa[None], sb[None]))
    print(f"\n[sketch] ICS {ics:.2f}, sketch estimate {est:.2f}")
    assert 20 < ics < 95 and abs(est - ics) < 3.0


def test_sketch_is_keyed_by_strings_not_positions():
    a, _ = _pair(0.1)
    perm = torch.randperm(len(a.probes), generator=torch.Generator().manual_seed(5))
    shuffled = Invariants([a.probes[i] for i in perm], a.layers, a.n_layers,
                          {k: v[perm][:, perm] for k, v in a.terms.items()})
    assert torch.equal(sketch(a), sketch(shuffled))
    # a few extra probe strings (an extended vocabulary) barely move the sketch
    sub = a.restricted(a.probes[: len(a.probes) - 24])
    assert float(sketch_cosine(sketch(a)[None], sketch(sub)[None])) > 0.9


@pytest.mark.parametrize("name", ["random-projection", "mean-pool", "trained"])
def test_latents_related_close_unrelated_far(name):
    enc = encoder.get(name)
    a, b = _pair(0.05, seed=1)
    c, _ = _pair(0.05, seed=2)
    za, zb, zc = enc.encode(a), enc.encode(b), enc.encode(c)
    assert za.shape == (512,) and za.dtype == np.float32
    assert abs(float(np.linalg.norm(za)) - math.sqrt(512)) < 1e-3
    ics_ab, ics_ac = compare_invariants(a, b, remove_language=False).ics, compare_invariants(a, c, remove_language=False).ics
    cab, cac = encoder.cosine(za, zb), encoder.cosine(za, zc)
    print(f"\n[latent] {name}: related ICS {ics_ab:.1f} -> cos {cab:.3f}; unrelated ICS {ics_ac:.1f} -> cos {cac:.3f}")
    assert cab > 0.9 and abs(cac) < 0.25


def test_encoding_is_deterministic_and_fast_enough_on_real_terms(smollm2_inv):
    for name in encoder.NAMES:
        enc = encoder.get(name)
        z1, z2 = enc.encode(smollm2_inv), enc.encode(smollm2_inv)
        assert z1.tobytes() == z2.tobytes(), name
        assert np.isfinite(z1).all()


def test_random_projection_matrix_is_standard_normal():
    g = encoder._gaussian_matrix(encoder.RandomProjection.SEED)
    assert g.shape == (512, 6 * K * K)
    assert abs(float(g.mean())) < 0.002 and abs(float(g.std()) - 1) < 0.002
    # fixed values: the matrix must not change between installs (Philox raw bits + our Box-Muller),
    # or every published random-projection latent would change with it
    assert [round(float(v), 6) for v in g[0, :3]] == [1.345622, -0.961819, 1.961836]
    assert [round(float(v), 6) for v in g[-1, -3:]] == [0.449377, -0.723278, -1.230379]


def test_bad_input_gets_clear_errors():
    a, _ = _pair(0.1)
    with pytest.raises(FingerprintError, match="expected \\(6, 64, 64\\)"):
        encoder.RandomProjection().encode_sketches(torch.zeros(5, 64, 64))
    bad = sketch(a).clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(FingerprintError, match="NaN"):
        encoder.get("trained").encode_sketches(bad)
    nan_terms = Invariants(a.probes, a.layers, a.n_layers, {**a.terms, "ffn@1": a.terms["ffn@1"].clone().fill_(float("nan"))})
    with pytest.raises(FingerprintError, match="'ffn@1' holds NaN"):
        encoder.latent(nan_terms, "random-projection")
    wrong = Invariants(a.probes, a.layers, a.n_layers, {**a.terms, "attn@0": a.terms["attn@0"][:10]})
    with pytest.raises(FingerprintError, match="'attn@0' has shape"):
        encoder.latent(wrong, "mean-pool")
    first_layers = Invariants(a.probes, [0, 1], 6, a.terms)
    with pytest.raises(FingerprintError, match="last two layers"):
        encoder.latent(first_layers)
    with pytest.raises(FingerprintError, match="unknown encoder"):
        encoder.get("vae")


def test_shipped_weights_and_record():
    rec = json.loads(encoder.RECORD.read_text())
    assert rec["default"] in encoder.NAMES and encoder.default_name() == rec["default"]
    for name in encoder.NAMES:
        m = rec["metrics"][name]
        assert {"spearman", "related_min_cos", "independent_max_abs_cos", "ks_p", "encode_seconds_median"} <= set(m)
    assert rec["training"]["config"]["seed"] == 0
    trained = encoder.load_trained()
    assert trained.net.config == {"widths": rec["training"]["config"]["widths"], "latent": 512, "input": [6, K, K]}


def test_unreadable_weights_file(tmp_path):
    p = tmp_path / "enc.safetensors"
    p.write_bytes(b"not safetensors")
    with pytest.raises(FingerprintError, match="not a readable-fp encoder"):
        encoder.load_trained(p)


def test_cli_latent(tmp_path, smollm2_gguf):
    out = tmp_path / "z.json"
    r = subprocess.run([sys.executable, "-m", "readable_fp.cli", "latent", str(smollm2_gguf), "--tokens", "1024",
                        "--no-progress", "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    z = json.loads(out.read_text())
    assert len(z["latent"]) == 512 and z["encoder"] == encoder.default_name()
    first = tmp_path / "first.inv.safetensors"
    r = subprocess.run([sys.executable, "-m", "readable_fp.cli", "invariants", str(smollm2_gguf), "--layers", "0,1",
                        "--tokens", "256", "--no-progress", "-o", str(first)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "readable_fp.cli", "latent", str(first), "-o", str(tmp_path / "no.json")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "last two layers" in r.stderr
    assert not (tmp_path / "no.json").exists() and not (tmp_path / "no.json.partial").exists()
    r = subprocess.run([sys.executable, "-m", "readable_fp.cli", "latent", str(smollm2_gguf), "--encoder", "nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown encoder" in r.stderr and "Traceback" not in r.stderr


def test_training_is_deterministic(tmp_path):
    from encoder_training.train import Config, train

    outs = []
    for run in range(2):
        cfg = Config(n_synthetic=12, subsets_per_pair=0, steps=6, groups_per_batch=8, val_groups=8, log_every=3)
        out = tmp_path / f"run{run}" / "encoder.safetensors"
        rec = train(cfg, out, progress=False)
        outs.append(out.read_bytes())
        assert len(rec["curves"]) == 2 and all(math.isfinite(c["fidelity"]) for c in rec["curves"])
    assert outs[0] == outs[1]
    enc = encoder.load_trained(tmp_path / "run0" / "encoder.safetensors")
    a, _ = _pair(0.1)
    assert enc.encode(a).shape == (512,)
