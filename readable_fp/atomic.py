"""Outputs appear whole or not at all: written beside their final name, then renamed."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .errors import FingerprintError

# What the readers read in a model folder: an output may go into the folder (a model card and its
# fingerprint.png do), but never over one of these.
_MODEL_NAMES = {"config.json", "params.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "added_tokens.json", "vocab.json", "vocab.txt", "merges.txt",
                "tokenizer.model", "adapter_config.json", "quantize_config.json", "quant_config.json"}
_MODEL_SUFFIXES = (".safetensors", ".bin", ".gguf", ".onnx", ".onnx_data", ".data", ".pt", ".pth", ".pkl", ".index.json")


def check_output(path: str | os.PathLike, inputs: Iterable = ()) -> Path:
    """Refuse an output path that cannot be written, or that would replace an input, before any
    work is done for it. `inputs`: the model references and files the command reads."""
    path = Path(path)
    if path.is_dir():
        raise FingerprintError(f"{path}: is a directory; give a file name")
    if path.exists() and not path.is_file():
        raise FingerprintError(f"{path}: exists and is not a regular file (a device, FIFO or socket); refusing to replace it")
    if not path.absolute().parent.is_dir():
        raise FingerprintError(f"{path.absolute().parent}: output directory does not exist")
    not_an_input(path, inputs)
    return path


def not_an_input(path: Path, inputs: Iterable) -> None:
    """Refuse an output that is an input file, or a file the readers read in an input model folder."""
    for ref in inputs:
        if isinstance(ref, (str, os.PathLike)) and _replaces(Path(path), Path(ref).expanduser()):
            raise FingerprintError(f"{path}: is an input of this command, or a model file in its folder ({ref}); "
                                   "write elsewhere")


def _replaces(out: Path, ref: Path) -> bool:
    if not ref.exists():
        return False  # a Hub id, or nothing
    if ref.is_file():
        return out.exists() and os.path.samefile(out, ref) or out.resolve() == ref.resolve()
    inside = out.resolve().parent == ref.resolve()
    return inside and (out.name in _MODEL_NAMES or out.name.endswith(_MODEL_SUFFIXES))


@contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path`; it replaces `path` if the block succeeds, else is removed."""
    path = check_output(path)
    tmp = path.with_name(path.name + ".partial")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(data)
