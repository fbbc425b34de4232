"""Architecture adapters: each maps one family's tensor names onto the canonical layout.

The canonical layout of one transformer layer (`Layer`) is what the invariant terms need,
in Hugging Face orientation (`W` is `out x in`, a layer computes `x W^T`), all float32:

    q (H*hd, d)   k (KV*hd, d)   v (KV*vd, d)   o (d, H*vd)   up (F, d)   down (d, F)

plus the norm gains that must be folded into them (None where the family has none):
`attn_gain` / `ffn_gain` read the residual stream before attention / FFN; `q_gain` /
`k_gain` are per-head q/k norms (head_dim); `o_gain` / `down_gain` are post-norms applied to
the attention / FFN output (Gemma 2/3, OLMo 2). Biases never enter the terms. A mixture of
experts gives `experts` instead of up/down: a function returning an iterator over each
expert's (up, down), read one expert at a time (see `readable_fp.terms` for the term).

An adapter module defines `FAMILIES` (the language model's config `model_type` values),
`EMBEDDING` (the token embedding's name), `LAYER` (a layer's name prefix, `"layers.{i}."`),
`LAYER_COUNT` (config keys for the layer count, first present wins) and
`layer(cfg, i, get) -> Layer`; optionally `embed_post(cfg, get, X) -> X` when token embeddings
pass through a projection before reaching the residual stream (OPT-350m), and
`attention_layers(cfg, n) -> [i, ...]` for hybrids whose other layers have no attention.
Names are relative to the language model's root, which `language_model` finds: the one prefix
under which both the embedding and the last layer exist (`model.`, `model.language_model.`,
`bert.`, ...), so a vision or audio tower's tensors can never be taken for the language
model's. `get(name)` reads the tensor at root + name; `get.has(name)` asks whether it exists.
`cfg` is the language model's config with transformers' defaults (`readable_fp.model_config`).
The math (`terms.py`) never sees a family name.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType
from typing import Callable, Iterator

import torch

from ..errors import FingerprintError
from ..model_config import MAX_COUNT, first  # noqa: F401  (adapters import them from here)



@dataclass
class Layer:
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    o: torch.Tensor
    up: torch.Tensor | None
    down: torch.Tensor | None
    n_heads: int
    n_kv: int
    attn_gain: torch.Tensor | None = None
    ffn_gain: torch.Tensor | None = None
    q_gain: torch.Tensor | None = None
    k_gain: torch.Tensor | None = None
    o_gain: torch.Tensor | None = None
    down_gain: torch.Tensor | None = None
    experts: Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor]]] | None = None
    n_experts: int = 0  # routed + shared, for the record

    def check(self, where: str) -> None:
        """Shapes must agree with the head counts, or the terms would pair the wrong things."""
        d = self.q.shape[1]
        if self.n_kv <= 0 or self.n_heads % self.n_kv or self.q.shape[0] % self.n_heads or self.v.shape[0] % self.n_kv:
            raise FingerprintError(f"{where}: {self.n_heads} heads / {self.n_kv} kv heads do not fit "
                                   f"q {tuple(self.q.shape)} and v {tuple(self.v.shape)}")
        hd, vd = self.q.shape[0] // self.n_heads, self.v.shape[0] // self.n_kv
        want = {"q": (self.n_heads * hd, d), "k": (self.n_kv * hd, d), "v": (self.n_kv * vd, d),
                "o": (d, self.n_heads * vd)}
        if self.experts is None:
            want.update(up=(self.up.shape[0], d), down=(d, self.up.shape[0]))
        for name, shape in want.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise FingerprintError(f"{where}: {name} has shape {got}, expected {shape}")

    def ffns(self, where: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(up, down) of the dense FFN, or of each expert in turn, each checked against the width."""
        d = self.q.shape[1]
        for e, (up, down) in enumerate([(self.up, self.down)] if self.experts is None else self.experts()):
            if up.dim() != 2 or up.shape[1] != d or tuple(down.shape) != (d, up.shape[0]):
                what = "the FFN" if self.experts is None else f"expert {e}"
                raise FingerprintError(f"{where}: {what} has up {tuple(up.shape)} and down {tuple(down.shape)}, "
                                       f"which do not fit width {d}")
            yield up, down


