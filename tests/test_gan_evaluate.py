"""gan_training/evaluate.py: metric helpers and an end-to-end run on a tiny random generator."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import readable_fp.readability as rd

ROOT = Path(__file__).resolve().parents[1]


def _load_evaluate():
    spec = importlib.util.spec_from_file_location("gan_evaluate", ROOT / "gan_training" / "evaluate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ev = _load_evaluate()


def test_near_copy_has_cosine_095_and_same_norm():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(50, 512, generator=g) * torch.linspace(0.5, 3.0, 50).unsqueeze(1)
    zn = rd.near_copies(z, 0.95, generator=g)
    assert zn.dtype == z.dtype and zn.shape == z.shape
    z64, zn64 = z.double(), zn.double()
    cos = (z64 * zn64).sum(1) / (z64.norm(dim=1) * zn64.norm(dim=1))
    assert (cos - 0.95).abs().max() < 1e-6
    assert torch.allclose(zn64.norm(dim=1), z64.norm(dim=1), rtol=1e-6)
    # a different random direction per row, not z itself
    assert not torch.allclose(zn, z)
    # deterministic given the generator's seed
    g2 = torch.Generator().manual_seed(3)
    torch.randn(50, 512, generator=g2)
    assert torch.equal(rd.near_copies(z, 0.95, generator=g2), zn)


def _auc_brute(near, indep):
    tot = 0.0
    for a in near:
        for b in indep:
            tot += 1.0 if a < b else 0.5 if a == b else 0.0
    return tot / (len(near) * len(indep))


@pytest.mark.parametrize(
    "near,indep",
    [
        ([0.1, 0.2, 0.3], [0.4, 0.5]),  # perfect: 1
        ([0.4, 0.5], [0.1, 0.2, 0.3]),  # reversed: 0
        ([0.1, 0.3, 0.3, 0.6], [0.3, 0.2, 0.7, 0.3, 0.05]),  # ties across groups
        ([1.0, 1.0], [1.0, 1.0, 1.0]),  # all tied: 0.5
    ],
)
def test_auc_matches_bruteforce_handmade(near, indep):
    assert rd.roc_auc_smaller(near, indep) == pytest.approx(_auc_brute(near, indep), abs=1e-12)


def test_auc_matches_bruteforce_random_with_ties():
    rng = np.random.default_rng(0)
    near = rng.integers(0, 12, size=37).astype(float)
    indep = rng.integers(4, 20, size=23).astype(float)
    assert rd.roc_auc_smaller(near, indep) == pytest.approx(_auc_brute(near, indep), abs=1e-12)
    assert rd.roc_auc_smaller([0.0], [1.0]) == 1.0


def test_ssim_identity_and_noise_monotone():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 32, 32, generator=g)
    base = torch.nn.functional.avg_pool2d(base, 3, 1, 1)  # some structure
    assert float(rd.ssim(base, base)[0]) == pytest.approx(1.0, abs=1e-5)
    noise = torch.randn(1, 3, 32, 32, generator=g)
    vals = [float(rd.ssim(base, (base + s * noise).clamp(0, 1))[0]) for s in (0.02, 0.05, 0.1, 0.3)]
    assert all(a > b for a, b in zip(vals, vals[1:])), vals
    assert vals[0] < 1.0
    # batched: one value per image; distance = 1 - SSIM
    two = torch.cat([base, base.flip(-1)])
    d = rd.ssim_distance(two, torch.cat([base, base]))
    assert d.shape == (2,) and abs(float(d[0])) < 1e-5 and float(d[1]) > 0.01
    # tiny images use a shorter odd window
    small = torch.rand(2, 3, 8, 8, generator=g)
    assert torch.allclose(rd.ssim(small, small), torch.ones(2), atol=1e-5)
    assert float(rd.blur_l2_distance(base, base)[0]) == 0.0


def _train_record(n=6):
    """The layout gan_training/train.py writes (intervals + summary)."""
    return {
        "config": {"batch": 16, "G_config": {"img_resolution": 16}},
        "intervals": [{"kimg": 0.5 * (k + 1), "images_seen": 500 * (k + 1), "iteration": 31 * (k + 1),
                       "train_seconds": 10.0 * k, "wall_seconds_session": 11.0 * k, "images_per_s": 40.0,
                       "loss_G": 2.0 - 0.1 * k, "loss_D": 1.0 + 0.05 * k, "loss_R1": None if k % 2 else 0.1,
                       "D_real": 0.5 + 0.1 * k, "D_fake": -0.5 - 0.1 * k, "ema_beta": 0.99} for k in range(n)],
        "sessions": [{"start_nimg": 0, "end_nimg": 3000, "wall_seconds": 60.0}, {"start_nimg": 3000}],
        "summary": {"final_loss_G": 1.5, "final_loss_D": 1.25, "kimg": 3.0},
    }


def test_curve_series_from_record_layouts():
    s = ev._numeric_series(_train_record())
    assert set(s) == {"loss_G", "loss_D", "loss_R1", "D_real", "D_fake"}
    assert s["loss_G"][0] == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0] and s["loss_G"][1][-1] == pytest.approx(1.5)
    assert s["loss_R1"][0] == [0.5, 1.5, 2.5]  # None entries skipped
    assert ev._final_losses(_train_record()) == {"final_loss_G": 1.5, "final_loss_D": 1.25}
    lists = {"step": [0, 10, 20], "g_loss": [3.0, 2.0, 1.0], "d_loss": [1.0, 1.1, 1.2]}
    s2 = ev._numeric_series(lists)
    assert set(s2) == {"g_loss", "d_loss"} and s2["g_loss"][0] == [0.0, 10.0, 20.0]
    img = ev.plot_curves(s)
    assert img.size[0] == 800 and img.size[1] > 500  # two panels: losses, D logits


def test_end_to_end_tiny_generator(tmp_path):
    from readable_fp import stylegan2 as sg

    torch.manual_seed(0)
    G = sg.Generator(z_dim=512, w_dim=512, img_resolution=16, img_channels=3, mapping_layers=2, channel_base=256, channel_max=32)
    gpath = tmp_path / "g.safetensors"
    sg.save_generator(G, gpath, {"note": "tiny test generator"})
    record = tmp_path / "record.json"
    record.write_text(json.dumps(_train_record()))
    real = tmp_path / "real"
    real.mkdir()
    from PIL import Image

    for i in range(3):
        Image.new("RGB", (40, 30), (60 * i, 100, 200 - 50 * i)).save(real / f"p{i}.jpg")

    def run(out):
        return ev.main(["--generator", str(gpath), "--out", str(out), "--seed", "1", "--n", "20", "--real", str(real),
                        "--record", str(record), "--timing-runs", "3"])

    assert run(tmp_path / "a") == 0
    out = tmp_path / "a"
    for name in ("contact_sheet.png", "montage.png", "pairs.png", "curves.png", "metrics.json"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["resolution"] == 16 and m["n"] == 20
    assert m["near_cosine_max_abs_error"] < 1e-6
    assert 0.0 <= m["auc_ssim"] <= 1.0 and 0.0 <= m["distances"]["blur_l2"]["auc"] <= 1.0
    assert m["timing"]["render_median_s"] > 0
    assert m["determinism"]["png_identical_on_rerender"] and m["determinism"]["png_is_png"]
    assert m["determinism"]["render_vs_batched_max_abs_diff_u8"] <= 1
    assert set(m["record"]["final"]) == {"loss_G", "loss_D", "loss_R1", "D_real", "D_fake"}
    assert m["outputs"] == ["contact_sheet.png", "montage.png", "pairs.png", "curves.png", "metrics.json"]
    sheet = Image.open(out / "contact_sheet.png")
    # 8 x 4 grid of 16 px renders upscaled x2 with 4 px gaps
    assert sheet.size == (8 * 32 + 9 * 4, 4 * 32 + 5 * 4)
    # deterministic given --seed: same figures and same AUC on a second run
    assert run(tmp_path / "b") == 0
    m2 = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert m2["distances"] == m["distances"]
    for name in ("contact_sheet.png", "montage.png", "pairs.png", "curves.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
