"""The `readable-fp` command line."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import warnings

from . import __version__
from .atomic import check_output, write_bytes
from .errors import FingerprintError, printable as _printable
from .model_terms import ALL_LAYERS_TOKENS, DEFAULT_TOKENS


def _add_reading_options(p: argparse.ArgumentParser, layers: bool = True) -> None:
    p.add_argument("--tokens", type=int, default=None, metavar="T",
                   help=f"number of probe tokens (default {DEFAULT_TOKENS}, {ALL_LAYERS_TOKENS} with --layers all; "
                        "fewer if the vocabularies share fewer)")
    if layers:
        p.add_argument("--layers", default="-2,-1",
                       help="layers to read: comma-separated indices, negative from the end, or 'all' "
                            "(every layer, matched between the two models: robust to depth pruning) (default: -2,-1)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _add_hub_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-full-download", action="store_true",
                   help="for a Hub repo whose weights are pickled .bin files (which cannot be read by range): "
                        "download the files the terms read, whole (refused otherwise)")


def _add_renderer_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoder", default=None, metavar="NAME",
                   help="trained, random-projection, mean-pool, or a .safetensors path "
                        "(default: the one pretrained/encoder.json measured best)")
    p.add_argument("--renderer", default=None, metavar="R",
                   help="vector-dog (default), afhqdog (NVIDIA's photographic AFHQ-Dog generator, after "
                        "`readable-fp renderer get afhqdog`) or a StyleGAN2 generator .safetensors")
    p.add_argument("--size", type=int, default=None, metavar="PX",
                   help="image size in pixels (default: the renderer's own, 256 for vector-dog, 512 for afhqdog; "
                        "256 suits a model card)")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes get the same single line as every other error."""

    def error(self, message: str):
        self.exit(2, f"readable-fp: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="readable-fp",
        description="Human-readable fingerprints of language models, computed from their weights alone. "
                    "MODEL is a local Hugging Face directory (safetensors, sharded, or pytorch_model*.bin; quantised "
                    "with bitsandbytes, GPTQ, AWQ, compressed-tensors, FP8, MLX or MXFP4 too), "
                    "a .gguf file, an .onnx export, a PEFT LoRA adapter directory, a saved invariants file, or a "
                    "Hugging Face Hub model: ORG/NAME[@REVISION] or hf://ORG/NAME[@REVISION][/FOLDER or /FILE.gguf], read "
                    "by HTTP range requests (only the bytes the terms use; cached in $READABLE_FP_CACHE).")
    ap.add_argument("--version", action="version", version=f"readable-fp {__version__}")
    ap.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("compare", help="how strongly two models share a base (ICS 0-100)")
    c.add_argument("model_a", metavar="MODEL_A")
    c.add_argument("model_b", metavar="MODEL_B")
    c.add_argument("--base-a", help="base model of MODEL_A if it is a LoRA adapter (overrides its config)")
    c.add_argument("--base-b", help="base model of MODEL_B if it is a LoRA adapter (overrides its config)")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.add_argument("--null", metavar="FILE", help="judge against this null file instead of the shipped null "
                                                  "plus your own (readable-fp null add)")
    c.add_argument("--image", metavar="DIR", help="also write DIR/comparison.png: both dogs side by side "
                                                  "(drawn from the terms just compared, on the probe tokens both "
                                                  "models share), the similarity and the verdict under them")
    _add_renderer_options(c)
    _add_reading_options(c)
    _add_hub_options(c)

    i = sub.add_parser("invariants", help="save a model's invariant terms to a private file")
    i.add_argument("model", metavar="MODEL")
    i.add_argument("-o", "--output", required=True, metavar="FILE", help="output .safetensors file")
    i.add_argument("--base", help="base model if MODEL is a LoRA adapter (overrides its config)")
    _add_reading_options(i)
    _add_hub_options(i)
    la = sub.add_parser("latent", help="the 512-dim latent vector of a model (or a saved invariants file), as JSON")
    la.add_argument("model", metavar="MODEL")
    la.add_argument("--encoder", default=None, metavar="NAME",
                    help="trained, random-projection, mean-pool, or a .safetensors path "
                         "(default: the one pretrained/encoder.json measured best)")  # no renderer: no image
    la.add_argument("-o", "--output", metavar="FILE", help="write the JSON here instead of printing it")
    la.add_argument("--base", help="base model if MODEL is a LoRA adapter (overrides its config)")
    _add_reading_options(la, layers=False)  # the encoder reads the last two layers
    _add_hub_options(la)
    f = sub.add_parser("fingerprint", help="the dog, its latent and a record of how it was made, written into a folder")
    f.add_argument("model", metavar="MODEL")
    f.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="output folder: dog.png, dog.svg (vector renderer), latent.json, fingerprint.json")
    f.add_argument("--save-invariants", action="store_true",
                   help="also write invariants.safetensors (private: it leaks information about the weights)")
    f.add_argument("--base", help="base model if MODEL is a LoRA adapter (overrides its config)")
    _add_renderer_options(f)
    _add_reading_options(f, layers=False)
    _add_hub_options(f)

    cd = sub.add_parser("card", help="print a model-card section (the dog, the method, how to verify); "
                                     "--write puts it into a README")
    cd.add_argument("model", metavar="MODEL")
    cd.add_argument("--write", metavar="CARD", help="insert the section into this README/model card (or replace "
                                                    "the one there), leaving the rest of the file untouched")
    cd.add_argument("--image", metavar="FILE", help="where to write the dog (default: fingerprint.png beside "
                                                    "the card, or in the current folder)")
    cd.add_argument("--ref", metavar="NAME", help="how readers should name the model in the verify commands "
                                                  "(default: MODEL as given)")
    cd.add_argument("--base", help="base model if MODEL is a LoRA adapter (overrides its config)")
    _add_renderer_options(cd)
    _add_reading_options(cd, layers=False)
    _add_hub_options(cd)

    ap_ = sub.add_parser("app", help="start the web UI (Gradio) on this machine")
    ap_.add_argument("--host", default=None, help="address to listen on (default $GRADIO_SERVER_NAME or 127.0.0.1)")
    ap_.add_argument("--port", type=int, default=None, help="port (default $GRADIO_SERVER_PORT or 7860)")
    ap_.add_argument("--allow-local-paths", action="append", default=[], metavar="DIR",
                     help="let users type paths of models inside DIR (repeatable); off by default: users upload")
    ap_.add_argument("--allow-hub", action="store_true", help="let users type Hugging Face Hub ids (off by default)")
    ap_.add_argument("--renderer", default=None, metavar="R",
                     help="the dog drawn first: afhqdog, vector-dog or a StyleGAN2 .safetensors (default: "
                          "$READABLE_FP_RENDERER, else afhqdog when installed; users may pick the vector dog too)")
    ap_.add_argument("--max-upload", type=float, default=None, metavar="GB",
                     help="largest upload of one model, in GB (default: $READABLE_FP_MAX_UPLOAD bytes, or 2)")

    d = sub.add_parser("demo", help="fingerprint and compare the bundled real models (a derived pair and an "
                                    "unrelated pair), with pictures")
    d.add_argument("--json", action="store_true", help="print JSON instead of tables")
    d.add_argument("-o", "--output", default="readable-fp-demo", metavar="DIR",
                   help="where the dogs and the side-by-side pictures go (default: readable-fp-demo)")
    _add_reading_options(d)

    n = sub.add_parser("null", help="the null distribution of independent pairs behind compare's verdict: show it, add to it")
    nsub = n.add_subparsers(dest="null_command", metavar="ACTION", required=True)
    ns = nsub.add_parser("show", help="the null's groups, their ICS range and the 'same base' threshold")
    ns.add_argument("--json", action="store_true", help="print every pair as JSON")
    na = nsub.add_parser("add", help="add models that share no base with each other or the bundled models")
    na.add_argument("models", nargs="+", metavar="MODEL")
    na.add_argument("--group", default="language models",
                    help="the group the new pairs join (default: language models)")
    na.add_argument("--no-progress", action="store_true", help="hide progress bars")

    sp = sub.add_parser("supported", help="the architectures readable-fp reads: one row per adapter, with the "
                                          "config model_type values it covers")
    sp.add_argument("--markdown", action="store_true", help="as the README's Markdown table")

    ix = sub.add_parser("index", help="an index of many models' fingerprints, built in parallel on Ray; identify searches it")
    isub = ix.add_subparsers(dest="index_command", metavar="ACTION", required=True)
    ia = isub.add_parser("add", help="fingerprint models into the index (one Ray task per model; models already "
                                     "indexed are skipped, so an interrupted batch resumes)")
    ia.add_argument("models", nargs="*", metavar="MODEL")
    ia.add_argument("--from", dest="from_file", metavar="FILE", help="also the models listed in FILE, one per line")
    ia.add_argument("--index", required=True, metavar="DIR", help="the index folder (created if missing)")
    ia.add_argument("--address", help="an existing Ray cluster (default: a local Ray runtime)")
    ia.add_argument("--workers", type=int, default=None, help="models at once on the local runtime (default: CPUs)")
    ia.add_argument("--memory-gb", type=float, default=8.0,
                    help="memory one model may take; Ray runs only as many at once as fit (default 8)")
    ia.add_argument("--retries", type=int, default=1, help="times a model is retried when its worker dies (default 1)")
    ia.add_argument("--save-invariants", action="store_true",
                    help="keep each model's invariants in DIR/invariants/ (private, ~200 MB each): identify then "
                         "gives exact ICS and a verdict for them")
    _add_reading_options(ia, layers=False)
    ish = isub.add_parser("show", help="what the index holds: its models and failures")
    ish.add_argument("--index", default=None, metavar="DIR", help="default: the index shipped with readable-fp")
    ish.add_argument("--json", action="store_true")
    idf = sub.add_parser("identify", help="which indexed model is MODEL's base: nearest by estimated ICS, then exact "
                                          "ICS and verdict where the index keeps invariants")
    idf.add_argument("model", metavar="MODEL")
    idf.add_argument("--index", default=None, metavar="DIR", help="default: the index shipped with readable-fp "
                                                                  "(its bundled models)")
    idf.add_argument("--top", type=int, default=5, metavar="K", help="candidates to show (default 5)")
    idf.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_reading_options(idf, layers=False)
    _add_hub_options(idf)

    r = sub.add_parser("renderer", help="the dog renderers: list them, get NVIDIA's photographic AFHQ-Dog generator")
    rsub = r.add_subparsers(dest="renderer_command", metavar="ACTION", required=True)
    rl = rsub.add_parser("list", help="the renderers readable-fp knows, whether installed, their licences")
    rl.add_argument("--json", action="store_true", help="print JSON instead of a table")
    rg = rsub.add_parser("get", help="download a published generator once (e.g. afhqdog), import it without "
                                     "running any of its pickle, keep it as safetensors in the cache")
    rg.add_argument("name", metavar="NAME", help="afhqdog: NVIDIA's StyleGAN2-ADA AFHQ-Dog, 512 px, CC BY-NC 4.0")
    rg.add_argument("--url", help="download from this mirror instead of the publisher's URL")
    rg.add_argument("--file", metavar="PKL", help="import this already downloaded pickle instead of downloading")
    rg.add_argument("--force", action="store_true", help="fetch and import again even if installed")
    rg.add_argument("--no-progress", action="store_true", help="hide the download's progress bar")
    rr = rsub.add_parser("remove", help="delete an installed generator from the cache")
    rr.add_argument("name", metavar="NAME")

    g = sub.add_parser("import-stylegan2",
                       help="convert an NVIDIA StyleGAN2-ADA .pkl to a safetensors generator (no pickle code is run)")
    g.add_argument("pkl", metavar="PKL", help="a stylegan2-ada-pytorch network pickle, e.g. afhqdog.pkl")
    g.add_argument("-o", "--output", required=True, metavar="OUT", help="output .safetensors file")
    g.add_argument("--key", default="G_ema", help="which network of the pickle to convert (default: G_ema)")
    g.add_argument("--license", default="", metavar="TEXT",
                   help="licence note stored in the output's metadata (the pickle's licence is yours to state)")
    return ap


