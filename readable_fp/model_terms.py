"""A model's invariant terms, computed from a checkpoint or read back from a saved file.

The saved file is safetensors (one float16 T x T tensor per term and layer, each divided by
its RMS so float16 neither overflows nor underflows) with JSON metadata: probe strings,
layer indices, and what was read. It leaks information about the weights, so it is private:
publish the dog, not this file.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from tqdm.auto import tqdm

from . import __version__
from .adapters import LanguageModel
from .atomic import replacing
from .checkpoint import Checkpoint
from .errors import FingerprintError
from .language_structure import gram
from .terms import TERMS, layer_terms
from .vocab import MAX_TOKEN_ID, choose_probes, probe_table

FILE_KIND = "readable-fp/invariants"
DEFAULT_TOKENS = 4096
ALL_LAYERS_TOKENS = 1024  # every layer's three T x T terms are held at once: 1024 keeps a 32-layer model under 0.5 GB
DEFAULT_LAYERS = (-2, -1)
MIN_PROBES = 32  # below this the terms are too small a sample to tell models apart


@dataclass
class Invariants:
    probes: list[str]
    layers: list[int]  # absolute layer indices, in order
    n_layers: int
    terms: dict[str, torch.Tensor]  # "attn@28" -> T x T
    info: dict = field(default_factory=dict)  # what was read: format, architecture, dtype, bytes, seconds (not saved)
    gram: torch.Tensor | None = None  # X X^T of the probe embeddings: the language structure compare takes out
    # X itself while the model's reading is in memory (never saved: these are the model's weights);
    # it makes G^2 cost T^2 d instead of T^3 when compare takes the language structure out
    embeddings: torch.Tensor | None = field(default=None, repr=False)

    def keys(self) -> list[str]:
        return [f"{t}@{i}" for i in self.layers for t in TERMS]

    @property
    def keying(self) -> str:
        """How the probe tokens are named: "token strings", or "token ids" when the model (or the
        one it was compared with) has no tokenizer files. Dogs of the two kinds are not comparable."""
        return "token ids" if self.probes and self.probes[0].startswith(ID_PREFIX) else "token strings"

    def save(self, path: str | os.PathLike) -> None:
        tensors = {}
        scales = {}
        for k in self.keys():
            m = self.terms[k].float()
            rms = float(m.pow(2).mean().sqrt()) or 1.0
            tensors[k] = (m / rms).to(torch.float16).contiguous()
            scales[k] = rms
        if self.gram is not None:
            m = self.gram.float()
            scales["gram"] = float(m.pow(2).mean().sqrt()) or 1.0
            tensors["gram"] = (m / scales["gram"]).to(torch.float16).contiguous()
        # Timings differ from run to run; they stay in memory (the report shows them) but are
        # not saved, so the same checkpoint always gives the same file, byte for byte.
        # The source's directory is left out too, so copies of a model in two places give one file.
        info = {k: v for k, v in self.info.items() if k not in _UNSAVED_INFO}
        if "source" in info:
            info["source"] = Path(str(info["source"]).rstrip("/")).name
        meta = {"kind": FILE_KIND, "version": __version__, "probes": json.dumps(self.probes, ensure_ascii=False),
                "layers": json.dumps(self.layers), "n_layers": str(self.n_layers),
                "scales": json.dumps(scales), "info": json.dumps(info)}
        with replacing(path) as tmp:
            write_safetensors(tensors, tmp, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Invariants":
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                if meta.get("kind") != FILE_KIND:
                    raise FingerprintError(f"{path}: a safetensors file, but not a readable-fp invariants file")
                scales = json.loads(meta["scales"])
                terms = {k: f.get_tensor(k).float() * scales[k] for k in f.keys()}
                inv = cls(json.loads(meta["probes"]), json.loads(meta["layers"]), int(meta["n_layers"]),
                          terms, json.loads(meta.get("info", "{}")), terms.pop("gram", None))
        except (SafetensorError, OSError, KeyError, ValueError) as e:
            if isinstance(e, FingerprintError):
                raise
            raise FingerprintError(f"{path}: unreadable invariants file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        inv.info = {**inv.info, "format": "invariants file", "bytes_read": os.path.getsize(path)}
        return inv

    def restricted(self, probes: list[str]) -> "Invariants":
        """The same terms on a subset of the probe strings (in the given order)."""
        pos = {s: i for i, s in enumerate(self.probes)}
        idx = torch.as_tensor([pos[s] for s in probes], dtype=torch.long)
        terms = {k: v[idx][:, idx] for k, v in self.terms.items()}
        gram = None if self.gram is None else self.gram[idx][:, idx]
        X = None if self.embeddings is None else self.embeddings[idx]
        return Invariants(list(probes), self.layers, self.n_layers, terms, self.info, gram, X)


# Timings and download counts differ from run to run (a second run downloads nothing); the
# Hub's commit goes too, so a model read from the Hub saves the same file as a local copy of it.
_UNSAVED_INFO = ("seconds", "hub")
_ST_DTYPES = {torch.float16: "F16", torch.float32: "F32", torch.int64: "I64"}


def write_safetensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """A standard safetensors file with a deterministic header.

    `safetensors.torch.save_file` orders the metadata through a randomly seeded hash map, so
    two saves of the same terms differ in their header bytes; here keys are sorted.
    """
    header: dict = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    head += b" " * (-len(head) % 8)  # tensor data starts 8-byte aligned, as safetensors writes it
    with open(path, "wb") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        for data in blobs:
            f.write(data)


def resolve_layers(spec, n_layers: int, eligible: list[int] | None = None) -> list[int]:
    """'-2,-1' / [ -2, -1 ] / 'all' -> sorted absolute indices within the model.

    `eligible` are the layers that have attention (all by default; a hybrid's attention layers
    only): negative indices count from the end of them, 'all' means all of them."""
    eligible = list(range(n_layers)) if eligible is None else eligible
    if spec is None:
        spec = DEFAULT_LAYERS
    if isinstance(spec, str):
        if spec.strip() == "all":
            return list(eligible)
        try:
            spec = [int(s) for s in spec.split(",") if s.strip()]
        except ValueError:
            raise FingerprintError(f"bad layer list '{spec}': use comma-separated integers (negative counts from the end) or 'all'") from None
    out = []
    for i in spec:
        if i < 0 and -i <= len(eligible):
            out.append(eligible[i])
        elif 0 <= i < n_layers and i in eligible:
            out.append(i)
        elif 0 <= i < n_layers:
            raise FingerprintError(f"layer {i} has no attention (this model's attention layers: "
                                   f"{', '.join(map(str, eligible[:12]))}{', ...' if len(eligible) > 12 else ''})")
        else:
            which = f"{len(eligible)} attention layers" if len(eligible) < n_layers else f"{n_layers} layers"
            raise FingerprintError(f"layer {i} does not exist in a model with {which}")
    return sorted(set(out))


# The T x T terms of every chosen layer are held at once; refuse up front what would not fit.
MEMORY_BUDGET = float(os.environ.get("READABLE_FP_MEMORY_GB", "8")) * 2**30


def check_memory(n_tokens: int, n_layers: int, source: str) -> None:
    need = 3 * n_layers * n_tokens * n_tokens * 4  # float32 terms; the weights come and go one layer at a time
    if need > MEMORY_BUDGET:
        raise FingerprintError(f"{source}: {n_layers} layers at {n_tokens} probe tokens need {need / 2**30:.1f} GB of "
                               f"terms, over the {MEMORY_BUDGET / 2**30:.0f} GB budget (READABLE_FP_MEMORY_GB); "
                               "use fewer --tokens or --layers")


ID_PREFIX = "<id:"


def probe_ids(ckpt: Checkpoint, by_id: bool = False) -> dict[str, int]:
    """normalised string -> id for the checkpoint's ordinary tokens.

    Without tokenizer files (or with `by_id`, when the other model has none) the "strings"
    are the token ids themselves: fine for exports of one model, defeated by id permutation.
    """
    if by_id or ckpt.vocab is None:
        if not getattr(ckpt, "_warned_ids", False):
            why = "has no tokenizer files" if ckpt.vocab is None else "is compared with a model that has no tokenizer files"
            print(f"readable-fp: warning: {ckpt.source} {why}; probe tokens fall back to token ids, "
                  "which a vocabulary permutation defeats", file=sys.stderr)
            ckpt._warned_ids = True
        n = ckpt.shape(embedding_name(ckpt))[0]
        if n > MAX_TOKEN_ID + 1:  # one probe name per row: a hostile declared size must not allocate them
            raise FingerprintError(f"{ckpt.source}: the embedding declares {n} rows, more than any real vocabulary")
        return {f"{ID_PREFIX}{i}>": i for i in range(n)}
    if not hasattr(ckpt, "_probe_table"):
        ckpt._probe_table = probe_table(ckpt.vocab)
    return ckpt._probe_table


def language_model(ckpt: Checkpoint) -> LanguageModel:
    """The checkpoint's language model as its adapter reads it (made once per checkpoint)."""
    if getattr(ckpt, "_language_model", None) is None:
        ckpt._language_model = LanguageModel(ckpt)
    return ckpt._language_model


