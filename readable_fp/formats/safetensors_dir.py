"""Hugging Face model directories: safetensors (single or sharded) or PyTorch .bin files.

Tensors are read one by one: safetensors through `safe_open(...).get_slice` (memory-mapped,
so only the rows asked for are touched), .bin through `torch.load(weights_only=True,
mmap=True)` which refuses pickled code and maps the storage instead of loading it.
A quantised checkpoint's weights are rebuilt from their codes and scales by `readable_fp.quant`
(names in the files are "raw"; the checkpoint offers the logical weight names). A stored
tensor that is not a float is never handed out as a weight.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Callable, Protocol, Sequence

import torch
from safetensors import SafetensorError, safe_open

from .. import quant
from ..checkpoint import Checkpoint
from ..errors import FingerprintError
from ..paths import model_file, read_json
from ..vocab import load_hf_vocab

_ST_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8,
             "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1}
_FLOATS = ("F64", "F32", "F16", "BF16")
# torch dtypes of .bin checkpoints, spelled as safetensors spells them
_ST_NAME = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
            torch.bool: "BOOL", torch.float8_e4m3fn: "F8_E4M3", torch.float8_e5m2: "F8_E5M2"}


def _runs(rows: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted unique row ids -> [start, stop) runs, so contiguous rows are one read."""
    runs: list[tuple[int, int]] = []
    for r in sorted(set(rows)):
        if runs and runs[-1][1] == r:
            runs[-1] = (runs[-1][0], r + 1)
        else:
            runs.append((r, r + 1))
    return runs


def read_config(directory: Path) -> dict:
    cfg = read_json(directory, "config.json", "config")
    if cfg is None:
        raise FingerprintError(f"{directory}: no config.json (a Hugging Face model directory needs one)")
    return cfg