DEMO_PAIRS = [("minilm", "minilm-int8", "derived: a published int8 ONNX export of the same model"),
              ("smollm2", "minilm", "unrelated: different bases")]


def _demo(args, progress: bool) -> int:
    """The bundled real models: their fingerprints, and both pairs compared and pictured."""
    from pathlib import Path

    from . import api, bundled
    from .fingerprint import fingerprint
    from .side_by_side import side_by_side

    out = Path(args.output)
    fps = {}
    for key in dict.fromkeys(k for a, b, _ in DEMO_PAIRS for k in (a, b)):
        fps[key] = fingerprint(bundled.model(key), n_tokens=args.tokens, progress=progress)
        fps[key].save(out / key)
    results = []
    for a, b, what in DEMO_PAIRS:
        res = api.compare(bundled.model(a), bundled.model(b), n_tokens=args.tokens, layers=args.layers, progress=progress)
        verdict = res.calibration.line() if res.calibration else "verdict: none"
        png = side_by_side(fps[a].png, fps[b].png, bundled.MODELS[a][2], bundled.MODELS[b][2],
                           [f"ICS {res.ics:.2f} / 100 ({res.n_tokens} probe tokens)", verdict])
        write_bytes(out / f"{a}-vs-{b}.png", png)
        results.append({"a": a, "b": b, "relation": what, "image": str(out / f"{a}-vs-{b}.png"), **res.to_dict()})
        if not args.json:
            print(f"== {bundled.MODELS[a][2]}  vs  {bundled.MODELS[b][2]}  ({what})")
            print(res.table())
            print(f"picture: {out / f'{a}-vs-{b}.png'}\n")
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"fingerprints (dog.png, dog.svg, latent.json, fingerprint.json): {', '.join(str(out / k) for k in fps)}")
    return 0


