"""A single .gguf file: hyper-parameters and tokenizer from its metadata, tensors dequantised
one at a time with `gguf.quants` from a memory map (for the embedding only the probe rows).

The header is parsed here rather than with `gguf.GGUFReader`, which builds a numpy view per
array element: on Gemma 3's 262,144-token vocabulary that took 5-26 s per open, against
well under a second for this plain sequential parse. GGUF stores matrices with the axis
order reversed relative to Hugging Face; a tensor's rows here are Hugging Face's rows.
"""
from __future__ import annotations

import math
import os
import struct

import numpy as np
import torch

from ..checkpoint import Checkpoint, Vocab
from ..errors import FingerprintError
from .byte_ranges import ByteSource, LocalFile, read

# GGUF token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
_NORMAL = 1
_STYLE = {"gpt2": "byte_bpe", "llama": "sentencepiece", "bert": "sentencepiece", "t5": "sentencepiece"}
# GGUF metadata value types -> struct format (8 string, 9 array are handled apart)
_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_HEADER_STEP = 64 << 10
_NP = {0: np.uint8, 1: np.int8, 2: np.uint16, 3: np.int16, 4: np.uint32, 5: np.int32, 6: np.float32,
       7: np.bool_, 10: np.uint64, 11: np.int64, 12: np.float64}


