"""The web UI in a real browser: the app runs as `readable-fp app` in a subprocess, Chromium drives it.

Screenshots of every browser test are kept in tests/artifacts/ (ignored by git)."""
from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from readable_fp import app, bundled

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


@contextlib.contextmanager
def _app(tmp: Path, *args: str):
    """`readable-fp app ARGS` on a free localhost port; its own null store, renderer cache, Gradio
    cache and $TMPDIR, so the user's files cannot change a verdict or a dog, and what the app
    leaves behind can be seen."""
    (tmp / "tmp").mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, READABLE_FP_HOME=str(tmp / "home"), READABLE_FP_CACHE=str(tmp / "cache"),
               GRADIO_TEMP_DIR=str(tmp / "gradio"), TMPDIR=str(tmp / "tmp"), PYTHONUNBUFFERED="1")
    log = open(tmp / "server.log", "wb")
    # typed paths may name the bundled models only (users of a shared server upload instead)
    allowed = [str(bundled.path(k).parent) for k in ("minilm", "smollm2")] + [str(bundled.model("minilm-int8").parent)]
    proc = subprocess.Popen([sys.executable, "-m", "readable_fp.cli", "app", "--port", str(port),
                             *[a for d in allowed for a in ("--allow-local-paths", d)], *args],
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
def server(tmp_path_factory):
    with _app(tmp_path_factory.mktemp("app")) as url:
        yield url


@pytest.fixture(scope="module")
def photo_server(tmp_path_factory):
    """The app where the photographic renderer is installed, as its operator would: `renderer get
    afhqdog --file` on a pickle of NVIDIA's structure and afhqdog's interface (tests/nvidia_pickles.py)."""
    from nvidia_pickles import write_afhq_like

    tmp = tmp_path_factory.mktemp("photo")
    pkl = write_afhq_like(tmp / "afhqdog.pkl")
    subprocess.run([sys.executable, "-m", "readable_fp.cli", "renderer", "get", "afhqdog", "--file", str(pkl)],
                   env=dict(os.environ, READABLE_FP_CACHE=str(tmp / "cache")), check=True, capture_output=True)
    with _app(tmp) as url:
        yield url


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
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    p = ctx.new_page()
    p.goto(server + getattr(request, "param", ""))
    yield p
    p.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    ctx.close()


def _no_traceback(page):
    body = page.inner_text("body")
    assert "Traceback" not in body and 'File "' not in body, body[-2000:]


def _dogs(page, selector: str, n: int = 1) -> list[tuple[Image.Image, str]]:
    """The dogs the page shows (decoded from their data URIs, as the browser drew them) and their alt texts."""
    imgs = page.locator(f"{selector} figure.rfp-dog img")
    imgs.nth(n - 1).wait_for(state="visible", timeout=SLOW)
    out = []
    for i in range(imgs.count()):
        img = imgs.nth(i)
        assert img.evaluate("e => e.complete && e.naturalWidth") > 0
        src = img.get_attribute("src")
        assert src.startswith("data:image/png;base64,")
        im = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        assert im.format == "PNG"
        im.load()
        out.append((im, img.get_attribute("alt")))
    return out


def _download(page, selector: str) -> Path:
    with page.expect_download(timeout=30_000) as d:
        page.click(selector)
    return Path(d.value.path())


def _differ(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a.convert("L"), float) - np.asarray(b.convert("L"), float)).mean())


