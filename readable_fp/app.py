"""The web UI: fingerprint a model, compare two, and browse the dogs made in this browser session.

    readable-fp app [--host 127.0.0.1] [--port 7860] [--allow-local-paths DIR] [--allow-hub]
    python app.py                                          # Hugging Face Spaces: settings from the environment

Anyone who reaches the page is a user of the server, so it reads only what users upload: uploads
are checked before anything reads them (`upload_plan`), may name only each other (a LoRA upload's
base must pass the same rules as a typed reference), and are deleted when their request ends.
Typed local paths and Hub ids are off unless the operator allows them (`Policy`): a folder whose
models may be opened by path, and/or the Hub. What the page shows is drawn in `web_views`.
"""
from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from contextlib import ExitStack
from dataclasses import dataclass
from functools import wraps
from pathlib import Path

import gradio as gr

from . import bundled, web_a11y, web_views
from .errors import FingerprintError, printable
from .upload_plan import plan

MAX_UPLOAD = 2_000_000_000  # bytes, all files of one model together
UNNAMED = "the uploaded model"  # a folder upload has no name of its own: the card box gives it one


def message(e: BaseException) -> str:
    """One line for the page: our own errors are written for users; anything else is a bug or an
    input nobody foresaw, shown by type so it can be reported, never as a traceback."""
    if isinstance(e, FingerprintError):
        return printable(str(e))
    first = str(e).splitlines()[0] if str(e) else ""
    return printable(f"error: {type(e).__name__}: {first}")


def stage(files: list[str], tmp: Path, limit: int = MAX_UPLOAD) -> Path:
    """Put the files of the one model in an upload into `tmp` (a fresh folder owned by this
    request, so no two requests ever see each other's files); return what to open. Only base
    names are used, so a crafted name cannot point outside `tmp`."""
    p = plan(files, limit)
    model_dir = tmp / "uploaded-model"  # the record names the model by this folder's name
    model_dir.mkdir()
    for name, f in p.files.items():
        try:
            os.link(f, model_dir / name)  # a model can be GBs: a hard link is an instant private copy on one disk
        except OSError:
            shutil.copyfile(f, model_dir / name)
    return model_dir / p.model_file if p.model_file else model_dir


@dataclass(frozen=True)
class Policy:
    """What a typed reference may name: local paths inside `local_dirs`, and Hub ids if `hub`."""

    local_dirs: tuple[str, ...] = ()
    hub: bool = False

    @classmethod
    def from_env(cls) -> "Policy":
        """$READABLE_FP_ALLOW_LOCAL_PATHS (folders, separated by os.pathsep) and $READABLE_FP_ALLOW_HUB=1."""
        dirs = [d for d in os.environ.get("READABLE_FP_ALLOW_LOCAL_PATHS", "").split(os.pathsep) if d]
        return cls(tuple(dirs), os.environ.get("READABLE_FP_ALLOW_HUB", "") in ("1", "true", "yes"))

    def check(self, ref: str, which: str = "") -> str:
        """`ref` if this app may open it. The refusal never depends on whether a path exists, so
        it tells nobody which files the server has."""
        from .formats.hub import looks_like_repo_id

        real = Path(ref).expanduser().resolve()  # by the text alone: whether it exists decides nothing here
        if ref and any(real.is_relative_to(Path(d).expanduser().resolve()) for d in self.local_dirs):
            return str(real)
        if looks_like_repo_id(ref) and not ref.startswith((".", "/", "~")):
            if self.hub:  # as hf://: a folder of that name beside the server is never what is meant
                return ref if "://" in ref else "hf://" + ref
            raise FingerprintError(f"{which}this app does not open Hub ids (its operator can allow them: --allow-hub)")
        raise FingerprintError(f"{which}this app opens typed local paths only inside the folders its operator "
                               "allows (--allow-local-paths DIR); upload the model's files instead")

    def help(self) -> str:
        typed = []
        if self.local_dirs:
            typed.append("a path inside " + ", ".join(f"`{d}`" for d in self.local_dirs))
        if self.hub:
            typed.append("a Hub model (ORG/NAME[@REVISION]: read by range, only the bytes the fingerprint needs)")
        return ("Upload a single `.gguf` or `.onnx` file, or a Hugging Face model's `config.json`, `.safetensors` "
                "(and `model.safetensors.index.json`) and tokenizer files."
                + (f" Or type {' or '.join(typed)}." if typed else ""))