def split_per_head(qkv: torch.Tensor, n_heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v from a projection fused *per head* (rows [q_0; k_0; v_0; q_1; ...], as GPT-NeoX
    and BLOOM view their output as (heads, 3, head_dim)); splitting in thirds would pair the
    wrong rows."""
    d = qkv.shape[1]
    q, k, v = qkv.view(n_heads, 3, -1, d).unbind(1)
    return q.reshape(-1, d), k.reshape(-1, d), v.reshape(-1, d)


@functools.cache
def _modules() -> tuple[ModuleType, ...]:
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return tuple(importlib.import_module(f"{__name__}.{n}") for n in names)


def supported() -> list[str]:
    """Every language-model `model_type` an adapter reads (GGUF architectures apart)."""
    return sorted(f for m in _modules() for f in m.FAMILIES if not f.startswith("gguf:"))


def supported_table() -> list[tuple[str, str, str]]:
    """(adapter module, model types, the first paragraph of its docstring): `readable-fp supported`."""
    rows = []
    for m in _modules():
        doc = " ".join((m.__doc__ or "").strip().split("\n\n")[0].split())
        rows.append((m.__name__.rsplit(".", 1)[1], ", ".join(f.removeprefix("gguf:") for f in m.FAMILIES), doc))
    return rows


def supported_markdown() -> str:
    """The README's table of architectures (a test keeps the README equal to it)."""
    lines = ["| adapter | config `model_type` (GGUF: `general.architecture`) | notes |", "|---|---|---|"]
    lines += [f"| `{name}` | {types} | {doc.replace('|', '/')} |" for name, types, doc in supported_table()]
    return "\n".join(lines)


_SSM = ("a state-space model with no attention layers; the fingerprint's terms are built from attention and "
        "FFN weights, so it has none")
# Types that are refused with the reason: no attention, or no layer that is one attention and one FFN
# adding to one residual stream, which is what the terms read.
_REFUSED = {
    "mamba": _SSM, "mamba2": _SSM, "falcon_mamba": _SSM, "rwkv": _SSM, "xlstm": _SSM,
    "longcat_flash": "each LongCat-Flash layer holds two attention blocks and two FFNs in sequence, with a mixture "
                     "of experts beside them on a shortcut; the terms read one attention and one FFN per layer",
    "deepseek_v4": "DeepSeek-V4's hyper-connections keep several residual streams, mixed by weights computed from "
                   "each token; the terms read layers that add to one stream",
    "zamba": "Zamba's shared attention reads the stream concatenated with the original embeddings (twice the "
             "width) and feeds the next Mamba layer through a linear map, not the residual stream",
    "zamba2": "Zamba2's shared attention reads the stream concatenated with the original embeddings (twice the "
              "width) and feeds the next Mamba layer through a linear map, not the residual stream",
}


def for_config(cfg: dict, source: str) -> ModuleType:
    mt = cfg.get("model_type")
    for mod in _modules():
        if mt in mod.FAMILIES:
            return mod
    inside = f" (inside '{cfg['wrapper_type']}')" if cfg.get("wrapper_type") else ""
    if mt in _REFUSED:
        raise FingerprintError(f"{source}: '{mt}'{inside} cannot be fingerprinted: {_REFUSED[mt]}")
    archs = cfg.get("architectures") or []
    name = mt or (archs[0] if archs else "unknown")
    raise FingerprintError(f"{source}: unsupported architecture '{name}'{inside}; supported: {', '.join(supported())}")


class LanguageModel:
    """The language model inside a checkpoint, as an adapter reads it: its config, its root prefix,
    and its layers in the canonical layout."""

    def __init__(self, ckpt) -> None:
        from ..model_config import language_config

        self.ckpt, self.source = ckpt, ckpt.source
        self.cfg = language_config(ckpt.config, ckpt.source)
        self.adapter = for_config(self.cfg, ckpt.source)
        self.n_layers = first(self.cfg, *self.adapter.LAYER_COUNT)
        self.root = _root(ckpt.names(), self.adapter, self.n_layers, ckpt.source)
        self.embedding = self.root + self.adapter.EMBEDDING
        self.extra_rows = getattr(self.adapter, "EXTRA_ROWS", {}).get(self.cfg["model_type"], 0)
        self.get = _getter(ckpt, self.root)
        pick = getattr(self.adapter, "attention_layers", None)
        self.attention_layers = list(pick(self.cfg, self.n_layers)) if pick else list(range(self.n_layers))
        if not self.attention_layers:
            raise FingerprintError(f"{ckpt.source}: no layer of this '{self.cfg['model_type']}' model has attention")

    @property
    def architecture(self) -> str:
        w = self.cfg.get("wrapper_type")
        return f"{w} ({self.cfg['model_type']})" if w else str(self.cfg["model_type"])

    def embed_post(self, X: torch.Tensor) -> torch.Tensor:
        post = getattr(self.adapter, "embed_post", None)
        return post(self.cfg, self.get, X) if post else X

    def layer(self, i: int) -> Layer:
        return self.adapter.layer(self.cfg, i, self.get)


def _root(names, adapter: ModuleType, n_layers: int, source: str) -> str:
    """The prefix under which the adapter's embedding and its last layer both exist."""
    emb, last = adapter.EMBEDDING, adapter.LAYER.format(i=n_layers - 1)
    roots = {n[:-len(emb)] for n in names if n.endswith(emb) and (len(n) == len(emb) or n[-len(emb) - 1] == ".")}
    roots = sorted(r for r in roots if any(n.startswith(r + last) for n in names))
    if len(roots) == 1:
        return roots[0]
    if not roots:
        raise FingerprintError(f"{source}: no language model tensors: expected '{emb}' and '{last}*' under one prefix "
                               f"(a {n_layers}-layer model, as its config says)")
    raise FingerprintError(f"{source}: more than one language model in the checkpoint "
                           f"({', '.join(repr(r) for r in roots[:4])}); cannot tell which the config describes")


def _getter(ckpt, root: str):
    def get(name: str) -> torch.Tensor:
        if not ckpt.has(root + name):
            raise FingerprintError(f"{ckpt.source}: no tensor named '{root + name}' in the checkpoint")
        return ckpt.get(root + name)

    get.has = lambda name: ckpt.has(root + name)  # type: ignore[attr-defined]
    get.rows = lambda name, rows: ckpt.get(root + name, rows=rows)  # type: ignore[attr-defined]
    get.shape = lambda name: ckpt.shape(root + name)  # type: ignore[attr-defined]
    return get