class HFDirCheckpoint(Checkpoint):
    """A local directory with config.json and safetensors or pytorch_model*.bin weights.

    `open_file(filename) -> WeightFile` opens a weight file when a tensor of it is first needed
    (default: the local file); the Hub reader passes one that reads the file by byte ranges, so
    only the shards holding tensors actually read are touched, and only those tensors' bytes.
    Other layouts of the same files reuse the reader: `config` is a config built from another
    file (Mistral's params.json) instead of config.json, and `weight_files` the only weight
    files to read (`consolidated.safetensors`) instead of looking for Hugging Face's names.
    """

    def __init__(self, directory: str | os.PathLike, open_file: Callable[[str], "WeightFile"] | None = None,
                 source: str | None = None, config: dict | None = None,
                 weight_files: Sequence[str] | None = None) -> None:
        super().__init__()
        self.dir = Path(directory)
        self.source = source or str(directory)
        self.config = read_config(self.dir) if config is None else config
        self._weight_files = list(weight_files) if weight_files is not None else None
        self._open_file = open_file or (lambda fname: open_local(self._path(fname), fname))
        self._where: dict[str, str] = {}  # tensor name -> weight file name
        self._files: dict[str, WeightFile] = {}  # weight file name -> its opened reader
        self._meta: dict[str, tuple[tuple[int, ...], str]] = {}
        self._index_weights()
        self._stored = quant.plan(self.config, self.dir, list(self._where), self, self.source)
        self._parts = {p for st in self._stored.values() for p in st.parts}
        self.vocab = load_hf_vocab(self.dir)

    # -- which file holds which tensor ------------------------------------------------
    def _index_weights(self) -> None:
        d = self.dir
        if self._weight_files is not None:
            self.fmt = "safetensors" if all(f.endswith(".safetensors") for f in self._weight_files) else "pytorch-bin"
            for fname in self._weight_files:
                for n in self._open(fname):
                    self._where[n] = fname
            return
        for index_name, fmt in (("model.safetensors.index.json", "safetensors"),
                                ("pytorch_model.bin.index.json", "pytorch-bin")):
            index = read_json(d, index_name, "index")
            if index is not None:
                wm = index.get("weight_map")
                if not isinstance(wm, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in wm.items()):
                    raise FingerprintError(f"{d / index_name}: not a valid shard index (weight_map must map "
                                           "tensor names to file names)")
                for fname in set(wm.values()):
                    model_file(d, fname)  # every shard it names stays inside the folder
                self._where = dict(wm)
                self.fmt = fmt + " (sharded)"
                return
        single = [("model.safetensors", "safetensors"), ("pytorch_model.bin", "pytorch-bin")]
        for fname, fmt in single:
            if model_file(d, fname) is not None:
                self.fmt = fmt
                for n in self._open(fname):
                    self._where[n] = fname
                return
        others = sorted(p.name for p in d.glob("*.safetensors")) or sorted(p.name for p in d.glob("pytorch_model*.bin"))
        if not others:
            raise FingerprintError(
                f"{d}: config.json but no weights (expected model.safetensors, a sharded index, or pytorch_model*.bin)")
        self.fmt = "safetensors" if others[0].endswith(".safetensors") else "pytorch-bin"
        for fname in others:
            for n in self._open(fname):
                self._where[n] = fname

    def _path(self, fname: str) -> str:
        p = model_file(self.dir, fname)
        if p is None:
            raise FingerprintError(f"{self.source}: weight file '{fname}' named in the index is missing")
        return str(p)

    def _open(self, fname: str):
        """Open a weight file once and return its tensor names."""
        if fname not in self._files:
            f = self._files[fname] = self._open_file(fname)
            self._meta.update(f.meta)
        return self._files[fname].meta.keys()

    # -- Checkpoint API: logical tensors (quantised weights rebuilt) -----------------------
    def names(self):
        return [n for n in self._where if n not in self._parts] + list(self._stored)

    def shape(self, name):
        return self._stored[name].shape() if name in self._stored else self.raw_shape(name)

    def dtype_name(self, name):
        if name in self._stored:
            return self._stored[name].label
        return self._meta[name][1].lower() if name in self._meta else "?"

    def storage(self, name):
        st = self._stored.get(name)
        if st is None:
            return self.dtype_name(name).upper()
        parts = ", ".join(f"{p.rsplit('.', 1)[-1]} {self.raw_dtype(p)} {list(self.raw_shape(p))}" for p in st.parts)
        return f"{st.storage} ({parts})"

    def dtype_summary(self) -> str:
        seen = [self.dtype_name(k.split("[")[0]) for k in self.stats.tensors]
        return max(sorted(set(seen)), key=seen.count) if seen else "?"

    def _read(self, name, rows):
        if name in self._stored:
            return self._stored[name].read(rows)
        dt = self.raw_dtype(name)
        if dt not in _FLOATS:
            raise FingerprintError(f"{self.source}: tensor '{name}' is stored as {dt}, not as floats, and the config "
                                   "declares no quantisation that rebuilds it; refusing to read codes as weights")
        return self.raw(name, rows)

    # -- the tensors as stored in the files (readable_fp.quant.Raw) -------------------------
    def raw_has(self, name: str) -> bool:
        return name in self._where

    def _ensure(self, name: str) -> str:
        if name not in self._where:
            raise FingerprintError(f"{self.source}: tensor '{name}' is missing from the checkpoint")
        fname = self._where[name]
        self._open(fname)
        if name not in self._meta:
            raise FingerprintError(f"{self.source}: tensor '{name}' is listed in the index but not in {fname}")
        return fname

    def raw_shape(self, name: str) -> tuple[int, ...]:
        self._ensure(name)
        return self._meta[name][0]

    def raw_dtype(self, name: str) -> str:
        self._ensure(name)
        return self._meta[name][1]

    def raw(self, name, rows=None):
        fname = self._ensure(name)
        t = self._files[fname].read(name, rows)
        self.stats.bytes_read += t.numel() * _ST_BYTES.get(self._meta[name][1], 4)
        return t


class WeightFile(Protocol):
    """One weight file: its tensors' (shape, dtype as safetensors spells it), and reads."""

    meta: dict[str, tuple[tuple[int, ...], str]]

    def read(self, name: str, rows: Sequence[int] | None) -> torch.Tensor: ...  # stored dtype


