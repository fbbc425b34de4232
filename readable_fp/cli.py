"""The `readable-fp` command line."""
from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .atomic import check_output, write_bytes
from .errors import FingerprintError
from .model_terms import DEFAULT_TOKENS


def _add_reading_options(p: argparse.ArgumentParser, layers: bool = True) -> None:
    p.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, metavar="T",
                   help=f"number of probe tokens (default {DEFAULT_TOKENS}; fewer if the vocabularies share fewer)")
    if layers:
        p.add_argument("--layers", default="-2,-1",
                       help="layers to read: comma-separated indices, negative from the end, or 'all' (default: -2,-1)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes get the same single line as every other error."""

    def error(self, message: str):
        self.exit(2, f"readable-fp: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="readable-fp",
        description="Human-readable fingerprints of language models, computed from their weights alone. "
                    "MODEL is a local Hugging Face directory (safetensors, sharded, or pytorch_model*.bin), "
                    "a .gguf file, an .onnx export, a PEFT LoRA adapter directory, a Hub repo id, or a saved invariants file.")
    ap.add_argument("--version", action="version", version=f"readable-fp {__version__}")
    ap.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("compare", help="how strongly two models share a base (ICS 0-100)")
    c.add_argument("model_a", metavar="MODEL_A")
    c.add_argument("model_b", metavar="MODEL_B")
    c.add_argument("--base-a", help="base model of MODEL_A if it is a LoRA adapter (overrides its config)")
    c.add_argument("--base-b", help="base model of MODEL_B if it is a LoRA adapter (overrides its config)")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_reading_options(c)

    i = sub.add_parser("invariants", help="save a model's invariant terms to a private file")
    i.add_argument("model", metavar="MODEL")
    i.add_argument("-o", "--output", required=True, metavar="FILE", help="output .safetensors file")
    i.add_argument("--base", help="base model if MODEL is a LoRA adapter (overrides its config)")
    _add_reading_options(i)
    la = sub.add_parser("latent", help="the 512-dim latent vector of a model (or a saved invariants file), as JSON")
    la.add_argument("model", metavar="MODEL")
    la.add_argument("--encoder", default=None, metavar="NAME",
                    help="trained, random-projection, mean-pool, or a .safetensors path "
                         "(default: the one pretrained/encoder.json measured best)")
    la.add_argument("-o", "--output", metavar="FILE", help="write the JSON here instead of printing it")
    la.add_argument("--base", help="base model if MODEL is a LoRA adapter (overrides its config)")
    _add_reading_options(la, layers=False)  # the encoder reads the last two layers
    d = sub.add_parser("demo", help="compare bundled real models: a derived pair and an unrelated pair")
    d.add_argument("--json", action="store_true", help="print JSON instead of tables")
    _add_reading_options(d)

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
    from . import api, bundled

    results = []
    for a, b, what in DEMO_PAIRS:
        res = api.compare(bundled.path(a), bundled.path(b), n_tokens=args.tokens, layers=args.layers, progress=progress)
        results.append({"a": a, "b": b, "relation": what, **res.to_dict()})
        if not args.json:
            print(f"== {bundled.MODELS[a][2]}  vs  {bundled.MODELS[b][2]}  ({what})")
            print(res.table() + "\n")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


def _import_stylegan2(args) -> int:
    from .nvidia_pickle import convert_nvidia_pickle

    meta = convert_nvidia_pickle(args.pkl, args.output, key=args.key, license=args.license)
    print(f"wrote {args.output}: {args.key} of {meta['source']} (sha256 {meta['source_sha256'][:16]}...)")
    return 0


def _latent(args, progress: bool) -> int:
    from . import api, encoder

    if args.output:
        check_output(args.output)  # a bad name or path fails before the model is read
    enc = encoder.get(args.encoder)
    z = api.latent(args.model, enc, n_tokens=args.tokens, base=args.base, progress=progress)
    text = json.dumps({"encoder": enc.name, "latent": [float(v) for v in z]}) + "\n"
    if args.output:
        write_bytes(args.output, text.encode())
        print(f"wrote {args.output}: {enc.name} latent")
    else:
        sys.stdout.write(text)
    return 0


def _run(args) -> int:
    from . import api

    if args.command == "import-stylegan2":
        return _import_stylegan2(args)
    progress = not args.no_progress
    if args.command == "demo":
        return _demo(args, progress)
    if args.command == "compare":
        res = api.compare(args.model_a, args.model_b, n_tokens=args.tokens, layers=args.layers,
                          base_a=args.base_a, base_b=args.base_b, progress=progress)
        print(res.to_json() if args.json else res.table())
        return 0
    if args.command == "latent":
        return _latent(args, progress)
    if args.command == "invariants":
        out = args.output
        check_output(out)
        inv = api.invariants(args.model, n_tokens=args.tokens, layers=args.layers, base=args.base, progress=progress)
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
    if getattr(args, "tokens", 2) < 2:
        ap.error("--tokens must be at least 2")
    try:
        return _run(args)
    except FingerprintError as e:
        print(f"readable-fp: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("readable-fp: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug or an input we did not foresee: still one line, unless --debug
        if args.debug:
            raise
        print(f"readable-fp: error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
