"""Which files of an upload make the model, and which are not needed.

People upload a model the way they downloaded it: every file of its folder (`hf download`, a git
clone), with .gitattributes, README.md, sentence-transformers' module configs, other exports
(onnx/, openvino/, pytorch_model.bin) and whatever else the repo holds. The web UI sees each
upload by its base name only (browsers send no folder paths), so `1_Pooling/config.json` arrives
as a second `config.json`. `plan` picks the one model in the upload, the files it is read from,
and names everything else once as not needed. It refuses only what it cannot decide: no model,
two models of one kind (which one?), two different files that would share a name.

Pickled weights (.bin, .pt) are never read here: a pickle can run code when loaded.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .errors import FingerprintError, printable
from .hashing import file_sha256

TOKENIZER = frozenset({"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json",
                       "merges.txt", "tokenizer.model", "added_tokens.json"})
HF_SIDE = frozenset({"config.json", "generation_config.json", "model.safetensors.index.json",
                     "quantize_config.json", "quant_config.json"})  # GPTQ's and AutoAWQ's: how weights are packed
PICKLES = (".bin", ".pt", ".pth", ".ckpt")


@dataclass
class Plan:
    kind: str  # "gguf", "onnx", "safetensors" or "lora"
    files: dict[str, str]  # name in the model's folder -> uploaded path
    ignored: list[str] = field(default_factory=list)  # names, each once, in upload order
    model_file: str | None = None  # the name to open for single-file formats; else the folder

    def summary(self) -> str:
        """One line: what will be read, and what is not needed."""
        kinds = {"gguf": "a GGUF file", "onnx": "an ONNX model", "safetensors": "a Hugging Face model (safetensors)",
                 "lora": "a LoRA adapter"}
        line = f"Found {kinds[self.kind]}: reading {_names(sorted(self.files))}."
        if self.ignored:
            line += f" Not needed ({len(self.ignored)}): {_names(self.ignored)}."
        return line


def _names(names: list[str], most: int = 12) -> str:
    shown = ", ".join(printable(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def plan(paths: list[str], limit: int | None = None) -> Plan:
    """The plan for uploaded files (paths on the server; only base names count)."""
    by_name: dict[str, list[str]] = {}
    for p in paths:
        by_name.setdefault(os.path.basename(str(p)), []).append(str(p))
    names = list(by_name)
    safetensors = [n for n in names if n.endswith(".safetensors") and _usable(n)]
    ggufs = [n for n in names if n.endswith(".gguf") and _usable(n)]
    onnxs = [n for n in names if n.endswith(".onnx") and _usable(n)]
    if "adapter_config.json" in names:
        kind, keep, single = "lora", {"adapter_config.json", *safetensors, *TOKENIZER}, None
    elif safetensors or "model.safetensors.index.json" in names:  # an index without its shards: the reader says which
        if "config.json" not in names:
            raise FingerprintError(f"{_names(safetensors or ['model.safetensors.index.json'])} came without the "
                                   "model's config.json: upload it too")
        kind, keep, single = "safetensors", {*safetensors, *HF_SIDE, *TOKENIZER}, None
    elif ggufs or onnxs:
        found = ggufs or onnxs
        if len(found) > 1:
            raise FingerprintError(f"{len(found)} model files ({_names(found)}): upload the one to fingerprint")
        # an ONNX export keeps config.json beside model.onnx (Optimum's layout); GGUF carries its own
        kind, single = ("gguf", found[0]) if ggufs else ("onnx", found[0])
        keep = {single, *TOKENIZER} | ({"config.json"} if kind == "onnx" else set())
    else:
        pickles = [n for n in names if n.endswith(PICKLES)]
        if pickles:
            raise FingerprintError(f"{_names(pickles)}: pickled weights are not opened here (loading a pickle can "
                                   "run code); upload the model's .safetensors, .gguf or .onnx files")
        raise FingerprintError("no model in the upload: give a .gguf or .onnx file, or a Hugging Face model's folder "
                               "(config.json with its .safetensors files)"
                               + (f"; not needed: {_names(names)}" if names else ""))
    files = {n: _one(n, by_name[n]) for n in names if n in keep}
    p = Plan(kind, files, [n for n in names if n not in keep], single)
    if limit is not None:
        total = sum(os.path.getsize(f) for f in files.values())
        if total > limit:
            raise FingerprintError(f"the model's files take {total / 1e9:.2f} GB; this app accepts at most "
                                   f"{limit / 1e9:.2f} GB")
    return p


def _usable(name: str) -> bool:
    """Hidden files (.gitattributes, a `hf download` cache's entries) and names with control
    characters are never part of a model."""
    return not name.startswith(".") and name.isprintable() and "\\" not in name


def _one(name: str, paths: list[str]) -> str:
    """The one upload behind a name. Copies of one file are one file; `config.json` twice is
    usually the model's and a sentence-transformers module's (1_Pooling/config.json), which
    names no model type."""
    if len(paths) == 1:
        return paths[0]
    distinct = {file_sha256(p): p for p in paths}
    if len(distinct) == 1:
        return paths[0]
    if name == "config.json":
        models = [p for p in distinct.values() if _is_model_config(p)]
        if len(models) == 1:
            return models[0]
    raise FingerprintError(f"{len(distinct)} different files named {printable(name)} (from different folders?): "
                           "upload one model's folder")


def _is_model_config(path: str) -> bool:
    if os.path.getsize(path) > 4 << 20:
        return False
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(cfg, dict) and ("model_type" in cfg or "architectures" in cfg)
