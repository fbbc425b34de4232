"""What users touch: `fingerprint -o DIR`, `compare --image`, `card`, and the Python API behind them."""
from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import readable_fp
from readable_fp.cli import main
from readable_fp.model_card import END, START
from readable_fp.model_terms import Invariants

from helpers import LLAMA_TINY, perturbed_copy, save_tiny

N = 64


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny llama, a lightly perturbed copy (related) and an independent one."""
    root = tmp_path_factory.mktemp("product")
    save_tiny("llama", root / "a", **LLAMA_TINY)
    save_tiny("llama", root / "other", seed=9, **LLAMA_TINY)
    perturbed_copy(root / "a", root / "b", 0.002)
    return root


def run(capsys, *args):
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_fingerprint_writes_dog_latent_and_record(capsys, models, tmp_path):
    out = tmp_path / "fp"
    code, stdout, err = run(capsys, "fingerprint", models / "a", "-o", out, "--tokens", N, "--no-progress")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["dog.png", "dog.svg", "fingerprint.json", "latent.json"]
    assert Image.open(out / "dog.png").size == (256, 256)
    assert (out / "dog.svg").read_text().startswith("<svg")
    z = json.loads((out / "latent.json").read_text())["latent"]
    assert len(z) == 512 and math.isclose(math.sqrt(sum(v * v for v in z)), math.sqrt(512), rel_tol=1e-4)
    rec = json.loads((out / "fingerprint.json").read_text())
    assert rec["readable_fp"] == readable_fp.__version__
    assert rec["model"]["probe_tokens"] == N and rec["model"]["layers"] == [1, 2] and rec["model"]["architecture"] == "llama"
    assert rec["encoder"]["name"] and rec["renderer"]["name"] == "vector-dog"
    tensors = rec["tensors_read_sha256"]
    assert any("embed_tokens" in k for k in tensors) and any("layers.2.mlp.down_proj" in k for k in tensors)
    assert all(len(h) == 64 for h in tensors.values())
    assert rec["started"] <= rec["finished"]
    # the same checkpoint gives the same bytes
    again = tmp_path / "fp2"
    assert run(capsys, "fingerprint", models / "a", "-o", again, "--tokens", N, "--no-progress")[0] == 0
    for f in ("dog.png", "dog.svg", "latent.json"):
        assert (out / f).read_bytes() == (again / f).read_bytes()


def test_invariants_stay_private_unless_asked(capsys, models, tmp_path):
    out = tmp_path / "new" / "fp"  # missing folders are created
    code, stdout, _ = run(capsys, "fingerprint", models / "a", "-o", out, "--tokens", N, "--no-progress", "--save-invariants")
    assert code == 0 and "private" in stdout
    inv = Invariants.load(out / "invariants.safetensors")
    assert len(inv.probes) == N


def test_related_models_get_near_identical_dogs(models):
    fa = readable_fp.fingerprint(models / "a", n_tokens=N, progress=False)
    fb = readable_fp.fingerprint(models / "b", n_tokens=N, progress=False)
    fo = readable_fp.fingerprint(models / "other", n_tokens=N, progress=False)
    cos = lambda x, y: float(x @ y) / 512  # noqa: E731 - latents have norm sqrt(512)
    assert cos(fa.latent, fb.latent) > 0.9 and abs(cos(fa.latent, fo.latent)) < 0.3
    png, svg = readable_fp.render(fa.latent)
    assert png == fa.png and svg == fa.svg


def test_fingerprint_bad_input_is_one_line_and_writes_nothing(capsys, tmp_path):
    out = tmp_path / "fp"
    code, _, err = run(capsys, "fingerprint", tmp_path / "missing-model", "-o", out, "--no-progress")
    assert code == 2 and err.count("\n") == 1 and "no such file" in err
    assert not out.exists()
    code, _, err = run(capsys, "fingerprint", tmp_path, "-o", out, "--renderer", "nope.safetensors", "--no-progress")
    assert code == 2 and "renderer" in err and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".readable-fp-")]


def test_compare_image(capsys, models, tmp_path):
    code, out, err = run(capsys, "compare", models / "a", models / "b", "--tokens", N, "--no-progress",
                         "--image", tmp_path / "img")
    assert code == 0, err
    im = Image.open(tmp_path / "img" / "comparison.png")
    assert im.width == 2 * 256 + 3 * 16 and im.height > 256 + 60
    # the two halves are the two dogs: near-identical for related models
    a, b = im.crop((16, 16, 272, 272)), im.crop((288, 16, 544, 272))
    diff = np.abs(np.asarray(a.convert("L"), float) - np.asarray(b.convert("L"), float)).mean()
    assert diff < 20


def test_card_prints_and_writes_a_section(capsys, models, tmp_path):
    code, out, err = run(capsys, "card", models / "a", "--tokens", N, "--no-progress", "--image", tmp_path / "dog.png",
                         "--ref", "org/tiny")
    assert code == 0, err
    assert out.startswith(START) and out.rstrip().endswith(END)
    assert "readable-fp fingerprint org/tiny" in out and "Latent SHA-256" in out
    assert Image.open(tmp_path / "dog.png").size == (256, 256)

    card = tmp_path / "README.md"
    head = "---\nlicense: apache-2.0\ntags: [text-generation]\n---\n\n# Tiny\n\nSome text.\n"
    card.write_text(head)
    code, out, err = run(capsys, "card", models / "a", "--tokens", N, "--no-progress", "--write", card)
    assert code == 0, err
    text = card.read_text()
    assert text.startswith(head) and text.count(START) == 1 and "![" in text and "](fingerprint.png)" in text
    assert (tmp_path / "fingerprint.png").is_file()
    card.write_text(text + "\n## After\n\nkept\n")
    assert run(capsys, "card", models / "b", "--tokens", N, "--no-progress", "--write", card)[0] == 0
    new = card.read_text()
    assert new.startswith(head) and new.endswith("\n## After\n\nkept\n") and new.count(START) == 1
    card.write_text(head + START + "\nno end marker\n")
    code, _, err = run(capsys, "card", models / "a", "--tokens", N, "--no-progress", "--write", card)
    assert code == 2 and "markers are broken" in err and card.read_text() == head + START + "\nno end marker\n"
    (tmp_path / "fingerprint.png").unlink()
    code, _, err = run(capsys, "card", tmp_path / "missing-model", "--write", card)
    assert code == 2 and "markers are broken" in err and not (tmp_path / "fingerprint.png").exists()


def test_side_by_side_png_is_deterministic():
    from readable_fp.side_by_side import side_by_side

    z = torch.randn(512, generator=torch.Generator().manual_seed(0)).numpy()
    png, _ = readable_fp.render(z)
    one = side_by_side(png, png, "a", "b", ["ICS 99.00", "verdict: SAME BASE"])
    assert one == side_by_side(png, png, "a", "b", ["ICS 99.00", "verdict: SAME BASE"])
    assert Image.open(io.BytesIO(one)).mode == "RGB"


def test_demo_is_the_main_job(capsys, tmp_path):
    """The README's first command: fingerprints and pictures of the bundled real models, with verdicts."""
    tmp_path = tmp_path / "demo"  # as on a fresh machine: the folder does not exist yet
    code, out, err = run(capsys, "demo", "-o", tmp_path, "--no-progress", "--tokens", 1024)
    assert code == 0, err
    for key in ("minilm", "minilm-int8", "smollm2"):
        assert (tmp_path / key / "dog.png").is_file() and (tmp_path / key / "fingerprint.json").is_file()
    for pic in ("minilm-vs-minilm-int8.png", "smollm2-vs-minilm.png"):
        assert Image.open(tmp_path / pic).width == 2 * 256 + 3 * 16
    first, second = out.split("== ")[1:3]
    assert "verdict: SAME BASE" in first and "verdict: SAME BASE" not in second