def open_local(path: str, name: str) -> WeightFile:
    """By the file's name in the model folder: its real path may be a cache blob with no suffix."""
    return SafetensorsFile(path) if name.endswith(".safetensors") else TorchFile(path)


class SafetensorsFile:
    """Through `safe_open(...).get_slice`: memory-mapped, so only the rows asked for are touched."""

    def __init__(self, path: str) -> None:
        self.path, self.meta = path, {}
        try:
            with safe_open(path, framework="pt") as h:
                for n in h.keys():
                    sl = h.get_slice(n)
                    self.meta[n] = (tuple(sl.get_shape()), sl.get_dtype())
        except (SafetensorError, OSError, ValueError) as e:
            raise FingerprintError(f"{path}: unreadable safetensors file ({str(e).splitlines()[0]})") from None

    def read(self, name, rows):
        shape = self.meta[name][0]
        try:
            # Opened per tensor: the memory map (and the pages it touched) goes away with the
            # handle, so peak RSS is one tensor, not every tensor read so far.
            with safe_open(self.path, framework="pt") as h:
                return h.get_tensor(name) if not shape else _slice(h.get_slice(name), rows, shape)
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise FingerprintError(f"{self.path}: cannot read tensor '{name}' ({str(e).splitlines()[0]})") from None


def _slice(sl, rows, shape):
    if rows is None:
        return sl[:]
    parts = [sl[a:b] for a, b in _runs(rows)]
    t = torch.cat(parts) if parts else torch.empty((0,) + tuple(shape[1:]))
    order = {r: i for i, r in enumerate(sorted(set(rows)))}
    return t[torch.as_tensor([order[r] for r in rows], dtype=torch.long)]


class TorchFile:
    """A pytorch_model*.bin, mapped rather than loaded (`load_torch_weights`)."""

    def __init__(self, path: str) -> None:
        self.sd = load_torch_weights(path)
        self.meta = {n: (tuple(t.shape), _ST_NAME.get(t.dtype, str(t.dtype).replace("torch.", "")))
                     for n, t in self.sd.items()}

    def read(self, name, rows):
        t = self.sd[name]
        return t if rows is None else t[torch.as_tensor(list(rows), dtype=torch.long)]


def load_torch_weights(path: str) -> dict[str, torch.Tensor]:
    """A PyTorch checkpoint holding plain tensors only; anything else is refused, not run."""
    _check_archive(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as e:
        if "mmap" in str(e):  # legacy (non-zip) format cannot be memory-mapped
            obj = _load_unmapped(path)
        else:
            raise FingerprintError(f"{path}: unreadable PyTorch checkpoint ({str(e).splitlines()[0]})") from None
    except Exception as e:  # weights_only raises UnpicklingError for code; zip errors for truncation
        raise FingerprintError(f"{path}: unreadable PyTorch checkpoint ({_load_error(e)})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise FingerprintError(f"{path}: not a plain mapping of tensor names to tensors")
    return obj


def _check_archive(path: str) -> None:
    """torch.save writes its zip members stored, never compressed: a member that inflates (a small
    file whose data.pkl unpacks to gigabytes) is refused before torch reads it."""
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as z:
            grows = [i for i in z.infolist() if i.file_size > i.compress_size + (1 << 20)]
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise FingerprintError(f"{path}: unreadable PyTorch checkpoint ({e})") from None
    if grows:
        raise FingerprintError(f"{path}: archive member '{grows[0].filename}' inflates from {grows[0].compress_size} to "
                               f"{grows[0].file_size} bytes; torch.save does not write compressed members")


def _load_unmapped(path: str):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise FingerprintError(f"{path}: unreadable PyTorch checkpoint ({_load_error(e)})") from None


def _load_error(e: Exception) -> str:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    if "weights_only" in str(e) or "Unsupported global" in str(e):
        return "it holds pickled objects other than plain tensors; refusing to unpickle them"
    return msg
