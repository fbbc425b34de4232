"""Photographic dogs: `readable-fp renderer get afhqdog` through a local server, then `--renderer afhqdog`.

The server plays NVIDIA's CDN and serves a pickle of NVIDIA's structure built here (tests/nvidia_pickles.py):
512 px and 512-dim latents like afhqdog.pkl, but few channels, so it is small and quick to draw.
Its module source writes a marker file if anything ever runs it.
"""
from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

import readable_fp
from readable_fp import renderer_get, renderers
from readable_fp.cli import main
from readable_fp.errors import FingerprintError

from file_server import FileServer
from helpers import LLAMA_TINY, save_tiny
from nvidia_pickles import write_afhq_like, write_nvidia_pickle

PATH = "/stylegan2-ada-pytorch/pretrained/afhqdog.pkl"


def _pickle(tmp, seed=0) -> tuple[bytes, object]:
    pkl = write_afhq_like(tmp / f"afhqdog-{seed}.pkl", seed)
    return pkl.read_bytes(), pkl.with_suffix(".EXECUTED")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nvidia")
    body, marker = _pickle(tmp)
    with FileServer({PATH: body}) as server:
        yield server, body, marker


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("READABLE_FP_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("model") / "tiny"
    save_tiny("llama", d, **LLAMA_TINY)
    return d


def run(capsys, *args):
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_get_downloads_imports_without_running_and_records_sha256(served, cache, capsys):
    server, body, marker = served
    code, out, err = run(capsys, "renderer", "get", "afhqdog", "--url", server.url + PATH)
    assert code == 0, err
    target = cache / "renderers" / "afhqdog.safetensors"
    assert f"installed afhqdog: {target}" in out and "CC BY-NC 4.0" in out
    assert not marker.exists()  # the pickle's module source never ran
    assert sorted(p.name for p in target.parent.iterdir()) == ["afhqdog.lock", "afhqdog.safetensors"]  # no pickle left
    r = renderers.resolve("afhqdog")
    assert r.name == "afhqdog" and r.native == 512
    assert r.extra["source_sha256"] == hashlib.sha256(body).hexdigest() == r.record()["source_sha256"]
    assert r.extra["source_url"] == server.url + PATH and r.extra["license"] == "CC BY-NC 4.0"
    assert "download afhqdog.pkl" in err  # the progress bar
    code, out, _ = run(capsys, "renderer", "get", "afhqdog", "--url", server.url + PATH)
    assert code == 0 and "already installed" in out and len(server.requests) == 1  # nothing fetched again
    rows = {row["name"]: row for row in renderer_get.listing()}
    assert rows["afhqdog"]["installed"] and rows["afhqdog"]["source_sha256"] == hashlib.sha256(body).hexdigest()
    code, out, _ = run(capsys, "renderer", "list")
    assert code == 0 and f"installed: {target}" in out and "CC BY-NC 4.0" in out


def test_fingerprint_with_afhqdog_same_png_bytes_twice_and_a_card_naming_it(served, cache, model, tmp_path, capsys):
    server, body, _ = served
    assert run(capsys, "renderer", "get", "afhqdog", "--url", server.url + PATH, "--no-progress")[0] == 0
    for out in ("a", "b"):
        code, _, err = run(capsys, "fingerprint", model, "--renderer", "afhqdog", "-o", tmp_path / out, "--no-progress")
        assert code == 0, err
    png = (tmp_path / "a" / "dog.png").read_bytes()
    assert png == (tmp_path / "b" / "dog.png").read_bytes()
    assert Image.open(io.BytesIO(png)).size == (512, 512)
    assert not (tmp_path / "a" / "dog.svg").exists()
    record = json.loads((tmp_path / "a" / "fingerprint.json").read_text())
    ren = record["renderer"]
    assert ren["name"] == "afhqdog" and ren["license"] == "CC BY-NC 4.0" and ren["size"] == 512
    assert ren["source_sha256"] == hashlib.sha256(body).hexdigest()
    assert (ren["truncation_psi"], ren["truncation_cutoff"]) == (0.5, 8)
    assert record["png_sha256"] == hashlib.sha256(png).hexdigest()

    code, out, err = run(capsys, "card", model, "--renderer", "afhqdog", "--size", "256", "--image", tmp_path / "card.png",
                         "--ref", "org/tiny", "--no-progress")
    assert code == 0, err
    small = Image.open(tmp_path / "card.png")
    assert small.size == (256, 256)
    # the same picture, smaller: close to the 512 px dog shrunk, not another dog
    big = np.asarray(Image.open(io.BytesIO(png)).resize((256, 256), Image.Resampling.LANCZOS), dtype=float)
    assert np.abs(np.asarray(small, dtype=float) - big).mean() < 1.0
    assert "NVIDIA StyleGAN2-ADA AFHQ-Dog (`afhqdog`, CC BY-NC 4.0: non-commercial use only)" in out
    assert "readable-fp renderer get afhqdog" in out
    assert "readable-fp fingerprint org/tiny --renderer afhqdog --size 256 -o fp" in out


def test_compare_image_draws_both_dogs_with_afhqdog(served, cache, model, tmp_path, capsys):
    server, _, _ = served
    renderer_get.get("afhqdog", url=server.url + PATH, progress=False)
    code, out, err = run(capsys, "compare", model, model, "--renderer", "afhqdog", "--size", "256",
                         "--image", tmp_path / "cmp", "--no-progress")
    assert code == 0, err
    im = Image.open(tmp_path / "cmp" / "comparison.png")
    assert im.width == 2 * 256 + 3 * 16  # two 256 px dogs side by side (side_by_side's padding)


def test_python_api_and_sizes(served, cache, model):
    server, _, _ = served
    renderer_get.get("afhqdog", url=server.url + PATH, progress=False)
    fp = readable_fp.fingerprint(model, renderer="afhqdog", size=128, progress=False)
    assert Image.open(io.BytesIO(fp.png)).size == (128, 128) and fp.record["renderer"]["size"] == 128
    png, svg = readable_fp.render(fp.latent, "afhqdog")
    assert svg is None and Image.open(io.BytesIO(png)).size == (512, 512)
    with pytest.raises(FingerprintError, match="afhqdog draws 64 to 512 px"):
        readable_fp.render(fp.latent, "afhqdog", size=1024)


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path, cache, capsys):
    body, _ = _pickle(tmp_path, seed=1)
    with FileServer({PATH: body}) as server:
        server.cut_after = len(body) // 3
        code, out, err = run(capsys, "renderer", "get", "afhqdog", "--url", server.url + PATH, "--no-progress")
        assert code == 2 and out == ""
        assert err.startswith("readable-fp: error: cannot download") and "run the command again to resume" in err
        assert err.count("\n") == 1 and renderers.installed("afhqdog") is None
        part = cache / "renderers" / "afhqdog.pkl.part"
        assert part.stat().st_size == len(body) // 3
        assert run(capsys, "renderer", "get", "afhqdog", "--url", server.url + PATH, "--no-progress")[0] == 0
        second = server.requests[1]
        assert second["range"] == f"bytes={len(body) // 3}-" and second["if-range"] == server.etag(PATH)
        assert server.sent == len(body)  # every byte sent once
    assert renderers.resolve("afhqdog").extra["source_sha256"] == hashlib.sha256(body).hexdigest()


