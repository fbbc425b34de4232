"""gan_training/: a few tiny CPU iterations (16 px, 32 images), exact resume, DiffAugment,
the discriminator, the exported generator and the checkpoint format."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gan_training import train as gt  # noqa: E402
from gan_training.augment import DiffAugment  # noqa: E402
from gan_training.discriminator import Discriminator  # noqa: E402
from readable_fp.stylegan2 import load_generator  # noqa: E402

DOGS = REPO.parent / "shared" / "dogs" / "images"
TINY = ["--resolution", "16", "--batch", "4", "--channel-base", "256", "--channel-max", "32",
        "--r1-interval", "4", "--tick-kimg", "0.008", "--snap-kimg", "0.016", "--grid", "4",
        "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """32 photos: the first real dog photos when ../shared/dogs exists, else synthetic JPEGs."""
    d = tmp_path_factory.mktemp("photos")
    real = sorted(DOGS.glob("*.jpg"))[:32] if DOGS.is_dir() else []
    if len(real) == 32:
        for f in real:
            shutil.copy(f, d / f.name)
    else:
        from PIL import Image

        g = torch.Generator().manual_seed(0)
        for i in range(32):
            arr = (torch.rand(48, 40, 3, generator=g) * 255).to(torch.uint8).numpy()  # non-square: crop path
            Image.fromarray(arr).save(d / f"img_{i:03d}.jpg", quality=90)
    return d


def _run(out: Path, data: Path, *extra: str) -> dict:
    assert gt.main(["--out", str(out), "--data", str(data), *TINY, *extra]) == 0
    return json.loads((out / "training_record.json").read_text())


def _ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def full_run(photos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("full")
    _run(out, photos, "--kimg", "0.032")  # 8 iterations
    return out


def test_losses_finite_and_outputs(full_run):
    rec = json.loads((full_run / "training_record.json").read_text())
    assert rec["summary"]["images_seen"] == 32 and rec["summary"]["iterations"] == 8
    assert rec["config"]["images_in_dataset"] == 32
    assert "non-commercial" in rec["licence"]
    assert len(rec["intervals"]) == 4
    for e in rec["intervals"]:
        for k in ("loss_G", "loss_D", "D_real", "D_fake"):
            assert math.isfinite(e[k]), (k, e)
        assert e["images_per_s"] > 0
    assert any(e["loss_R1"] is not None and math.isfinite(e["loss_R1"]) for e in rec["intervals"])
    for name in ("reals.png", "samples-final.png", "samples-000000016.png", "samples-000000032.png",
                 "generator.safetensors", "checkpoint-000000016.pt", "checkpoint-000000032.pt"):
        assert (full_run / name).is_file(), name


def test_checkpoint_loads_weights_only(full_run):
    ck = _ckpt(full_run / "checkpoint-000000032.pt")
    assert ck["format"] == gt.CHECKPOINT_FORMAT
    assert {"G", "D", "G_ema", "opt_G", "opt_D", "state", "rng", "args"} <= set(ck)
    assert ck["state"]["cur_nimg"] == 32 and ck["state"]["iteration"] == 8
    # G_ema has moved away from G's initial weights but is not G itself (EMA)
    assert any(not torch.equal(ck["G"][k], ck["G_ema"][k]) for k in ck["G"])


def test_resume_is_bit_identical(full_run, photos, tmp_path):
    out = tmp_path / "split"
    _run(out, photos, "--kimg", "0.020")  # stops after 5 iterations (an R1 step lies on each side)
    assert gt.main(["--resume", str(out), "--kimg", "0.032", "--no-progress"]) == 0
    a, b = _ckpt(full_run / "checkpoint-000000032.pt"), _ckpt(out / "checkpoint-000000032.pt")
    for net in ("G", "D", "G_ema"):
        assert a[net].keys() == b[net].keys()
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    for opt in ("opt_G", "opt_D"):
        for i, st in a[opt]["state"].items():
            for k, v in st.items():
                assert torch.equal(v, b[opt]["state"][i][k]), (opt, i, k)
    assert a["state"]["d_steps"] == b["state"]["d_steps"] == 8
    for k in ("torch", "data", "augment"):
        assert torch.equal(a["rng"][k], b["rng"][k]), k
    rec = json.loads((out / "training_record.json").read_text())
    assert len(rec["sessions"]) == 2 and rec["summary"]["images_seen"] == 32


def test_resume_from_another_device_type_reseeds(full_run, tmp_path):
    """A checkpoint whose data/augmentation RNG states are CUDA's (16-byte Philox states) still
    resumes on the CPU: those streams are reseeded and the record says so."""
    run = tmp_path / "from_gpu"
    run.mkdir()
    ck = _ckpt(full_run / "checkpoint-000000032.pt")
    ck["rng"]["data"] = ck["rng"]["augment"] = torch.zeros(16, dtype=torch.uint8)
    torch.save(ck, run / "checkpoint-000000032.pt")
    assert gt.main(["--resume", str(run), "--kimg", "0.040", "--no-progress"]) == 0
    rec = json.loads((run / "training_record.json").read_text())
    assert rec["summary"]["images_seen"] == 40
    assert "reseeded" in rec["sessions"][-1]["note"]
    assert "note" not in rec["sessions"][0]


def test_resume_rejects_changed_settings(full_run):
    with pytest.raises(gt.TrainingError, match="resolution"):
        gt.train(gt.build_parser().parse_args(["--resume", str(full_run), "--resolution", "32", "--no-progress"]))


def test_exported_generator_loads(full_run):
    G = load_generator(full_run / "generator.safetensors")
    assert G.config["img_resolution"] == 16 and G.config["z_dim"] == 512
    assert "non-commercial" in G.extra_meta["licence"]
    assert G.extra_meta["training"]["images_seen"] == 32
    ck = _ckpt(full_run / "checkpoint-000000032.pt")
    for k, v in G.state_dict().items():
        assert torch.equal(v, ck["G_ema"][k].float()), k
    with torch.no_grad():
        img = G(torch.randn(2, 512))
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()


def test_time_limit_stops_cleanly(photos, tmp_path):
    rec = _run(tmp_path, photos, "--kimg", "1000", "--time-limit", "0.0001")
    assert rec["summary"]["stop_reason"].startswith("time limit")
    assert 0 < rec["summary"]["images_seen"] < 1_000_000
    assert (tmp_path / "generator.safetensors").is_file()
    assert list(tmp_path.glob("checkpoint-*.pt"))


def test_missing_or_empty_data_is_a_clear_error(tmp_path, capsys):
    assert gt.main(["--out", str(tmp_path / "o"), "--data", str(tmp_path / "nope"), "--no-progress"]) == 2
    assert "training data folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert gt.main(["--out", str(tmp_path / "o"), "--data", str(tmp_path / "empty"), "--no-progress"]) == 2
    assert "no JPEG/PNG images" in capsys.readouterr().err


def test_load_images_area_resize(photos):
    imgs = gt.load_images(photos, 16, max_images=5)
    assert imgs.shape == (5, 3, 16, 16) and imgs.dtype == torch.uint8


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_diffaugment_differentiable_and_shape(policy):
    x = torch.randn(5, 3, 16, 16, requires_grad=True)
    y = DiffAugment(x, policy, torch.Generator().manual_seed(1))
    assert y.shape == x.shape
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # reproducible given the generator, and actually random across draws
    y2 = DiffAugment(x.detach(), policy, torch.Generator().manual_seed(1))
    assert torch.equal(y.detach(), y2)
    y3 = DiffAugment(x.detach(), policy, torch.Generator().manual_seed(2))
    assert not torch.equal(y2, y3)
    with pytest.raises(ValueError):
        DiffAugment(x, "rotate")


def test_discriminator_shapes_and_r1_double_backward():
    D = Discriminator(32, channel_base=512, channel_max=64)
    x = torch.randn(3, 3, 32, 32, requires_grad=True)  # batch 3: minibatch-std group falls back to 3
    logits = D(x)
    assert logits.shape == (3, 1)
    (g,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    g.square().sum().backward()
    weights = [(n, p) for n, p in D.named_parameters() if n.endswith("weight")]  # biases may not reach dD/dx
    assert weights and all(p.grad is not None and torch.isfinite(p.grad).all() for _, p in weights)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert D(x).dtype == torch.float32


def test_cli_help_runs_as_script():
    r = subprocess.run([sys.executable, str(REPO / "gan_training" / "train.py"), "--help"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--resume" in r.stdout and "--time-limit" in r.stdout