@dataclass(frozen=True)
class Dogs:
    """The renderers this app offers, as (label, key, renderer) with the default first: the
    photographic dog when its generator is installed (or the operator names one), and the vector dog.
    Users choose by key, never by path, and only among these."""

    choices: tuple[tuple[str, str, str], ...]

    @classmethod
    def offered(cls, default: str | None = None) -> "Dogs":
        from .renderers import PUBLISHED, VECTOR, installed, resolve

        default = default or os.environ.get("READABLE_FP_RENDERER") or None
        names = ([default] if default else []) + [n for n in PUBLISHED if installed(n)] + [VECTOR]
        out: dict[str, tuple[str, str, str]] = {}
        for ref in names:
            r = resolve(ref)  # an operator's renderer that is not installed fails at start-up, in one line
            label = "Vector drawing (readable-fp)" if r.path is None else f"Photographic: {r.credit}"
            out.setdefault(r.name, (label, r.name, ref))
        return cls(tuple(out.values()))

    def renderer(self, key: str | None) -> str:
        """The renderer a user's choice names (none: the default); anything else is refused."""
        for _, k, ref in self.choices:
            if key in (None, "", k):
                return ref
        raise FingerprintError(f"this app draws {' or '.join(k for _, k, _ in self.choices)} dogs, not {key!r}")


def _model(files, path: str, tmps: ExitStack, limit: int, policy: Policy, which: str = "") -> tuple[str, str]:
    """(what to open, how users name it) from an upload or a typed path or Hub id, not both. The
    uploaded files are deleted from Gradio's cache when the request ends (`tmps` closes)."""
    files = [f for f in (files or []) if f]
    path = (path or "").strip()
    for f in files:
        tmps.callback(_unlink, f)
    if files and path:
        raise FingerprintError(f"{which}give either files to upload or a path / Hub id, not both")
    if path:
        return policy.check(path, which), path
    if not files:
        raise FingerprintError(f"{which}upload a model" + (" or type its path or Hub id" if policy.local_dirs or policy.hub else ""))
    if not all(os.path.isfile(f) for f in files):
        raise FingerprintError(f"{which}the uploaded files were removed after the last try: upload them again")
    tmp = Path(tempfile.mkdtemp(prefix="readable-fp-upload-"))
    tmps.callback(shutil.rmtree, tmp, ignore_errors=True)
    ref = stage(files, tmp, limit)
    if (ref / "adapter_config.json").is_file():  # a LoRA upload names its base: the same rules as a typed one
        from .paths import read_json
        base = read_json(ref, "adapter_config.json").get("base_model_name_or_path")
        policy.check(str(base or ""), f"{which}the adapter's base model: ")
    return str(ref), ref.name if ref.is_file() else UNNAMED


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _short(ref: str, width: int = 40) -> str:
    """A name that fits under a dog: a local path by its last two parts (a bare 'model' folder
    says little), a Hub id as it is; the tail is kept, as it tells models apart."""
    p = Path(ref).expanduser()
    name = "/".join(p.parts[-2:]) if p.exists() and len(p.parts) > 1 else ref
    return name if len(name) <= width else "..." + name[-(width - 3):]


_out_root: Path | None = None


