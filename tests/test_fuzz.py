"""The mutation fuzzer (tests/fuzzing.py) for a fixed budget, and a regression test per finding.

CI reads 150 mutated inputs per reader (safetensors, GGUF, ONNX, PEFT, NVIDIA pickle), the same
ones on every run: none may end in an internal error, a hang, a signal or a peak above 1 GB.
The inputs are read by the fuzzer in a process of its own (`fuzzing.isolated`): it forks a child
per input, which is only safe from a process that has not run torch's thread pool, as this test
runner has. Longer runs: `python -m tests.fuzzing --inputs 5000 --seed N`.
"""
from __future__ import annotations

import json
import shutil

import pytest

import fuzzing

INPUTS_PER_READER = 150


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds")
    return root, fuzzing.build_seeds(root)


def _check(*cases) -> list[dict]:
    return fuzzing.isolated(*[a for reader, path in cases for a in ("--check", f"{reader}={path}")])


def test_seeds_are_read(seeds):
    outcomes = _check(*seeds[1].items())
    assert [o["kind"] for o in outcomes] == ["ok"] * len(seeds[1]), outcomes


def test_fuzz_budget(seeds, tmp_path):
    rep = fuzzing.isolated("--seeds", str(seeds[0]), "--inputs", str(INPUTS_PER_READER), "--seed", "2026",
                           "--findings", str(tmp_path / "findings"))
    for reader, counts in rep["counts"].items():
        print(f"[fuzz] {reader}: {sum(counts.values())} inputs, " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    assert sum(sum(c.values()) for c in rep["counts"].values()) == INPUTS_PER_READER * len(seeds[1])
    assert not rep["findings"], [(f["name"], f["kind"], f["detail"].strip().splitlines()[-1:]) for f in rep["findings"]]


# Findings of earlier campaigns, kept as they were found.
@pytest.mark.parametrize("change", [{"r": 0}, {"r": []}, {"lora_alpha": {}}, {"lora_alpha": None, "r": 2.0}],
                         ids=["r 0 (ZeroDivisionError)", "r a list", "lora_alpha an object", "r a float"])
def test_adapter_config_numbers(seeds, tmp_path, change):
    d = shutil.copytree(seeds[1]["peft"], tmp_path / "lora")
    cfg = json.loads((d / "adapter_config.json").read_text())
    (d / "adapter_config.json").write_text(json.dumps({**cfg, **change}))
    [o] = _check(("peft", d))
    assert o["kind"] == "refused" and "r must be a positive whole number" in o["detail"], o


def test_onnx_names_that_are_not_utf8(seeds, tmp_path):
    """protobuf hands out such names as bytes, which the graph walk then tripped over (seed 7, input 412)."""
    d = shutil.copytree(seeds[1]["onnx"], tmp_path / "onnx")
    data = (d / "model.onnx").read_bytes()
    assert b"emb_w" in data
    (d / "model.onnx").write_bytes(data.replace(b"emb_w", b"\xffmb_w"))  # same length: the protobuf stays valid
    [o] = _check(("onnx", d))
    assert o["kind"] == "refused" and "not UTF-8" in o["detail"], o
