"""A single .gguf file: hyper-parameters and tokenizer from its metadata, tensors dequantised
one at a time with the `gguf` package (the file is memory-mapped; for the embedding only the
probe rows are dequantised). GGUF stores matrices with the axis order reversed relative to
Hugging Face; the numpy view `gguf` hands out is already `out x in`.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from ..checkpoint import Checkpoint, Vocab
from ..errors import FingerprintError

# GGUF token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
_NORMAL = 1
_STYLE = {"gpt2": "byte_bpe", "llama": "sentencepiece", "bert": "sentencepiece", "t5": "sentencepiece"}


def _reader_error(e: Exception) -> str:
    """gguf's reader errors, in words a user can act on."""
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    unknown = re.search(r"(\d+)\)? is not a valid GGMLQuantizationType", msg)
    if unknown:
        return (f"a tensor has type id {unknown.group(1)}, which gguf {_gguf_version()} does not know; "
                "the file is corrupt or newer than the installed gguf package")
    if "cannot reshape" in msg or "out of bounds" in msg or "size must be a divisor" in msg:
        return f"truncated or corrupt: its header describes more data than the file holds ({msg})"
    return msg


def _gguf_version() -> str:
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:  # pragma: no cover
        return "(unknown version)"


class GGUFCheckpoint(Checkpoint):
    fmt = "gguf"

    def __init__(self, path: str) -> None:
        super().__init__()
        from gguf import GGUFReader

        self.source = str(path)
        try:
            self.reader = GGUFReader(path)
        except Exception as e:  # unknown tensor types and truncation surface as ValueError/KeyError
            raise FingerprintError(f"{path}: unreadable GGUF file ({_reader_error(e)})") from None
        self._tensors = {t.name: t for t in self.reader.tensors}
        arch = self._field("general.architecture")
        if arch is None:
            raise FingerprintError(f"{path}: GGUF metadata has no general.architecture")

        def hp(key, default=None):
            v = self._field(f"{arch}.{key}")
            return default if v is None else v

        heads = hp("attention.head_count")
        if isinstance(heads, list):  # per-layer head counts (some archs): the terms need one value
            heads = heads[-1]
        kv = hp("attention.head_count_kv", heads)
        if isinstance(kv, list):
            kv = kv[-1]
        self.config = {
            "model_type": f"gguf:{arch}", "gguf_arch": arch,
            "hidden_size": hp("embedding_length"), "num_hidden_layers": hp("block_count"),
            "num_attention_heads": heads, "num_key_value_heads": kv,
            "head_dim": hp("attention.key_length"), "intermediate_size": hp("feed_forward_length"),
        }
        tokens = self._field("tokenizer.ggml.tokens")
        if tokens:
            types = self._field("tokenizer.ggml.token_type") or [_NORMAL] * len(tokens)
            style = _STYLE.get(self._field("tokenizer.ggml.model"), "plain")
            self.vocab = Vocab(list(tokens), [t == _NORMAL for t in types], style)

    def _field(self, key):
        f = self.reader.fields.get(key)
        if f is None:
            return None
        try:
            return f.contents()
        except Exception:
            return None

    def names(self):
        return list(self._tensors)

    def shape(self, name):
        return tuple(int(s) for s in reversed(self._tensors[name].shape))

    def dtype_name(self, name):
        return self._tensors[name].tensor_type.name.lower()

    def dtype_summary(self):
        seen = [self.dtype_name(k.split("[")[0]) for k in self.stats.tensors]
        mats = [self.dtype_name(n) for n in self._tensors if len(self._tensors[n].shape) == 2]
        pool = mats or seen
        return max(set(pool), key=pool.count) if pool else "?"

    def _read(self, name, rows):
        from gguf import quants

        t = self._tensors[name]
        data = t.data
        shape = self.shape(name)
        if rows is not None:
            data = data[np.asarray(rows, dtype=np.int64)]
            shape = (len(rows),) + shape[1:]
        try:
            arr = quants.dequantize(np.ascontiguousarray(data), t.tensor_type)
        except NotImplementedError:
            raise FingerprintError(f"{self.source}: tensor '{name}' has type {t.tensor_type.name}, which the gguf package cannot dequantise") from None
        except (ValueError, IndexError) as e:
            raise FingerprintError(f"{self.source}: cannot read tensor '{name}' ({str(e).splitlines()[0]})") from None
        self.stats.bytes_read += data.nbytes
        return torch.from_numpy(np.array(arr, dtype=np.float32, copy=True).reshape(shape))
