"""gan_training/device_run.sh + device_unpack.sh: the one-call GPU recipe, run here on the CPU
with a tiny network, as a later session with a lent GPU will run it, then unpacked and shipped
into a scratch tree. A GPU session gets one try, so the script must not be first run there."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_gan_training import photos  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[1]
TINY = {"RES": "16", "BATCH": "4", "CBASE": "256", "CMAX": "32", "MAP": "2", "SMOKE_KIMG": "0.008",
        "MINUTES": "0.05", "EVAL_N": "8"}


def _bash(script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "gan_training" / script), *args], cwd=REPO, text=True,
                          capture_output=True, timeout=600, env={**os.environ, **env})


@pytest.fixture(scope="module")
def device_out(photos, tmp_path_factory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("OUT")
    r = _bash("device_run.sh", OUT=str(out), PYTHON=sys.executable, DATA=str(photos),
              RUN=str(tmp_path_factory.mktemp("run") / "dogrun"), **TINY)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def test_device_run_leaves_only_what_can_come_back(device_out):
    files = sorted(p.name for p in device_out.iterdir())
    assert files[0] == "eval.tar" and files[1] == "generator.part.00" and files[-1] == "train.tar"
    assert len(files) <= 8  # the device tool brings back at most 8 files ...
    assert all((device_out / f).stat().st_size <= 16 * 2**20 for f in files)  # ... of 16 MiB


def test_unpack_joins_verifies_and_ships(device_out, tmp_path):
    r = _bash("device_unpack.sh", str(device_out), "tiny", "--ship", DEST=str(tmp_path))
    assert r.returncode == 0, r.stderr
    res = tmp_path / "gan_training" / "results" / "tiny"
    for f in ("training_record.json", "samples-final.png", "device_run.log", "eval/contact_sheet.png",
              "eval/metrics.json"):
        assert (res / f).is_file(), f
    assert not list(res.glob("checkpoint-*")), "checkpoints must not come back"
    from readable_fp.stylegan2 import load_generator

    G = load_generator(tmp_path / "pretrained" / "dog_generator.safetensors")
    assert G.img_resolution == 16
    assert (tmp_path / "pretrained" / "dog_generator_training_record.json").is_file()
    log = (res / "device_run.log").read_text()  # eval.tar's, the whole one up to its own packing
    assert "smoke run" in log and "training (" in log and '"images_seen"' in log and "evaluating" in log
    assert "packing the evaluation (training rc 0" in log

    again = _bash("device_unpack.sh", str(device_out), "tiny", DEST=str(tmp_path))
    assert again.returncode == 2 and "exists" in again.stderr


def test_look_first_then_ship(device_out, tmp_path):
    assert _bash("device_unpack.sh", str(device_out), "run1", DEST=str(tmp_path)).returncode == 0
    assert not (tmp_path / "pretrained").exists()
    r = _bash("device_unpack.sh", str(device_out), "run1", "--ship", DEST=str(tmp_path))
    assert r.returncode == 0 and "shipped" in r.stdout
    shipped = (tmp_path / "pretrained" / "dog_generator.safetensors").read_bytes()
    assert shipped == (tmp_path / "gan_training" / "_runs" / "run1" / "generator.safetensors").read_bytes()


def test_unpack_rejects_a_corrupt_part(device_out, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in device_out.iterdir():
        (bad / p.name).write_bytes(p.read_bytes())
    part = bad / "generator.part.00"
    data = bytearray(part.read_bytes())
    data[-1] ^= 0xFF
    part.write_bytes(bytes(data))
    r = _bash("device_unpack.sh", str(bad), "x", DEST=str(tmp_path / "tree"))
    assert r.returncode == 1 and "does not match" in r.stderr
    assert not (tmp_path / "tree" / "gan_training" / "results" / "x").exists()


def test_device_run_without_photos_is_one_clear_line(tmp_path):
    r = _bash("device_run.sh", OUT=str(tmp_path), DATA=str(tmp_path / "missing"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "shrink_photos.py" in r.stderr


def test_unpack_without_the_evaluation(device_out, tmp_path):
    """A call cut off during the evaluation brought back the generator and train.tar only."""
    cut = tmp_path / "cut"
    cut.mkdir()
    for p in device_out.iterdir():
        if p.name != "eval.tar":
            (cut / p.name).write_bytes(p.read_bytes())
    r = _bash("device_unpack.sh", str(cut), "cut", DEST=str(tmp_path / "tree"))
    assert r.returncode == 0 and "no eval.tar" in r.stdout
    res = tmp_path / "tree" / "gan_training" / "results" / "cut"
    assert (res / "training_record.json").is_file() and not (res / "eval").exists()
    assert (tmp_path / "tree" / "gan_training" / "_runs" / "cut" / "generator.safetensors").is_file()