def _index(args, progress: bool) -> int:
    from . import index_store
    from .paths import read_text

    if args.index_command == "show":
        idx = index_store.Index(args.index or index_store.SHIPPED).check()
        t, failed = idx.table(["revision", "record", "invariants"]), idx.failures()
        refs, records = t.column("ref").to_pylist(), [json.loads(r) for r in t.column("record").to_pylist()]
        if args.json:
            print(json.dumps({"index": str(idx.dir), "entries": [{"ref": r, "revision": v, "model": rec.get("model")}
                              for r, v, rec in zip(refs, t.column("revision").to_pylist(), records)],
                              "failures": failed}, indent=1))
            return 0
        kept = sum(1 for i in t.column("invariants").to_pylist() if i)
        print(f"{idx.dir}: {len(refs)} models, {len(failed)} failed, {kept} with invariants")
        for r, rec in zip(refs, records):
            m = rec.get("model", {})
            print(f"  {r}  ({m.get('architecture')}, {m.get('format')} {m.get('dtype')})")
        for r, why in failed.items():
            print(f"  FAILED {r}: {why}")
        return 0
    from .index_build import add

    models = list(args.models)
    if args.from_file:
        models += [ln.strip() for ln in read_text(args.from_file, "index").splitlines() if ln.strip()]
    if not models:
        raise FingerprintError("index add: name at least one MODEL (or --from FILE)")
    if args.workers is not None and args.workers < 1:
        raise FingerprintError("--workers must be at least 1")
    rep = add(models, args.index, args.address, args.workers, args.memory_gb, args.save_invariants, args.retries,
              args.tokens, progress)
    print(f"{args.index}: added {len(rep.added)}, already there {len(rep.skipped)}, failed {len(rep.failed)} "
          f"({rep.seconds:.1f} s)")
    for r, why in rep.failed.items():
        print(f"  FAILED {r}: {why}")
    return 0 if not rep.failed else 1


