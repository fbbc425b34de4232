"""Architecture adapters: each maps one family's tensor names onto the canonical layout.

The canonical layout of one transformer layer (`Layer`) is what the invariant terms need,
in Hugging Face orientation (`W` is `out x in`, a layer computes `x W^T`), all float32:

    q (H*hd, d)   k (KV*hd, d)   v (KV*hd, d)   o (d, H*hd)   up (F, d)   down (d, F)

plus the norm gains that must be folded into them (None where the family has none):
`attn_gain` / `ffn_gain` read the residual stream before attention / FFN; `q_gain` /
`k_gain` are per-head q/k norms (head_dim); `o_gain` / `down_gain` are post-norms applied to
the attention / FFN output (Gemma 2/3). Biases never enter the terms.

An adapter module defines `FAMILIES` (config `model_type` values), `EMBEDDING` (the token
embedding's name suffix), `LAYER_COUNT` (config keys for the layer count, first present wins)
and `layer(cfg, i, get) -> Layer`; optionally
`embed_post(cfg, get, X) -> X` when token embeddings pass through a projection before
reaching the residual stream (OPT-350m). `get(suffix)` returns the one tensor whose name
ends with `suffix`, so checkpoints saved with or without a `model.`/`transformer.` prefix
read alike. The math (`terms.py`) never sees a family name.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import torch

from ..errors import FingerprintError

_MODULES = ["llama", "gpt2", "gpt_neox", "gptj", "opt", "falcon", "bloom", "bert", "phi3", "gguf"]


@dataclass
class Layer:
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    o: torch.Tensor
    up: torch.Tensor
    down: torch.Tensor
    n_heads: int
    n_kv: int
    attn_gain: torch.Tensor | None = None
    ffn_gain: torch.Tensor | None = None
    q_gain: torch.Tensor | None = None
    k_gain: torch.Tensor | None = None
    o_gain: torch.Tensor | None = None
    down_gain: torch.Tensor | None = None

    def check(self, where: str) -> None:
        """Shapes must agree with the head counts, or the terms would pair the wrong things."""
        d = self.q.shape[1]
        if self.n_kv <= 0 or self.n_heads % self.n_kv or self.q.shape[0] % self.n_heads or self.v.shape[0] % self.n_kv:
            raise FingerprintError(f"{where}: {self.n_heads} heads / {self.n_kv} kv heads do not fit "
                                   f"q {tuple(self.q.shape)} and v {tuple(self.v.shape)}")
        hd, vd = self.q.shape[0] // self.n_heads, self.v.shape[0] // self.n_kv
        want = {"q": (self.n_heads * hd, d), "k": (self.n_kv * hd, d), "v": (self.n_kv * vd, d),
                "o": (d, self.n_heads * vd), "up": (self.up.shape[0], d), "down": (d, self.up.shape[0])}
        for name, shape in want.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise FingerprintError(f"{where}: {name} has shape {got}, expected {shape}")


def split_per_head(qkv: torch.Tensor, n_heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v from a projection fused *per head* (rows [q_0; k_0; v_0; q_1; ...], as GPT-NeoX
    and BLOOM view their output as (heads, 3, head_dim)); splitting in thirds would pair the
    wrong rows."""
    d = qkv.shape[1]
    q, k, v = qkv.view(n_heads, 3, -1, d).unbind(1)
    return q.reshape(-1, d), k.reshape(-1, d), v.reshape(-1, d)


def supported() -> list[str]:
    out: list[str] = []
    for m in _MODULES:
        out += [f for f in _load(m).FAMILIES if not f.startswith("gguf:")]
    return sorted(out)


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")


def for_config(cfg: dict, source: str) -> ModuleType:
    mt = cfg.get("model_type")
    for m in _MODULES:
        mod = _load(m)
        if mt in mod.FAMILIES:
            return mod
    archs = cfg.get("architectures") or []
    raise FingerprintError(
        f"{source}: unsupported architecture '{mt or (archs[0] if archs else 'unknown')}'; supported: {', '.join(supported())}")


def n_layers(adapter: ModuleType, cfg: dict) -> int:
    return first(text_config(cfg), *adapter.LAYER_COUNT)


def text_config(cfg: dict) -> dict:
    """Multimodal configs (Gemma 3) nest the language model's settings under text_config."""
    if isinstance(cfg.get("text_config"), dict):
        merged = dict(cfg)
        merged.update(cfg["text_config"])
        merged["model_type"] = cfg["model_type"]
        return merged
    return cfg


MAX_COUNT = 1 << 20  # heads, layers, widths: no real model comes near


def first(cfg: dict, *keys: str, default=None):
    """The first of `keys` the config sets: a count or a width, so a whole number from 1 to MAX_COUNT."""
    for k in keys:
        v = cfg.get(k)
        if v is not None:
            if type(v) is not int or not 1 <= v <= MAX_COUNT:
                raise FingerprintError(f"config: {k} is {str(v)[:40]!r}, not a whole number from 1 to {MAX_COUNT}")
            return v
    if default is not None:
        return default
    raise FingerprintError(f"config has none of {', '.join(keys)}")


def suffix_getter(names, read: Callable[[str], torch.Tensor], source: str):
    """`get(suffix)` / `has(suffix)` over tensor names, ignoring whatever prefix they carry."""
    names = list(names)

    def find(suffix: str) -> str | None:
        hits = [n for n in names if n == suffix or n.endswith("." + suffix)]
        if len(hits) > 1:  # e.g. a vision tower beside the language model: prefer the shortest
            hits.sort(key=len)
        return hits[0] if hits else None

    def get(suffix: str) -> torch.Tensor:
        n = find(suffix)
        if n is None:
            raise FingerprintError(f"{source}: no tensor named '*{suffix}' in the checkpoint")
        return read(n)

    get.has = lambda suffix: find(suffix) is not None  # type: ignore[attr-defined]
    get.find = find  # type: ignore[attr-defined]
    return get
