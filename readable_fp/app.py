"""The web UI: fingerprint a model, compare two, and browse the dogs made in this browser session.

    readable-fp app [--host 127.0.0.1] [--port 7860] [--allow-local-paths DIR] [--allow-hub]
    python app.py                                          # Hugging Face Spaces: settings from the environment

Anyone who reaches the page is a user of the server, so it reads only what users upload: uploads
are checked before anything reads them (see `stage`), may name only each other (a LoRA upload's
base must pass the same rules as a typed reference), and are deleted when their request ends.
Typed local paths and Hub ids are off unless the operator allows them (`Policy`): a folder whose
models may be opened by path, and/or the Hub.
"""
from __future__ import annotations

import atexit
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

from . import bundled
from .errors import FingerprintError

MAX_UPLOAD = 2 * 1024 ** 3  # bytes, all files of one model together
MODEL_FILES = (".gguf", ".onnx")  # one file is the whole model
ALLOWED_SUFFIXES = MODEL_FILES + (".safetensors",)
ALLOWED_NAMES = frozenset({
    "config.json", "generation_config.json", "model.safetensors.index.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt",
    "tokenizer.model", "added_tokens.json", "adapter_config.json",
    "quantize_config.json", "quant_config.json"})  # GPTQ's and AutoAWQ's side files: how the weights are packed


def message(e: BaseException) -> str:
    """One line for the page: our own errors are written for users; anything else is a bug or an
    input nobody foresaw, shown by type so it can be reported, never as a traceback."""
    if isinstance(e, FingerprintError):
        return str(e)
    first = str(e).splitlines()[0] if str(e) else ""
    return f"error: {type(e).__name__}: {first}"


def check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or ".." in name or name.startswith("."):
        raise FingerprintError(f"'{name}': file names may not contain '/', '\\' or '..', nor start with '.'")
    if name not in ALLOWED_NAMES and not name.endswith(ALLOWED_SUFFIXES):
        raise FingerprintError(f"'{name}': not a model file (allowed: *.gguf, *.onnx, *.safetensors, "
                               f"{', '.join(sorted(ALLOWED_NAMES))})")


def stage(files: list[str], tmp: Path, limit: int = MAX_UPLOAD) -> Path:
    """Check the uploaded files of one model and put them in `tmp` (a fresh folder owned by this
    request, so no two requests ever see each other's files); return what to open.

    Only each upload's base name is used, so a crafted name cannot point outside `tmp`."""
    names = [os.path.basename(str(f)) for f in files]
    for n in names:
        check_name(n)
    if len(set(names)) != len(names):
        raise FingerprintError("the same file name was uploaded twice")
    total = sum(os.path.getsize(f) for f in files)
    if total > limit:
        raise FingerprintError(f"the upload is {total / 1e9:.2f} GB; this app accepts at most {limit / 1e9:.2f} GB")
    single = [n for n in names if n.endswith(MODEL_FILES)]
    dirlike = [n for n in names if n.endswith(".safetensors") or n in ("config.json", "adapter_config.json")]
    if len(single) > 1 or (single and dirlike):
        raise FingerprintError("upload one model: a single .gguf or .onnx file (tokenizer files may come with it), "
                               "or config.json with its .safetensors files")
    if not single and not {"config.json", "adapter_config.json"} & set(names):
        raise FingerprintError("no model in the upload: give a .gguf or .onnx file, or config.json with "
                               "its .safetensors (and tokenizer) files")
    model_dir = tmp / "uploaded-model"  # the record names the model by this folder's name
    model_dir.mkdir()
    for f, n in zip(files, names):
        dst = model_dir / n
        try:
            os.link(f, dst)  # a model can be GBs: a hard link is an instant private copy when on one disk
        except OSError:
            shutil.copyfile(f, dst)
    return model_dir / single[0] if single else model_dir


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
    tmp = Path(tempfile.mkdtemp(prefix="readable-fp-upload-"))
    tmps.callback(shutil.rmtree, tmp, ignore_errors=True)
    ref = stage(files, tmp, limit)
    if (ref / "adapter_config.json").is_file():  # a LoRA upload names its base: the same rules as a typed one
        from .paths import read_json
        base = read_json(ref, "adapter_config.json").get("base_model_name_or_path")
        policy.check(str(base or ""), f"{which}the adapter's base model: ")
    return str(ref), ref.name if ref.is_file() else "MODEL"  # a folder upload has no name of its own


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _short(ref: str, width: int = 28) -> str:
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


