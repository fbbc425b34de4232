"""The web UI under hostile use, through a running `readable-fp app` (Gradio's own client, no browser).

Uploads that once took the server past 6 GB (a tokenizer id of 1e9, a GGUF declaring an enormous
tensor), uploads that name files of the server (a shard index, a LoRA base), and typed paths or
Hub ids the operator did not allow: each gets one line in the page, the server stays under 1 GB
and keeps answering, and no upload is left in Gradio's cache.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import LLAMA_TINY, save_tiny, word
from readable_fp import app, bundled
from readable_fp.errors import FingerprintError
from test_app import server  # noqa: F401  (fixture: the app in a subprocess)
from test_formats import write_gguf


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def client(server):  # noqa: F811
    from gradio_client import Client

    return Client(server, verbose=False)


def _fingerprint(client, files=(), path=""):
    """The error line the page announces ("" when it worked)."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    try:
        client.predict([handle_file(str(f)) for f in files], path, "", api_name="/make_fingerprint")
    except AppError as e:
        return str(e)
    return ""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("hostile")
    good = root / "good"
    save_tiny("llama", good, **LLAMA_TINY)
    cases = {}
    d = root / "token_id"
    shutil.copytree(good, d)
    tj = json.loads((d / "tokenizer.json").read_text())
    tj["model"]["vocab"][word(9999)] = 10**9
    (d / "tokenizer.json").write_text(json.dumps(tj))
    cases["a tokenizer id of 1e9"] = (sorted(d.iterdir()), "ids from 0 to")
    gguf = write_gguf(good, root / "huge.gguf")
    data = bytearray(gguf.read_bytes())
    i = data.index(b"token_embd.weight") + len("token_embd.weight") + 4  # n_dims (uint32), then dims
    data[i + 8: i + 16] = (1 << 40).to_bytes(8, "little")
    (root / "huge" / "").mkdir()
    (root / "huge" / "model.gguf").write_bytes(bytes(data))
    cases["a GGUF declaring 2^40 rows"] = ([root / "huge" / "model.gguf"], "runs past the end")
    d = root / "index_out"
    shutil.copytree(good, d)
    (d / "model.safetensors").unlink()
    (d / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"model.embed_tokens.weight":
                                                                                "/etc/passwd"}}))
    cases["a shard index naming a server file"] = (sorted(d.iterdir()), "a path outside the model's folder")
    d = root / "lora"
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "base_model_name_or_path": str(good)}))
    (d / "adapter_model.safetensors").write_bytes((good / "model.safetensors").read_bytes())
    cases["a LoRA whose base is a server path"] = (sorted(d.iterdir()), "the adapter's base model: this app opens")
    return {"good": sorted(good.iterdir()), **cases}


@pytest.mark.parametrize("case", ["a tokenizer id of 1e9", "a GGUF declaring 2^40 rows",
                                  "a shard index naming a server file", "a LoRA whose base is a server path"])
def test_hostile_upload_is_one_line_and_the_server_survives(client, server, hostile, case):  # noqa: F811
    files, says = hostile[case]
    err = _fingerprint(client, files)
    assert says in err and "Traceback" not in err, err
    assert _peak_mb(server.pid) < 1024, f"server peak {_peak_mb(server.pid):.0f} MB"
    assert _fingerprint(client, hostile["good"]) == ""  # and it still serves everyone else
    uploaded = {f.name for f in files + hostile["good"]}  # the results (fingerprint.json, ...) are the page's own
    assert not [p for p in server.gradio.rglob("*") if p.is_file() and p.name in uploaded], \
        "uploads must not stay in Gradio's cache"


def test_typed_references_need_the_operator(client, server, tmp_path):  # noqa: F811
    inside = bundled.path("minilm")
    assert _fingerprint(client, path=str(inside)) == ""  # inside a folder the operator allowed
    refusals = {_fingerprint(client, path=p) for p in (str(tmp_path), "/etc/passwd", "/no/such/model", "../x")}
    assert len(refusals) == 1, refusals  # the same line whether the path exists or not
    assert "--allow-local-paths" in refusals.pop()
    assert "--allow-hub" in _fingerprint(client, path="org/name")


def test_policy_by_text_alone(tmp_path):
    p = app.Policy(local_dirs=(str(tmp_path),))
    assert p.check(str(tmp_path / "m")) == str((tmp_path / "m").resolve())
    with pytest.raises(FingerprintError, match="--allow-local-paths"):
        p.check(str(tmp_path / ".." / "elsewhere"))
    assert app.Policy(hub=True).check("org/name") == "hf://org/name"
    assert app.Policy(hub=True).check("org/name@v1") == "hf://org/name@v1"
    with pytest.raises(FingerprintError, match="--allow-hub"):
        app.Policy().check("org/name")