def _out_dir() -> Path:
    """A fresh folder for one result. Results must outlive the request (Gradio copies them to its
    cache only after the handler returns), so they live under one folder per process, removed
    when the process exits."""
    global _out_root
    if _out_root is None:
        _out_root = Path(tempfile.mkdtemp(prefix="readable-fp-app-"))
        atexit.register(shutil.rmtree, _out_root, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=_out_root))


_busy = 0
_idle = threading.Condition()


def _tracked(handler):
    """Counts the handlers under way, so that stopping the app can wait for them: the process
    aborts (SIGABRT) if the interpreter shuts down while a thread is still inside torch, which
    includes freeing a handler's tensors as it returns (hence a wrapper, not a `with` inside)."""
    @wraps(handler)
    def run(*args, **kwargs):
        global _busy
        with _idle:
            _busy += 1
        try:
            return handler(*args, **kwargs)
        finally:
            with _idle:
                _busy -= 1
                _idle.notify_all()
    return run


def _slug(name: str) -> str:
    base = Path(name.rstrip("/\\")).name
    base = base[: -len(Path(base).suffix)] if base.endswith((".gguf", ".onnx")) else base
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "model"


def _fail(e: BaseException):
    """Gradio's own error: a toast that screen readers announce; never a traceback. The toast
    renders HTML, and messages quote file names: those are shown, never interpreted."""
    from html import escape
    return gr.Error(escape(message(e), quote=False), print_exception=False)


# ---- the bundled models: examples that run with one click ----------------------------------------
COMPARE_EXAMPLES = [  # (A, B, what the pair is); "KEY:bare" is the package's file as shipped
    ("minilm", "minilm-int8", "all-MiniLM vs its int8 ONNX export"),
    ("minilm", "minilm-int8:bare", "all-MiniLM vs int8 export, no tokenizer"),  # short: Gradio cuts long labels
    ("smollm2", "minilm", "SmolLM2-135M vs all-MiniLM"),
]
_cache: dict = {}
_locks: dict = {}
_cache_lock = threading.Lock()


def _installed() -> list[str]:
    out = []
    for key in bundled.MODELS:
        try:
            if bundled.path(key).exists():
                out.append(key)
        except FingerprintError:
            pass
    return out


def _bundled_ref(key: str) -> str:
    return str(bundled.path(key.split(":")[0]) if key.endswith(":bare") else bundled.model(key))


def _cached(key, make):
    """`make()` once per process: the examples are the same for every visitor. One lock per key,
    so a result being made (examples are made of other cached results) holds up only its own."""
    with _cache_lock:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _cache:
            _cache[key] = make()
        return _cache[key]


def _bundled_fingerprint(key: str, renderer: str | None = None):
    from .fingerprint import fingerprint
    return _cached(("fp", key, renderer), lambda: fingerprint(bundled.model(key), renderer=renderer,
                                                             progress=False))  # with its tokenizer


def _caption(name: str, fp) -> str:
    """A gallery caption: whose dog, how it was keyed, and which renderer drew it."""
    marked = " (token ids)" if fp.record["model"]["probe_keying"] == "token ids" else ""
    return f"{name}{marked} · {fp.record['renderer']['name']}"


@_tracked
def examples(renderer: str | None = None) -> list[tuple[str, str]]:
    """(PNG path, caption) of the installed bundled models, made once per process at the first
    page load, so a first visit shows dogs without any upload and later visits cost nothing."""
    def make():
        out, d = [], _out_dir()
        for key in _installed():
            fp = _bundled_fingerprint(key, renderer)
            (d / f"{key}.png").write_bytes(fp.png)
            out.append((str(d / f"{key}.png"), _caption(bundled.MODELS[key][2], fp)))
        return out
    try:
        return list(_cached(("examples", renderer), make))
    except Exception as e:  # a broken example must not break the page for everyone
        print(f"readable-fp app: examples: {message(e)}", file=sys.stderr)
        return []