def embedding_name(ckpt: Checkpoint) -> str:
    return language_model(ckpt).embedding


def compute(ckpt: Checkpoint, probes: list[str] | None = None, n_tokens: int = DEFAULT_TOKENS,
            layers=None, progress: bool = True) -> Invariants:
    """The invariant terms of `ckpt` on `probes` (strings; by default its own lowest-ranked n_tokens)."""
    t0 = time.perf_counter()
    lm = language_model(ckpt)
    table = probe_ids(ckpt, by_id=bool(probes) and probes[0].startswith(ID_PREFIX))
    if probes is None:
        probes = choose_probes([table], n_tokens)
        if len(probes) < MIN_PROBES:
            raise FingerprintError(f"{ckpt.source}: only {len(probes)} usable probe tokens (need {MIN_PROBES})")
    else:
        probes = [s for s in probes if s in table]
    if len(probes) < 2:
        raise FingerprintError(f"{ckpt.source}: fewer than 2 usable probe tokens")
    chosen = resolve_layers(layers, lm.n_layers, lm.attention_layers)
    check_memory(len(probes), len(chosen), ckpt.source)
    X = _embeddings(ckpt, lm, [table[s] for s in probes])
    terms: dict[str, torch.Tensor] = {}
    experts = 0
    bar = tqdm(chosen, desc=f"terms {Path(str(ckpt.source)).name}", unit="layer", disable=not progress,
               file=sys.stderr, leave=False)
    with torch.no_grad():
        for i in bar:
            where = f"{ckpt.source} layer {i}"
            with _layout_errors(ckpt.source, f"layer {i}"):
                L = lm.layer(i)
                _check_layer(L, X.shape[1], lm.cfg, where, i)
                for t, m in layer_terms(X, L, where).items():
                    terms[f"{t}@{i}"] = m
            experts = max(experts, L.n_experts)
            del L  # a 7B layer is ~1 GB in float32: never hold two
    info = {"source": str(ckpt.source), "format": ckpt.fmt, "architecture": lm.architecture,
            "dtype": ckpt.dtype_summary(), "bytes_read": ckpt.stats.bytes_read,
            "seconds": round(time.perf_counter() - t0 + getattr(ckpt, "open_seconds", 0.0), 3),
            "tensors": dict(ckpt.stats.tensors), "storage": dict(ckpt.stats.storage)}
    if experts:
        info["experts"] = experts
    if getattr(ckpt, "hub", None) is not None:  # read from the Hub: the commit, and what this run downloaded
        info["hub"] = ckpt.hub.record()
    if len(lm.attention_layers) < lm.n_layers:  # a hybrid: the encoder's "last two layers" are among these
        info["attention_layers"] = list(lm.attention_layers)
    return Invariants(probes, chosen, lm.n_layers, terms, info, gram(X), X.float())