def _identify(args, progress: bool) -> int:
    from . import index_store
    from .identify import identify

    if args.top < 1:
        raise FingerprintError("--top must be at least 1")
    res = identify(args.model, args.index or index_store.SHIPPED, args.top, progress, n_tokens=args.tokens,
                   allow_full_download=args.allow_full_download)
    print(res.to_json() if args.json else res.table())
    return 0


def _renderer(args) -> int:
    from . import renderer_get

    if args.renderer_command == "get":
        from .renderers import installed, resolve
        was = installed(args.name)
        path = renderer_get.get(args.name, args.url, args.file, args.force, progress=not args.no_progress)
        r = resolve(args.name)
        if was and not args.force:
            print(f"{args.name} is already installed: {path} (--force fetches it again)")
        else:
            print(f"installed {args.name}: {path} ({r.credit}; pickle sha256 {r.extra.get('source_sha256')})")
        print(f"use it with --renderer {args.name}; licence: {r.extra.get('license')}: {r.extra.get('terms')}")
        return 0
    if args.renderer_command == "remove":
        gone = renderer_get.remove(args.name)
        print(f"removed {gone}" if gone else f"{args.name} was not installed")
        return 0
    rows = renderer_get.listing()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'NAME':<11} {'SIZE':>6}  {'LICENCE':<31} {'STATUS'}")
    for row in rows:
        status = ("built in" if row["path"] is None and row["installed"] else
                  f"installed: {row['path']}" if row["installed"] else f"not installed: readable-fp renderer get {row['name']}")
        print(f"{row['name']:<11} {str(row['size']) + ' px':>6}  {row['license']:<31} {status}")
        print(f"{'':<11} {row['title']}")
    return 0


