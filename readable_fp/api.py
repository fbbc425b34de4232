"""The Python API: open any model reference, compute its invariants, compare two models."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Union

from .checkpoint import Checkpoint
from .compare import Comparison, TooFewSharedTokens, compare_invariants
from .errors import FingerprintError
from .paths import model_file, read_json, regular_file
from .model_terms import ALL_LAYERS_TOKENS, DEFAULT_TOKENS, FILE_KIND, MIN_PROBES, Invariants, compute, probe_ids
from .vocab import choose_probes

Model = Union[str, os.PathLike, Checkpoint, Invariants]


def _is_invariants_file(p: Path) -> bool:
    if p.suffix != ".safetensors" or p.stat().st_size < 8:
        return False
    with open(p, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if n > 100_000_000:
            return False
        head = f.read(n)
    return FILE_KIND.encode() in head


def open_model(ref: Model, base: Model | None = None, progress: bool = True,
               allow_full_download: bool = False) -> Checkpoint | Invariants:
    """See `_open`; also records how long opening took, for the report."""
    t0 = time.perf_counter()
    m = _open(ref, base, progress, allow_full_download)
    if isinstance(m, Checkpoint) and not hasattr(m, "open_seconds"):
        m.open_seconds = time.perf_counter() - t0
    return m


def _open(ref: Model, base: Model | None = None, progress: bool = True,
          allow_full_download: bool = False) -> Checkpoint | Invariants:
    """A local HF directory, a .gguf file, a PEFT LoRA directory, a Hub reference, or an
    invariants file -> a lazily read `Checkpoint` (or the loaded `Invariants`).

    A Hub reference (ORG/NAME[@REVISION] that is not a local path, or hf://ORG/NAME[@REVISION][/PATH])
    is read by HTTP range requests (`readable_fp.formats.hub`); its pickled .bin weights are
    downloaded whole only with `allow_full_download`.

    Folders in other layouts are read too: an ONNX export (config.json beside one .onnx, as
    Optimum writes it), Mistral's native one (params.json and
    consolidated.safetensors, no config.json or no Hugging Face weights beside them) and the
    legacy sentence-transformers one (modules.json naming the `0_Transformer/` folder).

    `base` is the base model of a LoRA adapter, overriding the adapter config's
    `base_model_name_or_path`.
    """
    if isinstance(ref, (Checkpoint, Invariants)):
        return ref
    s = os.fspath(ref)
    p = Path(s).expanduser()
    from .formats.hub import looks_like_repo_id
    if s.startswith("hf://") or (not p.exists() and looks_like_repo_id(s) and not s.startswith((".", "/", "~"))):
        from .formats.hub import open_repo
        from .formats.hub_file import RepoNotFound
        try:
            m = open_repo(s, progress, allow_full_download)
        except RepoNotFound as e:
            if s.startswith("hf://"):
                raise
            raise FingerprintError(f"{s}: no such file or directory, and {str(e).split(': ', 1)[1]}") from None
        return m if isinstance(m, Checkpoint) else _open(m, base, progress, allow_full_download)  # a LoRA folder
    if not p.exists():
        raise FingerprintError(f"{s}: no such file or directory")
    if p.is_dir():
        if (p / "adapter_config.json").is_file():
            return _open_lora(p, base, progress, allow_full_download)
        from .formats import mistral_native
        native, hf_weights = mistral_native.is_native(p), mistral_native.has_hf_weights(p)
        # Optimum's ONNX export: config.json and tokenizer beside model.onnx, no other weights
        onnx_export = not hf_weights and len(list(p.glob("*.onnx"))) == 1
        if (p / "config.json").is_file() and not onnx_export and not (native and not hf_weights):
            from .formats.safetensors_dir import HFDirCheckpoint
            return HFDirCheckpoint(p)  # a folder with both Mistral layouts: the Hugging Face one
        if native:
            return mistral_native.open_native(p)
        if (p / "modules.json").is_file():
            return _open(_sentence_transformer(p), base, progress, allow_full_download)
        single = sorted(p.glob("*.gguf")) or sorted(p.glob("*.onnx"))
        if len(single) == 1:
            return open_model(model_file(p, single[0].name))
        raise FingerprintError(f"{s}: not a model directory (no config.json, adapter_config.json, params.json with "
                               "consolidated.safetensors, or single .gguf or .onnx)")
    regular_file(p)
    if not os.access(p, os.R_OK):
        raise FingerprintError(f"{s}: permission denied")
    if p.suffix == ".gguf":
        from .formats.gguf_file import GGUFCheckpoint
        return GGUFCheckpoint(str(p))
    if p.suffix == ".onnx":
        from .formats.onnx_file import ONNXCheckpoint
        return ONNXCheckpoint(str(p))
    if _is_invariants_file(p):
        return Invariants.load(p)
    if p.suffix in (".safetensors", ".bin", ".json") and (p.parent / "config.json").is_file():
        return open_model(p.parent)
    if p.name.startswith("consolidated") or p.name == "params.json":
        from .formats.mistral_native import is_native
        if is_native(p.parent):
            return open_model(p.parent)
    raise FingerprintError(f"{s}: not a model (expected a model directory, .gguf, .onnx or an invariants file)")


def _sentence_transformer(directory: Path) -> Path:
    """The transformer module's folder of a sentence-transformers model saved in the legacy layout
    (modules.json naming `0_Transformer/`, which holds config.json, weights and tokenizer); the
    current layout keeps the transformer at the top level, beside modules.json and 1_Pooling/."""
    import json

    from .paths import read_text

    try:
        modules = json.loads(read_text(model_file(directory, "modules.json"), "small"))
    except (json.JSONDecodeError, RecursionError):
        raise FingerprintError(f"{directory}: modules.json is not valid JSON") from None
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise FingerprintError(f"{directory}: modules.json is not a list of sentence-transformers modules")
    transformers = [m for m in modules if str(m.get("type", "")).endswith("models.Transformer")] or modules[:1]
    rel = transformers[0].get("path") if transformers else None
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise FingerprintError(f"{directory}: modules.json names no transformer module folder inside the model's folder")
    sub, top = (directory / rel).resolve(), directory.resolve()
    if sub == top or not sub.is_relative_to(top) or not sub.is_dir():
        raise FingerprintError(f"{directory}: the transformer module '{rel}' that modules.json names is not a folder "
                               "inside the model's folder")
    return directory / rel


def _open_lora(directory: Path, base: Model | None, progress: bool, allow_full_download: bool):
    from .formats.peft_adapter import LoraCheckpoint
    if base is None:
        base = read_json(directory, "adapter_config.json").get("base_model_name_or_path")
        if not base or not isinstance(base, str):
            raise FingerprintError(f"{directory}: the adapter config names no base model; pass one with --base")
    base_ckpt = open_model(base, progress=progress, allow_full_download=allow_full_download)
    if not isinstance(base_ckpt, Checkpoint):
        raise FingerprintError(f"{directory}: the LoRA base must be a model, not an invariants file")
    return LoraCheckpoint(directory, base_ckpt)


def load(ref: Model, base: Model | None = None, allow_full_download: bool = False) -> Checkpoint | Invariants:
    """Open a model reference without reading any weights yet (see `open_model`)."""
    return open_model(ref, base, allow_full_download=allow_full_download)


def invariants(model: Model, n_tokens: int | None = None, layers=None, base: Model | None = None,
               progress: bool = True, allow_full_download: bool = False) -> Invariants:
    """The invariant terms of one model, with its own probe tokens (a standalone fingerprint).
    Default n_tokens: DEFAULT_TOKENS, or ALL_LAYERS_TOKENS with layers="all".
    `allow_full_download`: a Hub repo whose weights are pickled .bin files (which cannot be read
    by range) is downloaded whole instead of refused."""
    m = open_model(model, base, progress, allow_full_download)
    if isinstance(m, Invariants):
        return m
    return compute(m, n_tokens=_tokens(n_tokens, layers), layers=layers, progress=progress)


def _tokens(n_tokens: int | None, layers) -> int:
    if n_tokens is not None:
        return n_tokens
    from .null import mode_of

    return ALL_LAYERS_TOKENS if mode_of(layers) == "all" else DEFAULT_TOKENS


def latent(model: Model, encoder=None, n_tokens: int | None = None, base: Model | None = None,
           progress: bool = True, allow_full_download: bool = False):
    """A model's 512-dim float32 latent (the input of the dog renderers): its standalone
    invariants of the last two layers, through `encoder` (a name of `readable_fp.encoder.NAMES`,
    a weights path, an `Encoder`, or None for the one the shipped held-out metrics favour)."""
    from . import encoder as enc

    e = encoder if isinstance(encoder, enc.Encoder) else enc.get(encoder)  # a bad name fails before any reading
    return e.encode(invariants(model, n_tokens=n_tokens, base=base, progress=progress,
                               allow_full_download=allow_full_download))


def compare(a: Model, b: Model, n_tokens: int | None = None, layers=None, base_a: Model | None = None,
            base_b: Model | None = None, progress: bool = True, null=None,
            allow_full_download: bool = False) -> Comparison:
    """How strongly two models share a base: ICS (0-100, overall and per term and layer), and a
    z-score, p-value and verdict against the null distribution of independent pairs.

    `layers="all"` reads every layer of both models and matches them (robust to depth pruning;
    default n_tokens then ALL_LAYERS_TOKENS, to bound memory). `null`: a `readable_fp.null.Null`,
    a null file path, False for no verdict, or None for the shipped null plus the user's own pairs.
    """
    nl = load_null(null)  # a bad file fails before any reading
    return judge(*pair_invariants(a, b, n_tokens, layers, base_a, base_b, progress, allow_full_download), layers, nl)


def load_null(null):
    """`compare`'s `null` argument as a `Null` (None for False); a bad file fails here."""
    from . import null as nulls

    return None if null is False else null if isinstance(null, nulls.Null) else nulls.load(null)