def test_a_dog_keyed_by_token_ids_says_so(capsys, minilm_dir, minilm_onnx, tmp_path):
    """A model without tokenizer files is probed by token id: its record says so and its dog (PNG
    and SVG) carries the band; `compare --image` draws both dogs from the comparison's own terms,
    so the tokenizer-less export and its source get alike dogs, both banded (issue 19)."""
    from readable_fp.id_mark import TEXT

    fp = readable_fp.fingerprint(minilm_onnx, n_tokens=256, progress=False)
    assert fp.record["model"]["probe_keying"] == "token ids" and TEXT in fp.svg
    im = np.asarray(Image.open(io.BytesIO(fp.png)).convert("L"), float)
    assert im[-10:, :].mean() < 60 and im[-20:, 100:156].max() > 200  # a dark band with white text
    plain = readable_fp.fingerprint(minilm_dir, n_tokens=256, progress=False)
    assert plain.record["model"]["probe_keying"] == "token strings" and TEXT not in plain.svg
    code, _, err = run(capsys, "compare", minilm_dir, minilm_onnx, "--tokens", 256, "--no-progress",
                       "--image", tmp_path / "img")
    assert code == 0, err
    pair = Image.open(tmp_path / "img" / "comparison.png").convert("L")
    a, b = (np.asarray(pair.crop((x, 16, x + 256, 272)), float) for x in (16, 288))
    assert np.abs(a - b).mean() < 20 and a[-10:].mean() < 60 and b[-10:].mean() < 60
