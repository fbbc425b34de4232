"""The web UI in a real browser: the app runs as `readable-fp app` in a subprocess, Chromium drives it.

Screenshots of every browser test are kept in tests/artifacts/ (ignored by git)."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from readable_fp import app, bundled
from readable_fp.errors import FingerprintError

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("READABLE_FP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SLOW = 120_000  # ms: a fingerprint of a real model on a busy two-core machine


class Server(str):
    """The app's URL; `tmp`: the app's own temporary folder ($TMPDIR); `gradio`: Gradio's upload
    cache; `pid`: the server process."""
    tmp: Path
    gradio: Path
    pid: int


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a free localhost port; its own null store, Gradio cache and $TMPDIR, so the
    user's files cannot change a verdict and what the app leaves behind can be seen."""
    tmp = tmp_path_factory.mktemp("app")
    (tmp / "tmp").mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, READABLE_FP_HOME=str(tmp / "home"), GRADIO_TEMP_DIR=str(tmp / "gradio"), TMPDIR=str(tmp / "tmp"),
               PYTHONUNBUFFERED="1")
    log = open(tmp / "server.log", "wb")
    # typed paths may name the bundled models only (users of a shared server upload instead)
    allowed = [str(bundled.path("minilm").parent), str(bundled.model("minilm-int8").parent)]
    proc = subprocess.Popen([sys.executable, "-m", "readable_fp.cli", "app", "--port", str(port),
                             *[a for d in allowed for a in ("--allow-local-paths", d)]],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = Server(f"http://127.0.0.1:{port}/")
    url.tmp, url.gradio, url.pid = tmp / "tmp", tmp / "gradio", proc.pid
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the app exited ({proc.returncode}):\n{(tmp / 'server.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the app did not answer within 90 s:\n{(tmp / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    # SIGTERM stops the app like Ctrl-C: a clean exit that removes its results folder
    assert proc.returncode == 0, f"exit {proc.returncode}: " + (tmp / "server.log").read_text()[-3000:]
    assert not list(url.tmp.iterdir())


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM} (the browser tests need it; .ci/run installs it, "
                    "or set READABLE_FP_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server, request):
    ARTIFACTS.mkdir(exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1280, "height": 1400})
    p = ctx.new_page()
    p.goto(server)
    yield p
    p.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    ctx.close()


def _uploaded(page, box: str, name: str, timeout: float = 60_000):
    """Wait until the upload box lists `name` (by its download link: the shown text is split)."""
    page.locator(f'{box} a[href$="/{name}"]').wait_for(timeout=timeout)


def _no_traceback(page):
    body = page.inner_text("body")
    assert "Traceback" not in body and 'File "' not in body, body[-2000:]


def _image(page, selector: str) -> Image.Image:
    """The image the page shows: loaded by the browser (naturalWidth) and decodable as a PNG."""
    img = page.locator(f"{selector} img").first
    img.wait_for(state="visible", timeout=SLOW)
    assert img.evaluate("e => e.complete && e.naturalWidth") > 0
    data = page.request.get(img.get_attribute("src")).body()
    im = Image.open(io.BytesIO(data))
    assert im.format == "PNG"
    im.load()
    return im


@pytest.mark.browser
def test_fingerprint_upload(page, browser, server):
    from playwright.sync_api import expect

    gguf = bundled.path("smollm2")
    page.locator("#fp-files input[type=file]").set_input_files(str(gguf))
    _uploaded(page, "#fp-files", gguf.name)
    page.click("#fp-run")
    im = _image(page, "#fp-dog")
    assert min(im.size) >= 128
    expect(page.locator("#fp-record")).to_contain_text("llama", timeout=10_000)
    expect(page.locator("#fp-card")).to_contain_text("Weight fingerprint")
    link = page.locator("#fp-png a").first
    assert link.get_attribute("href").endswith("/SmolLM2-135M-Instruct.Q4_1.fingerprint.png")
    assert Image.open(io.BytesIO(page.request.get(link.get_attribute("href")).body())).size == im.size
    _no_traceback(page)
    assert not list(server.tmp.glob("readable-fp-upload-*"))  # the request's copy of the upload is gone

    # The gallery: this session's dog and the bundled examples ...
    example = bundled.MODELS["smollm2"][2]
    page.get_by_role("tab", name="Gallery").click()
    expect(page.locator("#gallery-session")).to_contain_text(gguf.name)
    expect(page.locator("#gallery-examples")).to_contain_text(example, timeout=SLOW)
    # ... but another visitor sees only the examples: sessions are separate.
    other = browser.new_context().new_page()
    other.goto(server)
    other.get_by_role("tab", name="Gallery").click()
    expect(other.locator("#gallery-examples")).to_contain_text(example, timeout=SLOW)
    assert gguf.name not in other.inner_text("#gallery-session")
    other.context.close()


@pytest.mark.browser
def test_compare_paths(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Compare").click()
    page.get_by_label("Model A: or a local path / Hub id").fill(str(bundled.path("minilm")))
    page.get_by_label("Model B: or a local path / Hub id").fill(str(bundled.model("minilm-int8")))
    page.click("#cmp-run")
    verdict = page.locator("#cmp-verdict")
    expect(verdict).to_contain_text("Verdict", timeout=SLOW)
    if "no verdict" in verdict.inner_text():
        pytest.fail("no verdict: the shipped null (pretrained/null.json) is missing; "
                    "python -m bench.evaluate --write-null makes it")
    expect(verdict).to_contain_text("same base")  # a real published int8 export of the same model
    im = _image(page, "#cmp-dogs")
    assert im.width > im.height  # two dogs side by side, and alike: the export shares the base
    half = (im.width - 48) // 2
    a = np.asarray(im.convert("L").crop((16, 16, 16 + half, 16 + half)), float)
    b = np.asarray(im.convert("L").crop((32 + half, 16, 32 + 2 * half, 16 + half)), float)
    assert np.abs(a - b).mean() < 20
    expect(page.locator("#cmp-ics")).to_contain_text("ICS")
    expect(page.locator("#cmp-terms")).to_contain_text("ffn")
    _no_traceback(page)


@pytest.mark.browser
def test_bad_upload_is_a_message(page, server, tmp_path):
    from playwright.sync_api import expect

    cases = {"evil.py": "not a model file", "..evil.gguf": "may not contain"}
    for i, (name, says) in enumerate(cases.items()):
        if i:
            page.goto(server)  # a fresh, empty upload box
        f = tmp_path / name
        f.write_bytes(b"print('no')\n")
        page.locator("#fp-files input[type=file]").set_input_files(str(f))
        _uploaded(page, "#fp-files", name)
        page.click("#fp-run")
        expect(page.locator("#fp-error")).to_contain_text(says, timeout=30_000)
        _no_traceback(page)
    assert not list(server.tmp.glob("readable-fp-upload-*"))  # removed on failure too


def test_gallery_examples_on_first_visit():
    """What the page load shows before any upload: a real dog for every installed bundled model."""
    shown = app.examples()
    installed = [k for k in bundled.MODELS if _installed(k)]
    assert installed, "no bundled model installed: run .ci/run"
    assert [caption for _, caption in shown] == [bundled.MODELS[k][2] for k in installed]
    for png, _ in shown:
        with Image.open(png) as im:
            assert im.format == "PNG" and min(im.size) >= 128
    t = time.perf_counter()
    assert app.examples() == shown and time.perf_counter() - t < 0.1  # computed once, cached


def _installed(key: str) -> bool:
    try:
        return bundled.path(key).exists()
    except FingerprintError:
        return False


def _files(tmp_path, sizes: dict[str, int]) -> list[str]:
    out = []
    for name, size in sizes.items():
        d = tmp_path / f"upload{len(out)}"  # separate folders, as Gradio keeps uploads
        d.mkdir(parents=True)
        (d / name).write_bytes(b"\0" * size)
        out.append(str(d / name))
    return out


def test_stage_rules(tmp_path):
    """The upload checks behind the Fingerprint and Compare tabs (no browser needed)."""
    staging = tmp_path / "staging"
    staging.mkdir()
    bad = {"evil.py": "not a model file", "..x.gguf": "may not contain", ".hidden.gguf": "may not contain",
           "a\\b.gguf": "may not contain"}
    for name, says in bad.items():
        with pytest.raises(FingerprintError, match=says):
            app.stage(_files(tmp_path / name.replace("\\", "_").lstrip("."), {name: 1}), staging)
    for sizes, says in [({"a.gguf": 1, "b.onnx": 1}, "upload one model"),
                        ({"a.gguf": 1, "config.json": 1}, "upload one model"),
                        ({"tokenizer.json": 1}, "no model"),
                        ({"config.json": 6, "model.safetensors": 6}, "at most")]:
        d = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
        d.mkdir()
        with pytest.raises(FingerprintError, match=says):
            app.stage(_files(d, sizes), staging, limit=10)
    assert not any(staging.iterdir())  # nothing staged when a check fails
    one = app.stage(_files(tmp_path / "ok1", {"m.gguf": 3, "tokenizer.json": 2}), staging)
    assert one.name == "m.gguf" and sorted(p.name for p in one.parent.iterdir()) == ["m.gguf", "tokenizer.json"]
    other = tmp_path / "staging2"
    other.mkdir()
    hf = app.stage(_files(tmp_path / "ok2", {"config.json": 2, "model.safetensors": 3}), other)
    assert hf.is_dir() and (hf / "config.json").is_file() and (hf / "model.safetensors").is_file()