def judge(ia: Invariants, ib: Invariants, layers=None, null=None) -> Comparison:
    """`compare` of two models' terms already read on one set of probe tokens (`pair_invariants`)."""
    from . import null as nulls

    nl = load_null(null)
    res = compare_invariants(ia, ib, match=nulls.mode_of(layers) == "all")
    if nl is not None:
        res.calibration = nl.calibrate(res.ics, nulls.mode_of(layers))
    return res


def pair_invariants(a: Model, b: Model, n_tokens: int | None = None, layers=None, base_a: Model | None = None,
                    base_b: Model | None = None, progress: bool = True,
                    allow_full_download: bool = False) -> tuple[Invariants, Invariants]:
    """The terms of two models on one set of probe tokens, as `compare` compares them.

    With both checkpoints at hand the probe tokens are the lowest-ranked strings present in
    both vocabularies; a saved invariants file brings its own probe strings, restricted to
    those the other side also has."""
    n_tokens = _tokens(n_tokens, layers)
    ma = open_model(a, base_a, progress, allow_full_download)
    mb = open_model(b, base_b, progress, allow_full_download)
    if isinstance(ma, Checkpoint) and isinstance(mb, Checkpoint):
        by_id = ma.vocab is None or mb.vocab is None
        probes = choose_probes([probe_ids(ma, by_id), probe_ids(mb, by_id)], n_tokens)
        if len(probes) < MIN_PROBES:
            raise TooFewSharedTokens(f"the two models share only {len(probes)} probe tokens (need {MIN_PROBES}); "
                                     "their vocabularies are too different to compare")
        return compute(ma, probes, layers=layers, progress=progress), compute(mb, probes, layers=layers, progress=progress)
    if isinstance(ma, Checkpoint):
        return compute(ma, mb.probes, layers=_relative(mb) if layers is None else layers, progress=progress), mb
    if isinstance(mb, Checkpoint):
        return ma, compute(mb, ma.probes, layers=_relative(ma) if layers is None else layers, progress=progress)
    return ma, mb


def _relative(inv: Invariants) -> list[int]:
    """A saved file's layers as counted from the end, so models of other depths line up."""
    return [i - inv.n_layers for i in inv.layers]