@pytest.mark.browser
def test_first_visit_example_runs_with_one_click(page):
    """No upload: one click on a bundled model, and its dog shows beside the inputs, above the fold."""
    from playwright.sync_api import expect

    page.locator("#fp-examples").get_by_text("SmolLM2").click()
    [(im, alt)] = _dogs(page, "#fp-result")
    assert min(im.size) >= 128
    assert alt.startswith("Fingerprint of SmolLM2") and "dog with" in alt and "band" not in alt
    box, run = page.locator("#fp-result figure.rfp-dog img").bounding_box(), page.locator("#fp-run").bounding_box()
    assert box["y"] + box["height"] <= 900 and box["x"] > run["x"] + run["width"]  # above the fold, beside the inputs
    expect(page.locator("#fp-zip")).to_be_visible()
    expect(page.locator("#fp-badge textarea")).to_have_value(re.compile(r"img\.shields\.io/badge/readable--fp-[0-9a-f]{12}"))
    assert page.locator("#tab-fingerprint").is_visible()
    expect(page.locator("#fp-result .rfp-drawn")).to_have_text("Drawn by readable-fp's vector dog")
    expect(page.locator("#rfp-renderer")).to_be_hidden()  # no photographic generator installed: no choice to make
    _no_traceback(page)


PHOTO = "NVIDIA StyleGAN2-ADA AFHQ-Dog (CC BY-NC 4.0)"


@pytest.mark.browser
def test_photographic_dogs_when_the_generator_is_installed(browser, photo_server):
    """The photographic dog is offered and drawn first; every picture says which renderer drew it,
    and the record and the card name the generator and its licence. The vector dog stays a choice."""
    from playwright.sync_api import expect

    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    page.goto(photo_server)
    style = page.locator("#rfp-renderer")
    expect(style.get_by_label(f"Photographic: {PHOTO}")).to_be_checked()
    page.locator("#fp-examples").get_by_text("SmolLM2").click()
    [(im, alt)] = _dogs(page, "#fp-result")
    assert im.size == (512, 512) and f"a photographic dog drawn by {PHOTO}" in alt
    expect(page.locator("#fp-result .rfp-drawn")).to_have_text(f"Drawn by {PHOTO}")
    record = json.loads(_download(page, "#fp-json").read_text())
    assert record["renderer"]["name"] == "afhqdog" and record["renderer"]["license"] == "CC BY-NC 4.0"
    page.get_by_text("Model-card section (Markdown)").click()
    expect(page.locator("#fp-card textarea")).to_have_value(re.compile(r"AFHQ-Dog \(`afhqdog`, CC BY-NC 4\.0"))

    style.get_by_label("Vector drawing (readable-fp)").check()
    page.locator("#fp-examples").get_by_text("SmolLM2").click()
    expect(page.locator("#fp-result .rfp-drawn")).to_have_text("Drawn by readable-fp's vector dog", timeout=SLOW)
    [(vec, _)] = _dogs(page, "#fp-result")
    assert vec.size == (256, 256)

    style.get_by_label(f"Photographic: {PHOTO}").check()
    page.get_by_role("tab", name="Compare").click()
    page.locator("#cmp-examples").get_by_text("its int8 ONNX export").click()
    pair = _dogs(page, "#cmp-result", 2)
    assert [im.size for im, _ in pair] == [(512, 512)] * 2 and _differ(pair[0][0], pair[1][0]) < 20
    expect(page.locator("#cmp-result .rfp-drawn")).to_have_text([f"Drawn by {PHOTO}"] * 2)
    page.get_by_role("tab", name="Gallery").click()
    captions = page.locator("#gallery-examples")
    expect(captions).to_contain_text("· afhqdog", timeout=SLOW)
    _no_traceback(page)
    page.screenshot(path=str(ARTIFACTS / "test_photographic_dogs.png"), full_page=True)
    ctx.close()