# ---- fingerprint -------------------------------------------------------------------------------------
def describe_upload(files) -> str:
    """Said as soon as files are chosen: which model was found and what is not needed (or why none)."""
    files = [f for f in (files or []) if f]
    if not files:
        return ""
    try:
        return web_views.md_text(plan(files).summary())
    except Exception as e:
        return "**Cannot use these files:** " + web_views.md_text(message(e))


def _fingerprint_outputs(fp, name: str, card_name: str, session: list):
    from .model_card import IMAGE, badge, bundle, section

    name = (card_name or "").strip() or name
    ref = "MODEL" if name == UNNAMED else name  # what the card's verify commands name
    d = _out_dir()
    (d / IMAGE).write_bytes(fp.png)
    (d / "fingerprint.json").write_text(json.dumps(fp.record, indent=1, ensure_ascii=False) + "\n")
    zipped = d / f"{_slug(ref)}.readable-fp.zip"
    zipped.write_bytes(bundle(fp.png, fp.record, ref))
    session = session + [(str(d / IMAGE), _caption(_short(name), fp))]
    return (web_views.fingerprint_view(fp, _short(name, 60)),
            gr.update(value=str(zipped), visible=True), gr.update(value=str(d / IMAGE), visible=True),
            gr.update(value=str(d / "fingerprint.json"), visible=True),
            badge(fp.record), section(fp.record, IMAGE, ref), fp.record, session, list(reversed(session)))


@_tracked
def make_fingerprint(files, path, card_name, style, session, limit=MAX_UPLOAD, policy=Policy(), dogs=None,
                     progress=gr.Progress(track_tqdm=True)):
    progress(0.02, desc="Checking the upload")
    try:
        with ExitStack() as tmps:  # the upload's copy goes as soon as it is read, or failed
            renderer = (dogs or Dogs.offered()).renderer(style)
            ref, name = _model(files, path, tmps, limit, policy)
            from .api import open_model
            from .fingerprint import fingerprint

            progress(0.1, desc="Opening the model")
            m = open_model(ref, progress=True)  # a Hub model's download shows in MB
            progress(0.2, desc="Reading the weights")
            fp = fingerprint(m, renderer=renderer, progress=False)
    except Exception as e:
        raise _fail(e) from None
    progress(0.95, desc="Writing the model card")
    return _fingerprint_outputs(fp, name, card_name or (path or "").strip(), session)


@_tracked
def run_example(index, card_name, style, session, dogs=None, progress=gr.Progress()):
    keys = _installed()
    progress(0.1, desc="Reading the bundled model")
    try:
        key = keys[int(index)]
        fp = _bundled_fingerprint(key, (dogs or Dogs.offered()).renderer(style))
    except Exception as e:
        raise _fail(e) from None
    return _fingerprint_outputs(fp, bundled.MODELS[key][2], card_name, session)


# ---- compare -------------------------------------------------------------------------------------------
def _compare(ref_a: str, ref_b: str, name_a: str, name_b: str, renderer: str | None, progress) -> dict:
    """Both models read once, on the probe tokens they share; the verdict and both dogs come from
    that one reading."""
    from .api import judge, open_model, pair_invariants
    from .fingerprint import from_invariants
    from .side_by_side import side_by_side

    progress(0.05, desc="Opening model A")
    ma = open_model(ref_a, progress=True)
    progress(0.1, desc="Opening model B")
    mb = open_model(ref_b, progress=True)
    progress(0.15, desc="Reading both models' weights")
    ia, ib = pair_invariants(ma, mb, progress=False)
    progress(0.85, desc="Comparing")
    res = judge(ia, ib)
    progress(0.9, desc="Drawing the dogs")
    fa, fb = from_invariants(ia, renderer=renderer), from_invariants(ib, renderer=renderer)
    label = web_views.VERDICTS[res.verdict][0]
    png = _out_dir() / "comparison.png"
    png.write_bytes(side_by_side(fa.png, fb.png, _short(name_a), _short(name_b),
                                 [f"{label}: similarity {res.ics:.1f} of 100", web_views.sentence(res),
                                  web_views.drawn_by(fa)]))
    return {"view": web_views.comparison_view(res, fa, fb, _short(name_a, 60), _short(name_b, 60)),
            "png": str(png), "stats": web_views.statistics(res), "terms": web_views.term_rows(res),
            "caption": f"{_short(name_a, 20)} vs {_short(name_b, 20)}: {label} · {fa.record['renderer']['name']}"}