def _embeddings(ckpt: Checkpoint, lm: LanguageModel, ids: list[int]) -> torch.Tensor:
    vocab_rows = ckpt.shape(lm.embedding)[0]
    if max(ids) >= vocab_rows:
        raise FingerprintError(f"{ckpt.source}: tokenizer has ids up to {max(ids)} but the embedding has {vocab_rows} rows")
    X = ckpt.get(lm.embedding, rows=ids)
    if X.dim() != 2:
        raise FingerprintError(f"{ckpt.source}: the token embedding '{lm.embedding}' has {X.dim()} dimensions, not 2")
    with _layout_errors(ckpt.source, "the embedding"):
        X = lm.embed_post(X)
    _config_fits(lm.cfg, vocab_rows - lm.extra_rows, X.shape[1], ckpt.source)
    return X


def _check_layer(L, width: int, cfg: dict, where: str, i: int) -> None:
    if L.q.dim() != 2 or L.q.shape[1] != width:  # before L.check, which takes q's width as given
        raise FingerprintError(f"{where}: q has shape {tuple(L.q.shape)}, but the embeddings have width {width}")
    L.check(where)
    head_dim = cfg.get("qk_head_dim", cfg.get("head_dim"))  # multi-head latent attention: nope + rope dims
    per_layer = cfg.get("per_layer_config")  # Gemma 4: full-attention layers have their own head_dim
    if isinstance(per_layer, dict):
        own = {int(k): v for k, v in per_layer.items() if str(k).isdigit() and isinstance(v, dict)}
        head_dim = own.get(i, {}).get("head_dim", head_dim)
    if type(head_dim) is int and L.q.shape[0] != L.n_heads * head_dim:
        raise FingerprintError(f"{where}: config head_dim is {head_dim}, but q has {L.q.shape[0]} rows "
                               f"for {L.n_heads} heads")


def _config_fits(cfg: dict, rows: int, width: int, source: str) -> None:
    """Sizes the config states must be the tensors' sizes: a config that disagrees with its weights
    describes some other model, and the head split would silently follow the wrong one."""
    for key, actual, what in (("vocab_size", rows, "rows"), ("hidden_size", width, "columns")):
        stated = cfg.get(key)
        if type(stated) is int and stated != actual:
            raise FingerprintError(f"{source}: config {key} is {stated}, but the token embedding has {actual} {what}")


@contextlib.contextmanager
def _layout_errors(source: str, where: str):
    """An adapter splits, reshapes and un-permutes tensors by the config's numbers; tensors that do
    not have the shapes those numbers imply fail inside torch. Say so in the project's words."""
    try:
        yield
    except (RuntimeError, ValueError, IndexError, TypeError, ZeroDivisionError) as e:
        why = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise FingerprintError(f"{source}: {where}: the tensors do not fit the architecture's layout "
                               f"given its config ({why})") from None