def test_a_file_changed_on_the_server_is_fetched_whole_again(tmp_path, cache, capsys):
    old, _ = _pickle(tmp_path, seed=1)
    new, _ = _pickle(tmp_path, seed=2)
    with FileServer({PATH: old}) as server:
        server.cut_after = len(old) // 2
        assert run(capsys, "renderer", "get", "afhqdog", "--url", server.url + PATH, "--no-progress")[0] == 2
        server.files[PATH] = new  # republished meanwhile: the saved ETag no longer matches
        assert run(capsys, "renderer", "get", "afhqdog", "--url", server.url + PATH, "--no-progress")[0] == 0
    assert renderers.resolve("afhqdog").extra["source_sha256"] == hashlib.sha256(new).hexdigest()


@pytest.mark.parametrize("case, message", [
    ("missing", "answered HTTP 404"),
    ("html", "not a pickle file"),
    ("wrong resolution", "has img_resolution 16, expected 512"),
])
def test_bad_downloads_are_refused_in_one_line_and_leave_nothing(tmp_path, cache, capsys, case, message):
    from nvidia_pickles import CFG, source_generator as small

    files = {"/html": b"<html>moved</html>",
             "/small": write_nvidia_pickle(tmp_path / "small.pkl", small(0, CFG), tmp_path / "EXECUTED").read_bytes()}
    path = {"missing": "/nope", "html": "/html", "wrong resolution": "/small"}[case]
    with FileServer(files) as server:
        code, out, err = run(capsys, "renderer", "get", "afhqdog", "--url", server.url + path, "--no-progress")
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err
    left = sorted(p.name for p in (cache / "renderers").iterdir())
    assert left == ["afhqdog.lock"], left
    assert not (tmp_path / "EXECUTED").exists()


def test_not_installed_and_unknown_names_say_what_to_do(cache, model, tmp_path, capsys):
    code, out, err = run(capsys, "fingerprint", model, "--renderer", "afhqdog", "-o", tmp_path / "fp")
    assert code == 2 and "renderer 'afhqdog' is not installed: run `readable-fp renderer get afhqdog`" in err
    assert not (tmp_path / "fp").exists()
    code, _, err = run(capsys, "renderer", "get", "afhqcat")
    assert code == 2 and "no published renderer 'afhqcat' (known: afhqdog" in err
    code, _, err = run(capsys, "renderer", "get", "afhqdog", "--url", "file:///etc/passwd")
    assert code == 2 and "not an http(s) URL" in err
    code, _, err = run(capsys, "fingerprint", model, "--size", "4096", "-o", tmp_path / "fp")
    assert code == 2 and "vector-dog draws 64 to 2048 px" in err
    code, _, err = run(capsys, "app", "--renderer", "afhqdog", "--port", "1")  # refused before serving
    assert code == 2 and "readable-fp renderer get afhqdog" in err and err.count("\n") == 1


def test_file_option_imports_a_pickle_already_downloaded(tmp_path, cache, capsys):
    body, marker = _pickle(tmp_path, seed=4)
    pkl = tmp_path / "afhqdog.pkl"
    pkl.write_bytes(body)
    code, out, err = run(capsys, "renderer", "get", "afhqdog", "--file", pkl)
    assert code == 0, err
    assert pkl.exists()  # the user's own file is left alone
    r = renderers.resolve("afhqdog")
    assert r.extra["source_sha256"] == hashlib.sha256(body).hexdigest() and "source_url" not in r.extra
    assert run(capsys, "renderer", "remove", "afhqdog")[0] == 0 and renderers.installed("afhqdog") is None