def _compare_outputs(r: dict, session: list):
    session = session + [(r["png"], r["caption"])]
    return (r["view"], gr.update(value=r["png"], visible=True), r["stats"], r["terms"], session,
            list(reversed(session)))


@_tracked
def make_comparison(files_a, path_a, files_b, path_b, style, session, limit=MAX_UPLOAD, policy=Policy(), dogs=None,
                    progress=gr.Progress(track_tqdm=True)):
    progress(0.02, desc="Checking the uploads")
    try:
        with ExitStack() as tmps:
            renderer = (dogs or Dogs.offered()).renderer(style)
            ref_a, name_a = _model(files_a, path_a, tmps, limit, policy, "model A: ")
            ref_b, name_b = _model(files_b, path_b, tmps, limit, policy, "model B: ")
            r = _compare(ref_a, ref_b, name_a, name_b, renderer, progress)
    except Exception as e:
        raise _fail(e) from None
    return _compare_outputs(r, session)


@_tracked
def run_compare_example(index, style, session, dogs=None, progress=gr.Progress()):
    try:
        a, b, _ = [x for x in COMPARE_EXAMPLES if _example_ready(x)][int(index)]
        renderer = (dogs or Dogs.offered()).renderer(style)
        r = _cached(("cmp", a, b, renderer), lambda: _compare(_bundled_ref(a), _bundled_ref(b), _example_name(a),
                                                               _example_name(b), renderer, progress))
    except Exception as e:
        raise _fail(e) from None
    return _compare_outputs(r, session)


def _example_ready(example) -> bool:
    return all(k.split(":")[0] in _installed() for k in example[:2])


def _example_name(key: str) -> str:
    what = bundled.MODELS[key.split(":")[0]][2]
    return what + (" (model.onnx alone)" if key.endswith(":bare") else "")


# ---- the page ------------------------------------------------------------------------------------------
INTRO = ("<p class='rfp-intro'>Your model's dog appears here. Models that share a base get near-identical dogs; "
         "independent models clearly different ones. Try a bundled model on the left.</p>")
CMP_INTRO = ("<p class='rfp-intro'>The verdict and both dogs appear here. Try one of the bundled pairs on the "
             "left.</p>")


def _inputs(which: str, key: str, policy: Policy, limit: int):
    label = f"{which} files: a .gguf, an .onnx, or a model's whole folder (up to {limit / 1e9:g} GB)"
    files = gr.File(label=label, file_count="multiple", type="filepath", elem_id=f"{key}-files", height=120)
    folder = gr.UploadButton("Choose a model folder" if which == "Model" else f"Choose {which}'s folder",
                             file_count="directory", size="sm",
                             elem_id=f"{key}-folder", variant="secondary")
    found = gr.Markdown(elem_id=f"{key}-found")
    path = gr.Textbox(label=f"{which}: or a local path / Hub id", placeholder="/path/to/model or org/name",
                      elem_id=f"{key}-path", visible=bool(policy.local_dirs or policy.hub))
    folder.upload(lambda fs: fs, folder, files)
    files.change(describe_upload, files, found)
    return files, path