def _slug(name: str) -> str:
    base = Path(name.rstrip("/\\")).name
    base = base[: -len(Path(base).suffix)] if base.endswith(MODEL_FILES) else base
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "model"


def _error(e: BaseException) -> str:
    """The message as Markdown that shows it literally (file patterns like *.gguf are not emphasis)."""
    return "**Error:** " + re.sub(r"([\\`*_{}\[\]()#+!|<>~])", r"\\\1", message(e))


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


_examples: list[tuple[str, str]] | None = None
_examples_lock = threading.Lock()


@_tracked
def examples() -> list[tuple[str, str]]:
    """(PNG path, caption) of the installed bundled models, made once per process at the first
    page load, so a first visit shows dogs without any upload and later visits cost nothing."""
    global _examples
    with _examples_lock:
        if _examples is None:
            from .fingerprint import fingerprint
            out, d = [], _out_dir()
            for key, (_, _, what) in bundled.MODELS.items():
                try:
                    fp = fingerprint(bundled.model(key), progress=False)  # with its tokenizer, if it ships none
                except FingerprintError:  # not installed: show the others
                    continue
                except Exception as e:  # a broken example must not break the page for everyone
                    print(f"readable-fp app: example {key}: {message(e)}", file=sys.stderr)
                    continue
                (d / f"{key}.png").write_bytes(fp.png)
                out.append((str(d / f"{key}.png"), what))
            _examples = out
        return list(_examples)


@_tracked
def make_fingerprint(files, path, session, limit=MAX_UPLOAD, policy=Policy(), progress=gr.Progress(track_tqdm=True)):
    from .fingerprint import fingerprint
    from .model_card import section

    nothing = (None, None, None, "", None)
    try:
        with ExitStack() as tmps:  # the upload's copy goes as soon as it is read, or failed
            ref, name = _model(files, path, tmps, limit, policy)
            progress(0, desc=f"reading {name}")
            fp = fingerprint(ref, progress=True)
    except Exception as e:
        return (_error(e), *nothing, session, gr.update(), None)
    d, stem = _out_dir(), _slug(name)
    png = d / f"{stem}.fingerprint.png"
    png.write_bytes(fp.png)
    card = section(fp.record, png.name, name)
    md = d / f"{stem}.model-card.md"
    md.write_text(card, encoding="utf-8")
    session = session + [(str(png), _short(name, 60))]
    return ("", str(png), fp.record, str(png), card, str(md), session, list(reversed(session)), None)


@_tracked
def make_comparison(files_a, path_a, files_b, path_b, limit=MAX_UPLOAD, policy=Policy(),
                    progress=gr.Progress(track_tqdm=True)):
    from .api import compare
    from .fingerprint import fingerprint
    from .side_by_side import side_by_side

    try:
        with ExitStack() as tmps:
            ref_a, name_a = _model(files_a, path_a, tmps, limit, policy, "model A: ")
            ref_b, name_b = _model(files_b, path_b, tmps, limit, policy, "model B: ")
            progress(0, desc="comparing")
            res = compare(ref_a, ref_b, progress=True)
            progress(0.7, desc="drawing the dogs")
            dog_a, dog_b = fingerprint(ref_a, progress=False), fingerprint(ref_b, progress=False)
    except Exception as e:
        return _error(e), None, "", None, "", None, None
    cal = res.calibration
    if cal is None:
        verdict = ("**Verdict: no verdict.** There is no null distribution of independent pairs for "
                   "this comparison, so the similarity cannot be judged.")
    else:
        verdict = f"**Verdict: {cal.verdict}.**  \n{cal.line()}"
    verdict += "".join(f"  \nWhy: {w}" for w in res.why())
    ics = f"**ICS {res.ics:.2f} / 100** ({res.n_tokens} shared probe tokens)"
    lines = [f"ICS {res.ics:.2f} / 100", f"verdict: {cal.verdict} (p = {cal.p:.2g})" if cal else "no verdict"]
    png = _out_dir() / "side-by-side.png"
    png.write_bytes(side_by_side(dog_a.png, dog_b.png, _short(name_a), _short(name_b), lines))
    table = [[t.term, t.layer_a, t.layer_b, round(t.ics, 2)] for t in res.terms]
    return "", str(png), ics, table, verdict, None, None


def _inputs(label: str, key: str, policy: Policy):
    files = gr.File(label=f"{label}: upload model files", file_count="multiple", type="filepath",
                    elem_id=f"{key}-files")
    path = gr.Textbox(label=f"{label}: or a local path / Hub id", placeholder="/path/to/model or org/name",
                      elem_id=f"{key}-path", visible=bool(policy.local_dirs or policy.hub))
    return files, path