class _Header:
    """Sequential reader over the file's first bytes, fetched as the parse goes (a remote file's
    header is read past its end by at most a sixteenth or `_HEADER_STEP`); an overrun means the
    file is truncated."""

    def __init__(self, src: ByteSource) -> None:
        self.src, self.buf, self.pos = src, bytearray(), 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            if end > self.src.size:
                raise EOFError
            grow = max(_HEADER_STEP, len(self.buf) // 16)
            self.buf += read(self.src, len(self.buf), min(self.src.size, max(end, len(self.buf) + grow)))
        out = bytes(self.buf[self.pos:end])
        self.pos = end
        return out

    def unpack(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        return struct.unpack("<" + fmt, self.take(size))[0]

    def string(self) -> str:
        return bytes(self.take(self.unpack("Q"))).decode("utf-8", errors="replace")

    def value(self, vtype: int):
        if vtype == 8:
            return self.string()
        if vtype == 9:
            etype, count = self.unpack("I"), self.unpack("Q")
            if etype == 8:
                return [self.string() for _ in range(count)]
            if etype in _NP:
                dt = np.dtype(_NP[etype])
                return np.frombuffer(self.take(count * dt.itemsize), dtype=dt).tolist()
            return [self.value(etype) for _ in range(count)]
        if vtype in _SCALAR:
            return self.unpack(_SCALAR[vtype])
        raise ValueError(f"unknown metadata value type {vtype}")


def parse_header(src: ByteSource) -> tuple[dict, dict[str, tuple[tuple[int, ...], int, int]]]:
    """-> (metadata, {tensor name: (Hugging Face shape, ggml type id, absolute data offset)})."""
    h = _Header(src)
    if bytes(h.take(4)) != b"GGUF":
        raise ValueError("no GGUF magic number")
    version = h.unpack("I")
    if version not in (2, 3):
        raise ValueError(f"GGUF version {version} is not supported")
    n_tensors, n_kv = h.unpack("Q"), h.unpack("Q")
    meta = {}
    for _ in range(n_kv):
        key = h.string()
        meta[key] = h.value(h.unpack("I"))
    infos = []
    for _ in range(n_tensors):
        name = h.string()
        dims = [h.unpack("Q") for _ in range(h.unpack("I"))]
        infos.append((name, tuple(reversed(dims)), h.unpack("I"), h.unpack("Q")))
    align = int(meta.get("general.alignment", 32))
    start = -(-h.pos // align) * align
    return meta, {name: (shape, qtype, start + off) for name, shape, qtype, off in infos}


class GGUFCheckpoint(Checkpoint):
    fmt = "gguf"

    def __init__(self, path: str | ByteSource, source: str | None = None) -> None:
        """`path`: a .gguf file, or a `ByteSource` (a Hub file read by range)."""
        super().__init__()
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

        self._src = LocalFile(path) if isinstance(path, (str, os.PathLike)) else path
        self.source = source or self._src.name
        path = self._src.name
        try:
            meta, tensors = parse_header(self._src)
        except (EOFError, ValueError, UnicodeDecodeError, struct.error) as e:
            why = "truncated: the file ends inside its header" if isinstance(e, EOFError) else str(e)
            raise FingerprintError(f"{path}: unreadable GGUF file ({why})") from None
        size = self._src.size
        self._tensors: dict[str, tuple[tuple[int, ...], object, int, int]] = {}
        for name, (shape, qtype, offset) in tensors.items():
            try:
                qt = GGMLQuantizationType(qtype)
                block, type_size = GGML_QUANT_SIZES[qt]
            except (ValueError, KeyError):
                raise FingerprintError(
                    f"{path}: unreadable GGUF file (tensor '{name}' has type id {qtype}, which the installed gguf "
                    "package does not know; the file is corrupt or newer than the package)") from None
            if not shape or min(shape) < 1 or shape[-1] % block:
                raise FingerprintError(f"{path}: unreadable GGUF file (tensor '{name}' has shape {shape}, which its "
                                       f"type {qt.name} cannot hold)")
            row_bytes = shape[-1] // block * type_size
            nbytes = math.prod(shape[:-1]) * row_bytes  # Python ints: a hostile shape must not wrap around
            if offset + nbytes > size:
                raise FingerprintError(f"{path}: unreadable GGUF file (truncated: tensor '{name}' runs past the end)")
            self._tensors[name] = (shape, qt, offset, row_bytes)
        arch = meta.get("general.architecture")
        if arch is None:
            raise FingerprintError(f"{path}: GGUF metadata has no general.architecture")

        def hp(key, default=None):
            v = meta.get(f"{arch}.{key}")
            if isinstance(v, list):  # per-layer values (some archs): the terms need one
                v = v[-1]
            return default if v is None else v

        heads = hp("attention.head_count")
        # every `{arch}.*` key as stored (per-layer lists kept): MoE and MLA layers need more than the
        # summary below (expert counts, lora ranks, rope dims), and per-layer head counts
        own = {k[len(arch) + 1:]: v for k, v in meta.items() if k.startswith(arch + ".")}
        self.config = {
            "model_type": f"gguf:{arch}", "gguf_arch": arch,
            "hidden_size": hp("embedding_length"), "num_hidden_layers": hp("block_count"),
            "num_attention_heads": heads, "num_key_value_heads": hp("attention.head_count_kv", heads),
            # deepseek2 (MLA) stores its MQA-over-the-latent width as key_length, the heads' as key_length_mla
            "head_dim": hp("attention.key_length_mla") or hp("attention.key_length"),
            "intermediate_size": hp("feed_forward_length"),
            "gguf_hp": own,
        }
        tokens = meta.get("tokenizer.ggml.tokens")
        if tokens:
            types = meta.get("tokenizer.ggml.token_type") or [_NORMAL] * len(tokens)
            style = _STYLE.get(meta.get("tokenizer.ggml.model"), "plain")
            self.vocab = Vocab(list(tokens), [t == _NORMAL for t in types], style)

    def names(self):
        return list(self._tensors)

    def shape(self, name):
        return self._tensors[name][0]

    def dtype_name(self, name):
        return self._tensors[name][1].name.lower()

    def dtype_summary(self):
        mats = [self.dtype_name(n) for n, t in self._tensors.items() if len(t[0]) == 2]
        return max(sorted(set(mats)), key=mats.count) if mats else "?"

    def _read(self, name, rows):
        from gguf import quants

        shape, qt, offset, row_bytes = self._tensors[name]
        # one "row" per index of the first axis (a 3-D expert stack: one expert per row), so `rows`
        # select along the first axis whatever the rank; dequantising a row of several matrix rows
        # is exact, each matrix row being whole blocks
        lead, per = (shape[0], int(np.prod(shape[1:-1], dtype=np.int64))) if len(shape) > 1 else (1, 1)
        size = per * row_bytes
        wanted = range(lead) if rows is None else [int(r) for r in rows]
        if rows is None:
            raw = read(self._src, offset, offset + lead * size)
        else:
            shape = (len(rows),) + shape[1:]
            raw = b"".join(self._src.read_many([(offset + r * size, offset + (r + 1) * size) for r in wanted]))
        data = np.frombuffer(raw, dtype=np.uint8).reshape(len(wanted), size)
        try:
            arr = quants.dequantize(data, qt)
        except NotImplementedError:
            raise FingerprintError(f"{self.source}: tensor '{name}' has type {qt.name}, which the gguf package cannot dequantise") from None
        self.stats.bytes_read += data.nbytes
        return torch.from_numpy(np.array(arr, dtype=np.float32).reshape(shape))
