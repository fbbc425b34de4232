"""The procedural vector dog: determinism, size, smoothness, every dimension used, bad input."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from readable_fp import vector_dog as vd
from readable_fp.errors import FingerprintError


def _z(seed):
    return np.random.default_rng(seed).standard_normal(vd.LATENT_DIM)


def _near(z, rng, cos=0.95):
    n = np.linalg.norm(z)
    zh = z / n
    u = rng.standard_normal(z.shape)
    u -= (u @ zh) * zh
    u /= np.linalg.norm(u)
    return n * (cos * zh + np.sqrt(1 - cos * cos) * u)


def _img(z, px=96):
    png = vd.render_png(z, size=px)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64) / 255.0


def test_svg_deterministic_small_and_valid_xml():
    z = _z(1)
    a, b = vd.render_svg(z), vd.render_svg(z.copy())
    assert a == b
    assert vd.render_svg(z.astype(np.float32)) == vd.render_svg(z.astype(np.float32))
    assert len(a.encode()) < 50_000
    root = ET.fromstring(a)
    assert root.tag.endswith("svg")
    assert "<image" not in a and "NaN" not in a and "nan" not in a
    for seed in range(2, 12):
        assert len(vd.render_svg(_z(seed)).encode()) < 50_000


def test_png_deterministic():
    z = _z(2)
    p1, p2 = vd.render_png(z), vd.render_png(z.copy())
    assert p1 == p2
    assert p1[:8] == b"\x89PNG\r\n\x1a\n"
    im = Image.open(io.BytesIO(p1))
    assert im.size == (256, 256)
    assert Image.open(io.BytesIO(vd.render_png(z, size=64))).size == (64, 64)


def test_png_written_to_path(tmp_path):
    z = _z(3)
    out = tmp_path / "dog.png"
    png = vd.render_png(z, path=out)
    assert out.read_bytes() == png


def test_projection_uses_every_dimension():
    p = vd.projection()
    assert p.shape == (vd.N_ATTR, vd.LATENT_DIM)
    assert vd.N_ATTR >= 40
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(p @ p.T, np.eye(vd.N_ATTR), atol=1e-10)  # independent attributes
    # every dimension has a non-negligible weight in several attribute rows
    assert ((np.abs(p) > 1e-4).sum(axis=0) >= 5).all()


def test_every_dimension_changes_the_svg():
    z = _z(4)
    base = vd.render_svg(z)
    for k in range(vd.LATENT_DIM):
        v = z.copy()
        v[k] += 0.5
        assert vd.render_svg(v) != base, f"dimension {k} does not change the drawing"


def test_attributes_uniformish():
    zs = np.random.default_rng(5).standard_normal((400, vd.LATENT_DIM))
    av = np.stack([vd.attribute_vector(z) for z in zs])
    assert ((av > 0) & (av < 1)).all()
    assert np.abs(av.mean(axis=0) - 0.5).max() < 0.1
    assert np.abs(av.std(axis=0) - np.sqrt(1 / 12)).max() < 0.05


def test_attributes_are_lipschitz_along_a_line():
    """No jumps: along a random line, attribute steps shrink with the step size."""
    rng = np.random.default_rng(6)
    z0, d = rng.standard_normal(vd.LATENT_DIM), rng.standard_normal(vd.LATENT_DIM)
    d /= np.linalg.norm(d)
    ts = np.linspace(0, 20, 2001)  # step 0.01 in latent norm
    av = np.stack([vd.attribute_vector(z0 + t * d) for t in ts])
    steps = np.abs(np.diff(av, axis=0))
    # |dPhi/ds| <= 1/sqrt(2 pi) and |ds| <= step
    assert steps.max() <= 0.01 / np.sqrt(2 * np.pi) + 1e-12
    # a tiny perturbation changes attributes by a tiny amount
    z = _z(7)
    e = rng.standard_normal(vd.LATENT_DIM)
    e *= 1e-3 / np.linalg.norm(e)
    assert np.abs(vd.attribute_vector(z + e) - vd.attribute_vector(z)).max() < 1e-3


def test_drawing_changes_smoothly_along_a_line():
    """Pixel change per small latent step is small everywhere along a line (no visual jumps)."""
    rng = np.random.default_rng(8)
    z0, d = rng.standard_normal(vd.LATENT_DIM), rng.standard_normal(vd.LATENT_DIM)
    d /= np.linalg.norm(d)
    imgs = [_img(z0 + t * d, px=64) for t in np.linspace(0, 8, 81)]  # step 0.1 (~0.004 sigma/attr)
    steps = [np.abs(a - b).mean() for a, b in zip(imgs, imgs[1:])]
    far = np.abs(imgs[0] - _img(rng.standard_normal(vd.LATENT_DIM), px=64)).mean()
    assert max(steps) < 0.1 * far, (max(steps), far)


def test_near_copies_closer_than_independent():
    rng = np.random.default_rng(9)
    near, indep = [], []
    for _ in range(20):
        z = rng.standard_normal(vd.LATENT_DIM)
        a = _img(z)
        near.append(np.abs(a - _img(_near(z, rng))).mean())
        indep.append(np.abs(a - _img(rng.standard_normal(vd.LATENT_DIM))).mean())
    near, indep = np.array(near), np.array(indep)
    assert near.mean() < 0.6 * indep.mean()
    assert (near[:, None] < indep[None, :]).mean() > 0.9  # AUC-like


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros(511),
        np.zeros((2, 512)),
        np.full(512, np.nan),
        np.concatenate([np.zeros(511), [np.inf]]),
        "not a latent",
        [[1, 2], [3]],
    ],
)
def test_bad_latents_raise(bad):
    with pytest.raises(FingerprintError):
        vd.render_svg(bad)
    with pytest.raises(FingerprintError):
        vd.render_png(bad)


def test_bad_png_size():
    with pytest.raises(FingerprintError):
        vd.render_png(_z(10), size=0)