def build(max_upload: int = MAX_UPLOAD, policy: Policy | None = None) -> gr.Blocks:
    """The app; `max_upload`: the most bytes one model's uploaded files may take together;
    `policy`: what typed references may open (default: $READABLE_FP_ALLOW_* , else nothing)."""
    policy = policy or Policy.from_env()
    with gr.Blocks(title="readable-fp", delete_cache=(1800, 3600), analytics_enabled=False) as demo:
        limit = gr.State(max_upload)
        allowed = gr.State(policy)
        session = gr.State([])  # per browser session: nobody else sees these dogs
        gr.Markdown("# readable-fp\nA dog drawn from a language model's weights: models that share a base "
                    "get near-identical dogs, independent models clearly different ones.")
        with gr.Tab("Fingerprint"):
            gr.Markdown(policy.help())
            files, path = _inputs("Model", "fp", policy)
            go = gr.Button("Fingerprint", variant="primary", elem_id="fp-run")
            err = gr.Markdown(elem_id="fp-error")
            with gr.Row():
                dog = gr.Image(label="Fingerprint", type="filepath", format="png", interactive=False, elem_id="fp-dog")
                record = gr.JSON(label="Record", open=True, elem_id="fp-record")
            png = gr.File(label="Download the PNG", elem_id="fp-png")
            card = gr.Code(label="Model-card section", language="markdown", interactive=False, elem_id="fp-card")
            card_file = gr.File(label="Download the model-card section", elem_id="fp-card-file")
        with gr.Tab("Compare"):
            gr.Markdown(policy.help())
            with gr.Row():
                with gr.Column():
                    files_a, path_a = _inputs("Model A", "a", policy)
                with gr.Column():
                    files_b, path_b = _inputs("Model B", "b", policy)
            cmp = gr.Button("Compare", variant="primary", elem_id="cmp-run")
            cmp_err = gr.Markdown(elem_id="cmp-error")
            pair = gr.Image(label="Side by side", type="filepath", format="png", interactive=False, elem_id="cmp-dogs")
            ics = gr.Markdown(elem_id="cmp-ics")
            verdict = gr.Markdown(elem_id="cmp-verdict")
            terms = gr.Dataframe(headers=["term", "layer A", "layer B", "ICS"], interactive=False, elem_id="cmp-terms")
        with gr.Tab("Gallery"):
            # Two galleries, each with one writer: one shared with the page load would race it
            # (a slow first load could overwrite the session's newest dog with the examples alone).
            grid = dict(columns=4, fit_columns=False, object_fit="contain", height="auto")
            shown = gr.Gallery(label="Made in this browser session (newest first)", elem_id="gallery-session", **grid)
            bundled_dogs = gr.Gallery(label="Examples: bundled real models", elem_id="gallery-examples", **grid)
        # The uploads are deleted when the request ends, so the file boxes are emptied too.
        go.click(make_fingerprint, [files, path, session, limit, allowed],
                 [err, dog, record, png, card, card_file, session, shown, files])
        cmp.click(make_comparison, [files_a, path_a, files_b, path_b, limit, allowed],
                  [cmp_err, pair, ics, terms, verdict, files_a, files_b])
        demo.load(examples, None, bundled_dogs)
    return demo


WORKERS = 2  # requests served at once: one slow model (or Hub lookup) does not hold everyone's queue


def launch(host: str | None = None, port: int | None = None, max_upload: int | None = None,
           policy: Policy | None = None) -> int:
    """Serve the app until interrupted, however it is started (`readable-fp app`, `python app.py`).
    `max_upload` (bytes; default $READABLE_FP_MAX_UPLOAD or 2 GB) bounds one model's upload;
    Gradio also refuses any single file above it. Host and port default to Gradio's own
    ($GRADIO_SERVER_NAME / $GRADIO_SERVER_PORT, as Spaces set them), else 127.0.0.1:7860."""
    limit = max_upload or int(os.environ.get("READABLE_FP_MAX_UPLOAD", MAX_UPLOAD))
    if threading.current_thread() is threading.main_thread():
        # `kill` / a service manager stops the app like Ctrl-C: Gradio closes, and the results folder goes
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        build(limit, policy).queue(default_concurrency_limit=WORKERS).launch(
            server_name=host, server_port=port, max_file_size=limit, show_error=False)
    except OSError as e:  # typically: the port is taken
        raise FingerprintError(f"cannot serve on {host}:{port}: {e}") from None
    with _idle:
        _idle.wait_for(lambda: _busy == 0, timeout=300)
    return 0