@pytest.mark.browser
def test_fingerprint_upload(page, browser, server):
    from playwright.sync_api import expect

    gguf = bundled.path("smollm2")
    page.locator("#fp-files input[type=file]").set_input_files(str(gguf))
    expect(page.locator("#fp-found")).to_contain_text("Found a GGUF file", timeout=60_000)
    page.click("#fp-run")
    [(im, alt)] = _dogs(page, "#fp-result")
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in alt
    assert _differ(Image.open(_download(page, "#fp-png")), im) == 0
    record = json.loads(_download(page, "#fp-json").read_text())
    assert record["model"]["architecture"].endswith("llama") and record["model"]["probe_keying"] == "token strings"
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
def test_whole_folder_upload_and_card_zip(page, tmp_path):
    """A model folder as `hf download` leaves it (README, .gitattributes, sentence-transformers'
    module configs, a second config.json in 1_Pooling/), chosen as a folder: the unneeded files
    are listed once, the model is read, and the card zip holds the PNG, the record and the card."""
    from playwright.sync_api import expect

    folder = tmp_path / "all-MiniLM-L6-v2"
    shutil.copytree(bundled.path("minilm"), folder)
    (folder / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    page.locator('input[data-testid="Choose a model folder-upload-button"]').set_input_files(str(folder))
    found = page.locator("#fp-found")
    expect(found).to_contain_text("Found a Hugging Face model (safetensors)", timeout=60_000)
    for name in (".gitattributes", "README.md", "modules.json", "sentence_bert_config.json"):
        expect(found).to_contain_text(name)
    assert found.inner_text().count("README.md") == 1
    page.get_by_label("Name or Hub id for the card").fill("sentence-transformers/all-MiniLM-L6-v2")
    page.click("#fp-run")
    [(im, alt)] = _dogs(page, "#fp-result")
    assert "sentence-transformers/all-MiniLM-L6-v2" in alt
    with zipfile.ZipFile(_download(page, "#fp-zip")) as z:
        assert sorted(z.namelist()) == ["README-section.md", "fingerprint.json", "fingerprint.png"]
        card = z.read("README-section.md").decode()
        record = json.loads(z.read("fingerprint.json"))
        shown = Image.open(io.BytesIO(z.read("fingerprint.png")))
        assert _differ(shown, im) == 0
    assert "](fingerprint.png)" in card and "readable-fp fingerprint sentence-transformers/all-MiniLM-L6-v2" in card
    assert record["model"]["architecture"] == "bert" and record["latent_sha256"][:12] in card
    assert record["latent_sha256"][:12] in page.locator("#fp-badge textarea").input_value()
    _no_traceback(page)


@pytest.mark.browser
def test_compare_without_a_tokenizer_draws_both_dogs_alike(page):
    """all-MiniLM vs its int8 export as shipped (model.onnx alone): the comparison reads both by
    token id, and both dogs come from that reading: alike, both marked, and the page says why."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Compare").click()
    page.locator("#cmp-examples").get_by_text("no tokenizer").click()
    badge = page.locator("#cmp-result .rfp-badge")
    expect(badge).to_have_text("Same base", timeout=SLOW)
    (a, alt_a), (b, alt_b) = _dogs(page, "#cmp-result", 2)
    assert _differ(a, b) < 20  # the same dog, up to int8 noise
    assert "token ids" in alt_a and "token ids" in alt_b  # both carry the band, and say so
    expect(page.locator("#cmp-result")).to_contain_text("both were read by token id")
    page.locator("#cmp-stats").get_by_text("Statistics").click()
    expect(page.locator("#cmp-terms")).to_contain_text("feed-forward")
    expect(page.locator("#cmp-stats")).to_contain_text("chance can go slightly below 0")
    _no_traceback(page)


@pytest.mark.browser
def test_compare_paths_with_enter(page):
    """Typed paths (the operator allowed the bundled folders); Enter in the second box submits."""
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Compare").click()
    page.get_by_label("Model A: or a local path / Hub id").fill(str(bundled.path("smollm2")))
    page.get_by_label("Model B: or a local path / Hub id").fill(str(bundled.path("minilm")))
    page.get_by_label("Model B: or a local path / Hub id").press("Enter")
    badge = page.locator("#cmp-result .rfp-badge")
    expect(badge).to_be_visible(timeout=SLOW)
    if badge.inner_text() == "No verdict":
        pytest.fail("no verdict: the shipped null (pretrained/null.json) is missing; "
                    "python -m bench.evaluate --write-null makes it")
    expect(badge).to_have_text("Independent")
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"  # a coloured badge
    (a, _), (b, _) = _dogs(page, "#cmp-result", 2)
    assert _differ(a, b) > 20  # independent models: clearly different dogs
    assert page.locator("#cmp-stats").inner_text().count("Statistics") == 1  # collapsed until asked
    _no_traceback(page)


@pytest.mark.browser
def test_bad_upload_is_announced(page, server, tmp_path):
    """A file that is no model is said as soon as it is chosen, and again, as an announced error,
    if run anyway."""
    from playwright.sync_api import expect

    f = tmp_path / "notes.txt"
    f.write_bytes(b"print('no')\n")
    page.locator("#fp-files input[type=file]").set_input_files(str(f))
    expect(page.locator("#fp-found")).to_contain_text("no model in the upload", timeout=30_000)
    page.click("#fp-run")
    expect(page.locator("#a11y-live")).to_contain_text("no model in the upload", timeout=30_000)
    _no_traceback(page)
    assert not list(server.tmp.glob("readable-fp-upload-*"))  # removed on failure too


PLACEHOLDER_CONTRAST = """() => {
  const lum = c => { const m = c.match(/[\\d.]+/g).map(Number).slice(0, 3).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]; };
  return [...document.querySelectorAll('textarea[placeholder], input[placeholder]')].filter(e => e.offsetParent)
    .map(e => { const a = lum(getComputedStyle(e, '::placeholder').color);
      let n = e, bg = 'rgba(0, 0, 0, 0)';
      while (n && (bg.startsWith('rgba') && bg.endsWith(', 0)'))) { bg = getComputedStyle(n).backgroundColor; n = n.parentElement; }
      const b = lum(bg); return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); }); }"""


@pytest.mark.browser
@pytest.mark.parametrize("page", ["", "?__theme=dark"], indirect=True, ids=["light", "dark"])
def test_accessibility(page):
    """axe-core finds nothing on any tab with results shown (every image and control named, AA
    contrast), and placeholders (which axe skips) reach AA too."""
    from axe_playwright_python.sync_playwright import Axe

    axe, found = Axe(), {}

    def check(state):
        for v in axe.run(page).response["violations"]:
            found.setdefault(f"{v['id']} ({state})", [n["html"][:160] for n in v["nodes"]])

    page.locator("#fp-examples").get_by_text("all-MiniLM-L6-v2, published").click()
    _dogs(page, "#fp-result")
    page.get_by_text("Model-card section (Markdown)").click()
    check("fingerprint")
    assert min(page.evaluate(PLACEHOLDER_CONTRAST)) >= 4.5
    page.get_by_role("tab", name="Compare").click()
    page.locator("#cmp-examples").get_by_text("its int8 ONNX export").click()
    _dogs(page, "#cmp-result", 2)
    page.locator("#cmp-stats").get_by_text("Statistics").click()
    check("compare")
    assert min(page.evaluate(PLACEHOLDER_CONTRAST)) >= 4.5
    page.get_by_role("tab", name="Gallery").click()
    page.locator("#gallery-examples button.thumbnail-item").first.wait_for(timeout=SLOW)
    check("gallery")
    names = page.evaluate("() => [...document.querySelectorAll('button.upload-container')].map(b => b.getAttribute('aria-label'))")
    assert len(names) == len(set(names)), names  # the upload zones are told apart
    assert not page.locator("img:not([alt])").count()
    assert not found, found


def test_gallery_examples_on_first_visit():
    """What the page load shows before any upload: a real dog for every installed bundled model."""
    shown = app.examples()
    installed = app._installed()
    assert installed, "no bundled model installed: run .ci/run"
    assert [caption for _, caption in shown] == [f"{bundled.MODELS[k][2]} · vector-dog" for k in installed]
    for png, _ in shown:
        with Image.open(png) as im:
            assert im.format == "PNG" and min(im.size) >= 128
    t = time.perf_counter()
    assert app.examples() == shown and time.perf_counter() - t < 0.1  # computed once, cached