def _import_stylegan2(args) -> int:
    from .nvidia_pickle import convert_nvidia_pickle

    check_output(args.output, [args.pkl])
    meta = convert_nvidia_pickle(args.pkl, args.output, key=args.key, license=args.license)
    print(f"wrote {args.output}: {args.key} of {meta['source']} (sha256 {meta['source_sha256'][:16]}...)")
    return 0


def _latent(args, progress: bool) -> int:
    from . import api, encoder

    if args.output:
        check_output(args.output, [args.model, args.base])  # a bad name or path fails before the model is read
    enc = encoder.get(args.encoder)
    z = api.latent(args.model, enc, n_tokens=args.tokens, base=args.base, progress=progress,
                   allow_full_download=args.allow_full_download)
    text = json.dumps({"encoder": enc.name, "latent": [float(v) for v in z]}) + "\n"
    if args.output:
        write_bytes(args.output, text.encode())
        print(f"wrote {args.output}: {enc.name} latent")
    else:
        sys.stdout.write(text)
    return 0


def _null(args) -> int:
    from . import null, null_add

    if args.null_command == "add":
        pairs = null_add.add(args.models, group=args.group, progress=not args.no_progress)
        for p in pairs:
            print(f"added: {p.a} vs {p.b}  ICS {p.ics:.2f}  ({p.n_tokens} probe tokens)")
        print(f"wrote {null.user_dir() / 'null.json'}")
    nl = null.load()
    if getattr(args, "json", False):
        print(json.dumps([vars(p) for p in nl.pairs], indent=1))
        return 0
    if not nl.pairs:
        print("the null is empty")
    for mode in ("last2", "all"):
        cal = nl.calibrate(0.0, mode)
        if cal is None:
            continue
        print(f"mode {mode}: 'same base' above ICS {cal.same_base_above:.1f} (false-positive rate {cal.alpha:g})")
        for group, values in nl.groups(mode).items():
            print(f"  {group:<16} {len(values):>3} pairs  ICS mean {sum(values) / len(values):5.2f}  "
                  f"max {max(values):5.2f}")
    return 0


def _fingerprint(args, progress: bool) -> int:
    from pathlib import Path

    from .atomic import not_an_input
    from .fingerprint import OUTPUTS, PRIVATE, fingerprint

    for name in OUTPUTS + (PRIVATE,):
        not_an_input(Path(args.output) / name, [args.model, args.base, args.renderer])
    fp = fingerprint(args.model, args.encoder, args.renderer, n_tokens=args.tokens, base=args.base, progress=progress,
                     allow_full_download=args.allow_full_download, size=args.size)
    written = fp.save(args.output, save_invariants=args.save_invariants)
    print(f"wrote {args.output}: {', '.join(p.name for p in written)}"
          + ("  (invariants.safetensors is private: do not publish it)" if args.save_invariants else ""))
    return 0


def _card(args, progress: bool) -> int:
    from pathlib import Path

    from .fingerprint import fingerprint
    from .model_card import check, section, write_into

    inputs = [args.model, args.base, args.renderer]
    if args.write:
        check_output(args.write, inputs)
        check(args.write)  # a card that cannot take the section fails before any reading
    image = Path(args.image) if args.image else (Path(args.write).parent if args.write else Path(".")) / "fingerprint.png"
    check_output(str(image), inputs)
    fp = fingerprint(args.model, args.encoder, args.renderer, n_tokens=args.tokens, base=args.base, progress=progress,
                     allow_full_download=args.allow_full_download, size=args.size)
    card_dir = Path(args.write).resolve().parent if args.write else Path.cwd()
    rel = os.path.relpath(image.resolve(), card_dir)
    text = section(fp.record, Path(rel).as_posix(), args.ref or args.model)
    write_bytes(image, fp.png)
    if args.write:
        replaced = write_into(args.write, text)
        print(f"{'replaced the' if replaced else 'added a'} readable-fp section in {args.write}; wrote {image}")
    else:
        sys.stdout.write(text)
        print(f"(wrote {image})", file=sys.stderr)
    return 0