def _fingerprint_tab(policy: Policy, session, max_upload: int):
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            files, path = _inputs("Model", "fp", policy, max_upload)
            card_name = gr.Textbox(label="Name or Hub id for the card", placeholder="org/model-name",
                                   elem_id="fp-card-name")
            go = gr.Button("Fingerprint", variant="primary", elem_id="fp-run")
            ex = gr.Dataset(label="Or try a bundled model", components=["textbox"], type="index",
                            samples=[[bundled.MODELS[k][2]] for k in _installed()], elem_id="fp-examples")
        with gr.Column(scale=6):
            result = gr.HTML(INTRO, elem_id="fp-result")
            with gr.Row():
                zipped = gr.DownloadButton("Download for the model card (.zip)", visible=False, elem_id="fp-zip",
                                           variant="primary")
                png = gr.DownloadButton("Download fingerprint.png", visible=False, elem_id="fp-png")
                record_file = gr.DownloadButton("Download fingerprint.json", visible=False, elem_id="fp-json")
            gr.Markdown("Put `fingerprint.png` beside your model's `README.md` and paste the section below into it "
                        "(the zip holds both, and the record).")
            badge = gr.Textbox(label="Badge for a README (Markdown)", interactive=False, buttons=["copy"],
                               elem_id="fp-badge")
            with gr.Accordion("Model-card section (Markdown)", open=False):
                card = gr.Textbox(label="Model-card section", lines=10, max_lines=24, interactive=False,
                                  buttons=["copy"], elem_id="fp-card")
            with gr.Accordion("Record (fingerprint.json)", open=False):
                record = gr.JSON(label="Record", elem_id="fp-record")
    outputs = [result, zipped, png, record_file, badge, card, record, session]
    return files, path, card_name, go, ex, outputs


def _compare_tab(policy: Policy, max_upload: int):
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            with gr.Row():
                with gr.Column(min_width=200):
                    files_a, path_a = _inputs("Model A", "a", policy, max_upload)
                with gr.Column(min_width=200):
                    files_b, path_b = _inputs("Model B", "b", policy, max_upload)
            go = gr.Button("Compare", variant="primary", elem_id="cmp-run")
            ex = gr.Dataset(label="Or try a bundled pair", components=["textbox"], type="index",
                            samples=[[x[2]] for x in COMPARE_EXAMPLES if _example_ready(x)], elem_id="cmp-examples")
        with gr.Column(scale=6):
            result = gr.HTML(CMP_INTRO, elem_id="cmp-result")
            png = gr.DownloadButton("Download the side-by-side picture", visible=False, elem_id="cmp-png")
            with gr.Accordion("Statistics", open=False, elem_id="cmp-stats"):
                stats = gr.Markdown(elem_id="cmp-stats-text")
                gr.Markdown(web_views.LEGEND)
                terms = gr.Dataframe(headers=["term", "layer A", "layer B", "similarity (0-100)"], interactive=False,
                                     elem_id="cmp-terms", label="Similarity per term and layer")
    return (files_a, path_a, files_b, path_b), go, ex, [result, png, stats, terms]


def _style(dogs: Dogs):
    """The renderer choice, shown only when there is one to make."""
    return gr.Radio([(label, key) for label, key, _ in dogs.choices], value=dogs.choices[0][1], label="Dog",
                    visible=len(dogs.choices) > 1, elem_id="rfp-renderer")