def _compare_image(args, res, pair) -> None:
    from pathlib import Path

    from .fingerprint import from_invariants
    from .side_by_side import side_by_side

    # The dogs are drawn from the terms just compared (the probe tokens both models share, keyed
    # as the comparison was), so the picture and the number beside it come from the same reading.
    fa, fb = (from_invariants(inv, args.encoder, args.renderer, size=args.size) for inv in pair)
    lines = [f"ICS {res.ics:.2f} / 100 ({res.n_tokens} probe tokens): "
             + ", ".join(f"{t.term}@{t.layer_a} {t.ics:.1f}" for t in res.terms[:6])]
    lines.append(res.calibration.line() if res.calibration else "verdict: none (no null for this layer choice)")
    if pair[0].keying == "token ids":
        lines.append("probe tokens named by token id (a model has no tokenizer files): these dogs compare only "
                     "with each other")
    png = side_by_side(fa.png, fb.png, Path(str(args.model_a).rstrip("/")).name, Path(str(args.model_b).rstrip("/")).name,
                       lines)
    out = Path(args.image)
    out.mkdir(parents=True, exist_ok=True)
    write_bytes(out / "comparison.png", png)
    print(f"wrote {out / 'comparison.png'}", file=sys.stderr)


def _run(args) -> int:
    from . import api

    if args.command == "import-stylegan2":
        return _import_stylegan2(args)
    if args.command == "renderer":
        return _renderer(args)
    if args.command == "index":
        return _index(args, not getattr(args, "no_progress", False))
    if args.command == "identify":
        return _identify(args, not args.no_progress)
    if args.command == "null":
        return _null(args)
    if args.command == "supported":
        from .adapters import supported_markdown, supported_table
        print(supported_markdown() if args.markdown else
              "\n".join(f"{name:<16} {types}" for name, types, _ in supported_table()))
        return 0
    if args.command == "app":
        from .app import launch
        if args.max_upload is not None and args.max_upload <= 0:
            raise FingerprintError("--max-upload must be a positive number of GB")
        from .app import Policy
        env = Policy.from_env()
        policy = Policy(tuple(args.allow_local_paths) or env.local_dirs, args.allow_hub or env.hub)
        return launch(args.host, args.port, None if args.max_upload is None else int(args.max_upload * 1e9), policy,
                      args.renderer)
    progress = not args.no_progress
    if args.command == "demo":
        return _demo(args, progress)
    if args.command == "compare":
        if args.image:  # a folder, created if missing
            from pathlib import Path

            from .atomic import not_an_input
            not_an_input(Path(args.image) / "comparison.png", [args.model_a, args.model_b, args.base_a, args.base_b])
        if args.image:
            from .fingerprint import check
            check(args.encoder, args.renderer, args.size)
        nl = api.load_null(args.null)  # a bad null file fails before any reading
        pair = api.pair_invariants(args.model_a, args.model_b, args.tokens, args.layers, args.base_a, args.base_b,
                                   progress, args.allow_full_download)
        res = api.judge(*pair, args.layers, nl)
        if args.image:
            _compare_image(args, res, pair)
        print(res.to_json() if args.json else res.table())
        return 0
    if args.command == "latent":
        return _latent(args, progress)
    if args.command == "fingerprint":
        return _fingerprint(args, progress)
    if args.command == "card":
        return _card(args, progress)
    if args.command == "invariants":
        out = args.output
        check_output(out, [args.model, args.base])
        inv = api.invariants(args.model, n_tokens=args.tokens, layers=args.layers, base=args.base, progress=progress,
                             allow_full_download=args.allow_full_download)
        inv.save(out)
        print(f"wrote {out}: {len(inv.probes)} probe tokens, layers {inv.layers} of {inv.n_layers}, "
              f"{len(inv.terms)} terms (private: do not publish)")
        return 0
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if not args.command:
        ap.print_help()
        return 2
    if getattr(args, "tokens", None) is not None and args.tokens < 2:
        ap.error("--tokens must be at least 2")
    try:
        with _libraries_quiet(args.debug):
            return _run(args)
    except FingerprintError as e:
        print(f"readable-fp: error: {_printable(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("readable-fp: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug or an input we did not foresee: still one line, unless --debug
        if args.debug:
            raise
        print(f"readable-fp: error: {type(e).__name__}: {_printable(str(e).splitlines()[0] if str(e) else '')} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1


@contextlib.contextmanager
def _libraries_quiet(debug: bool):
    """torch, numpy, gguf and transformers warn through `warnings` and `logging`; the user gets
    our one line (and our own notes), not theirs, unless --debug asks for everything."""
    if debug:
        yield
        return
    root = logging.getLogger()
    quiet = logging.NullHandler()
    root.addHandler(quiet)  # with a handler in place, logging's last-resort stderr printer stays silent
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeHandler(quiet)


if __name__ == "__main__":
    sys.exit(main())