def build(max_upload: int = MAX_UPLOAD, policy: Policy | None = None, dogs: Dogs | None = None) -> gr.Blocks:
    """The app; `max_upload`: the most bytes one model's uploaded files may take together;
    `policy`: what typed references may open (default: $READABLE_FP_ALLOW_* , else nothing);
    `dogs`: the renderers offered (default: the photographic dog if installed, and the vector dog)."""
    policy = policy or Policy.from_env()
    dogs = dogs or Dogs.offered()
    with gr.Blocks(title="readable-fp", delete_cache=(1800, 3600), analytics_enabled=False) as demo:
        limit = gr.State(max_upload)
        allowed = gr.State(policy)
        offered = gr.State(dogs)
        session = gr.State([])  # per browser session: nobody else sees these dogs
        gr.Markdown("# readable-fp: a dog for every language model\nDrawn from the weights alone. Models that "
                    "share a base get near-identical dogs, independent models clearly different ones.",
                    elem_id="rfp-header")
        style = _style(dogs)
        with gr.Tabs():
            with gr.Tab("Fingerprint", elem_id="tab-fingerprint"):
                files, path, card_name, go, ex, fp_out = _fingerprint_tab(policy, session, max_upload)
            with gr.Tab("Compare", elem_id="tab-compare"):
                inputs, cmp, cmp_ex, cmp_out = _compare_tab(policy, max_upload)
            with gr.Tab("Gallery", elem_id="tab-gallery"):
                # Two galleries, each with one writer: one shared with the page load would race it
                # (a slow first load could overwrite the session's newest dog with the examples alone).
                grid = dict(columns=4, object_fit="contain", height="auto", buttons=["download", "fullscreen"])
                shown = gr.Gallery(label="Made in this browser session (newest first)", elem_id="gallery-session", **grid)
                bundled_dogs = gr.Gallery(label="Examples: bundled real models", elem_id="gallery-examples", **grid)
        run = dict(fn=make_fingerprint, inputs=[files, path, card_name, style, session, limit, allowed, offered],
                   outputs=fp_out + [shown], api_name="make_fingerprint")
        go.click(**run).then(lambda: None, None, files, api_name=False)  # its files are gone: empty the box
        path.submit(**{**run, "api_name": False})
        ex.click(run_example, [ex, card_name, style, session, offered], fp_out + [shown], api_name=False)
        cmp_run = dict(fn=make_comparison, inputs=[*inputs, style, session, limit, allowed, offered],
                       outputs=cmp_out + [session, shown])
        cmp.click(**cmp_run, api_name="make_comparison").then(lambda: (None, None), None, [inputs[0], inputs[2]],
                                                               api_name=False)
        for p in (inputs[1], inputs[3]):
            p.submit(**cmp_run, api_name=False)
        cmp_ex.click(run_compare_example, [cmp_ex, style, session, offered], cmp_out + [session, shown], api_name=False)
        demo.load(lambda: examples(dogs.renderer(None)), None, bundled_dogs, api_name=False)
    return demo


CSS = web_views.CSS + web_a11y.CSS + """
#rfp-header h1 { margin-bottom: 0; }
#rfp-header p { margin-top: 4px; }
"""

WORKERS = 2  # requests served at once: one slow model (or Hub lookup) does not hold everyone's queue


def launch(host: str | None = None, port: int | None = None, max_upload: int | None = None,
           policy: Policy | None = None, renderer: str | None = None) -> int:
    """Serve the app until interrupted, however it is started (`readable-fp app`, `python app.py`).
    `max_upload` (bytes; default $READABLE_FP_MAX_UPLOAD or 2 GB) bounds one model's upload;
    Gradio also refuses any single file above it. Host and port default to Gradio's own
    ($GRADIO_SERVER_NAME / $GRADIO_SERVER_PORT, as Spaces set them), else 127.0.0.1:7860.
    `renderer` (default $READABLE_FP_RENDERER, else afhqdog if installed): the dog drawn first."""
    limit = max_upload or int(os.environ.get("READABLE_FP_MAX_UPLOAD", MAX_UPLOAD))
    dogs = Dogs.offered(renderer)  # a renderer that is not installed fails here, before serving
    if threading.current_thread() is threading.main_thread():
        # `kill` / a service manager stops the app like Ctrl-C: Gradio closes, and the results folder goes
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        build(limit, policy, dogs).queue(default_concurrency_limit=WORKERS).launch(
            server_name=host, server_port=port, max_file_size=limit, show_error=False, css=CSS,
            js=web_a11y.JS, footer_links=[])
    except OSError as e:  # typically: the port is taken
        raise FingerprintError(f"cannot serve on {host}:{port}: {e}") from None
    with _idle:
        _idle.wait_for(lambda: _busy == 0, timeout=300)
    return 0
