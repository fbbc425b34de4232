"""Fingerprinting straight from the Hub: a real HTTP server on 127.0.0.1 (`tests/hub_server.py`)
serves real model files in the Hub's URL layout, and huggingface_hub talks to it through
HF_ENDPOINT exactly as it talks to huggingface.co.

For the SmolLM2 GGUF, all-MiniLM (safetensors) and a sharded tiny Llama: the invariants equal a
local read's byte for byte; the server sends no more than the tensor bytes the terms read plus the
files' headers and the small files, plus 5%; a second run sends no file bytes (and offline, no
request at all); gated, missing, unreachable and pickle-only repos fail in one line.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import constants

from hub_server import LFS_THRESHOLD, HubServer
from helpers import LLAMA_TINY, save_tiny
from test_layouts import write_native

TOKEN = "hf_test_token"
SHARDED = "org/tiny-llama-sharded"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
GGUF_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _tiny_llama(directory: Path, pickled: bool = False, **save) -> Path:
    model = save_tiny("llama", directory, vocab_size=1024, tokenizer=True,
                      **{**LLAMA_TINY, "hidden_size": 128, "intermediate_size": 256, "head_dim": 16})
    if save:  # again, sharded (transformers writes the index itself)
        (directory / "model.safetensors").unlink()
        model.save_pretrained(directory, **save)
    if pickled:  # transformers 5 writes safetensors only; older releases wrote this file
        import torch
        from safetensors.torch import load_file
        torch.save(load_file(str(directory / "model.safetensors")), directory / "pytorch_model.bin")
        (directory / "model.safetensors").unlink()
    return directory


@pytest.fixture(scope="module")
def repos(tmp_path_factory, smollm2_gguf, minilm_dir) -> Path:
    root = tmp_path_factory.mktemp("hub") / "repos"
    gguf = root / GGUF_REPO
    gguf.mkdir(parents=True)
    (gguf / GGUF_NAME).symlink_to(smollm2_gguf)
    multi = root / "org" / "many-ggufs"
    multi.mkdir(parents=True)
    for q in ("Q4_1", "Q8_0"):
        (multi / f"model-{q}.gguf").symlink_to(smollm2_gguf)
    (root / "sentence-transformers").mkdir()
    (root / MINILM).symlink_to(minilm_dir, target_is_directory=True)
    _tiny_llama(root / SHARDED, max_shard_size="300KB")
    assert len(list((root / SHARDED).glob("model-*.safetensors"))) >= 3
    shutil.copytree(root / SHARDED, root / "org" / "gated-llama")
    _tiny_llama(root / "org" / "bin-only", pickled=True)
    assert not list((root / "org" / "bin-only").glob("*.safetensors"))
    save_tiny("mistral", root.parent / "mistral-hf", **LLAMA_TINY)
    write_native(root.parent / "mistral-hf", root / "mistralai" / "tiny-native")
    _lora(root / SHARDED, root / "org" / "tiny-lora")
    (root / "org" / "no-weights").mkdir()
    (root / "org" / "no-weights" / "README.md").write_text("# a model card, and nothing else\n")
    return root


def _lora(base: Path, out: Path) -> None:
    """A PEFT adapter whose config names its base by Hub id, as adapters on the Hub do."""
    import torch
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    pm = peft.get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                             peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "down_proj"]))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, prm in pm.named_parameters():
            if "lora_" in name:
                prm.copy_(torch.randn(prm.shape, generator=g) * 0.05)
    pm.peft_config["default"].base_model_name_or_path = str(base)  # peft looks the base up while saving
    pm.save_pretrained(out)
    cfg = json.loads((out / "adapter_config.json").read_text())
    (out / "adapter_config.json").write_text(json.dumps({**cfg, "base_model_name_or_path": SHARDED}))


@pytest.fixture(scope="module")
def server(repos):
    with HubServer(repos, gated={"org/gated-llama": TOKEN}) as s:
        yield s


@pytest.fixture
def hub(server, tmp_path, monkeypatch):
    """In this process: huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE at import, so its
    constants are pointed at the server (both URL constants: hf_hub_url swaps the template's prefix)."""
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("READABLE_FP_CACHE", str(tmp_path / "rfp-cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    server.reset()
    return server


@pytest.fixture
def env(server, tmp_path) -> dict:
    """For a child process: the real environment variables, the server as endpoint, fresh caches."""
    server.reset()
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    return {**env, "HF_ENDPOINT": server.url, "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
            "READABLE_FP_CACHE": str(tmp_path / "rfp-cache"), "HF_HOME": str(tmp_path / "hf-home")}


def cli(env: dict, *args: str, progress: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "readable_fp.cli", *args, *([] if progress else ["--no-progress"])],
                          capture_output=True, text=True, timeout=300, env=env)


def _one_line_error(p: subprocess.CompletedProcess) -> str:
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("readable-fp: error: "), p.stderr
    assert not p.stdout
    return lines[0]


def _file_of(path: str) -> str | None:
    """The file a request read: /ORG/NAME/resolve/REV/FILE, or the CDN's /cdn/ORG/NAME/SHA/FILE?signature."""
    parts = path.split("?")[0].split("/")
    if parts[1] == "cdn":
        return "/".join(parts[5:])
    return "/".join(parts[5:]) if len(parts) > 5 and parts[3] == "resolve" else None


def _header_bytes(path: Path) -> int:
    """Bytes before the first tensor's data: safetensors' length field + JSON, GGUF's header."""
    if path.suffix == ".gguf":
        from gguf import GGUFReader
        return int(GGUFReader(str(path)).data_offset)
    with open(path, "rb") as f:
        return 8 + int.from_bytes(f.read(8), "little")


def _local_copy(repos: Path, repo: str, tmp_path: Path) -> Path:
    """The repo's files in a local folder of the same name (the source name is saved in the file)."""
    if repo == GGUF_REPO:
        return repos / repo / GGUF_NAME
    local = tmp_path / "local" / repo.split("/")[1]
    local.parent.mkdir(parents=True)
    local.symlink_to((repos / repo).resolve(), target_is_directory=True)
    return local


@pytest.mark.parametrize("repo", [GGUF_REPO, MINILM, SHARDED])
def test_hub_read_equals_local_read_and_sends_only_what_it_reads(repo, repos, server, env, tmp_path):
    local = _local_copy(repos, repo, tmp_path)
    assert cli(env, "invariants", str(local), "-o", str(tmp_path / "local.inv")).returncode == 0
    server.reset()
    p = cli(env, "invariants", repo, "-o", str(tmp_path / "hub.inv"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "hub.inv").read_bytes() == (tmp_path / "local.inv").read_bytes()

    from safetensors import safe_open
    with safe_open(str(tmp_path / "local.inv"), "pt") as f:  # the tensor bytes the local read read
        needed = json.loads(f.metadata()["info"])["bytes_read"]
    ours = [r for r in server.requests if repo in r.path]
    assert len(ours) == len(server.requests) - sum(r.path == "/api/agent-harnesses" for r in server.requests)
    weights = {_file_of(r.path) for r in ours if r.range_header}
    whole = {_file_of(r.path): r.body_bytes for r in ours if r.method == "GET" and r.status == 200 and _file_of(r.path)}
    headers = sum(_header_bytes(repos / repo / f) for f in weights)
    print(f"\n[hub] {repo}: sent {server.file_bytes_sent} file bytes in {len(server.requests)} requests; tensors read "
          f"{needed}, headers {headers}, small files {sum(whole.values())} ({', '.join(sorted(whole))})")
    assert weights and not weights & set(whole), "weights are read by range, never whole"
    assert all(r.status in (200, 206, 302) for r in ours)
    # the Hub itself is asked little (it rate-limits): once per LFS file, for its redirect; the rows go to its CDN
    lfs = {f for f in weights if (repos / repo / f).stat().st_size > LFS_THRESHOLD}
    assert sorted(_file_of(r.path) for r in ours if "/resolve/" in r.path and _file_of(r.path) in lfs) == sorted(lfs)
    assert server.file_bytes_sent <= 1.05 * needed + headers + sum(whole.values())

    server.reset()  # a second run: everything from the cache, only the revision is asked again
    p = cli(env, "invariants", repo, "-o", str(tmp_path / "again.inv"))
    assert p.returncode == 0, p.stderr
    assert server.file_bytes_sent == 0 and [r.path for r in server.requests if repo in r.path] == [
        f"/api/models/{repo}/revision/main?blobs=true"]
    server.reset()  # offline: not even that
    p = cli({**env, "HF_HUB_OFFLINE": "1"}, "invariants", repo, "-o", str(tmp_path / "offline.inv"))
    assert p.returncode == 0, p.stderr
    assert [r for r in server.requests if repo in r.path] == []
    assert (tmp_path / "again.inv").read_bytes() == (tmp_path / "offline.inv").read_bytes() == (tmp_path / "hub.inv").read_bytes()


def test_fingerprint_record_names_repo_commit_and_bytes(hub, tmp_path):
    from readable_fp.fingerprint import fingerprint

    fp = fingerprint(f"hf://{SHARDED}", progress=False)
    rec = fp.record["model"]["hub"]
    assert rec["repo"] == SHARDED and rec["revision"] == "main" and rec["commit"] == hub.commit(SHARDED)
    assert rec["bytes_downloaded"] == hub.file_bytes_sent > 0
    assert rec["requests"] >= sum(1 for r in hub.requests if r.range_header) > 0
    hub.reset()
    again = fingerprint(f"{SHARDED}@{hub.commit(SHARDED)}", progress=False)  # a commit pinned: the cache answers
    assert again.record["model"]["hub"]["bytes_downloaded"] == 0 and again.png == fp.png
    assert [r for r in hub.requests if SHARDED in r.path] == []  # not even the revision: a commit never changes


def test_gated_repo_needs_a_token(env, tmp_path):
    line = _one_line_error(cli(env, "fingerprint", "org/gated-llama", "-o", str(tmp_path / "fp")))
    assert "gated" in line and "HF_TOKEN" in line
    assert not (tmp_path / "fp").exists()
    p = cli({**env, "HF_TOKEN": TOKEN}, "fingerprint", "org/gated-llama", "-o", str(tmp_path / "fp"), progress=True)
    assert p.returncode == 0, p.stderr
    assert json.loads((tmp_path / "fp" / "fingerprint.json").read_text())["model"]["hub"]["repo"] == "org/gated-llama"
    assert "download model-0000" in p.stderr and "B/s" in p.stderr  # the bar counts bytes (kB, MB, GB as they grow)
    p = cli({**env, "HF_TOKEN": TOKEN}, "compare", SHARDED, "org/gated-llama", "--json")  # the same weights
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["ics"] == pytest.approx(100.0, abs=1e-6)
    p = cli(env, "card", f"hf://{SHARDED}", "--image", str(tmp_path / "card.png"))
    assert p.returncode == 0 and f"readable-fp compare hf://{SHARDED}" in p.stdout, p.stderr


@pytest.mark.parametrize("ref, says", [("org/no-such-model", "no such file or directory, and no such model repo"),
                                       ("hf://org/no-such-model", "^org/no-such-model: no such model repo"),
                                       (f"{SHARDED}@v9", "no revision 'v9'"),
                                       ("org/many-ggufs", "holds 2 .gguf files"),
                                       ("org/no-weights", "no readable weights"),
                                       ("hf://datasets/org/data", "a dataset repo")])
def test_bad_references_fail_in_one_line(hub, ref, says):
    from readable_fp import api
    from readable_fp.errors import FingerprintError

    with pytest.raises(FingerprintError, match=says):
        api.open_model(ref, progress=False)


def test_a_file_of_a_repo_of_many_ggufs_can_be_named(hub):
    from readable_fp import api

    ck = api.open_model("hf://org/many-ggufs/model-Q8_0.gguf", progress=False)
    assert ck.fmt == "gguf" and ck.hub.commit == hub.commit("org/many-ggufs")
    assert sum(r.body_bytes for r in hub.requests if r.range_header) < 3e6  # the header, not the 100 MB file


def test_pickled_weights_need_allow_full_download(repos, server, env, tmp_path):
    line = _one_line_error(cli(env, "invariants", "org/bin-only", "-o", str(tmp_path / "x.inv")))
    assert "pickled .bin" in line and "--allow-full-download" in line
    assert not [r for r in server.requests if "pytorch_model.bin" in r.path]  # config and tokenizer only
    p = cli(env, "invariants", "org/bin-only", "-o", str(tmp_path / "hub.inv"), "--allow-full-download")
    assert p.returncode == 0, p.stderr
    local = _local_copy(repos, "org/bin-only", tmp_path)
    assert cli(env, "invariants", str(local), "-o", str(tmp_path / "local.inv")).returncode == 0
    assert (tmp_path / "hub.inv").read_bytes() == (tmp_path / "local.inv").read_bytes()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("endpoint", [f"http://127.0.0.1:{_closed_port()}", "http://hub.invalid"])
def test_unreachable_hub_fails_fast_in_one_line(hub, monkeypatch, endpoint):
    from readable_fp import api
    from readable_fp.errors import FingerprintError

    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    t0 = time.perf_counter()
    with pytest.raises(FingerprintError) as e:
        api.open_model(SHARDED, progress=False)
    assert time.perf_counter() - t0 < 2.0
    assert str(e.value).startswith(f"cannot reach the Hub at {endpoint}") and "\n" not in str(e.value)


def test_offline_and_never_read_is_one_line(server, env):
    line = _one_line_error(cli({**env, "HF_HUB_OFFLINE": "1"}, "compare", SHARDED, MINILM))
    assert "offline" in line and "not in the cache" in line
    assert server.requests == []


def test_web_ui_reads_hub_models_as_hub_models(hub, repos, tmp_path, monkeypatch):
    """An allowed Hub id in the web UI is read from the Hub, even with a folder of that name
    in the server's working directory, and the record beside the dog names the commit."""
    from readable_fp import app

    decoy = tmp_path / "cwd" / SHARDED
    shutil.copytree(repos / MINILM, decoy, symlinks=False)
    monkeypatch.chdir(tmp_path / "cwd")
    out = app.make_fingerprint(None, SHARDED, "", None, [], policy=app.Policy(hub=True), progress=lambda *a, **k: None)
    record = out[6]
    assert record["model"]["hub"]["commit"] == hub.commit(SHARDED)
    assert record["model"]["architecture"] != "bert"


def _same_terms(a, b) -> None:
    import torch
    assert a.probes == b.probes and a.layers == b.layers and set(a.terms) == set(b.terms)
    assert all(torch.equal(a.terms[k], b.terms[k]) for k in a.terms)


def test_mistral_native_repo_is_read_by_range(hub, repos):
    from readable_fp import api

    got = api.invariants("mistralai/tiny-native", progress=False)
    assert got.info["architecture"] == "mistral_native" and got.info["hub"]["commit"] == hub.commit("mistralai/tiny-native")
    assert any(r.range_header and "consolidated.safetensors" in r.path for r in hub.requests)
    _same_terms(api.invariants(repos / "mistralai" / "tiny-native", progress=False), got)


def test_lora_repo_with_its_base_on_the_hub(hub, repos):
    """The adapter is downloaded (it is small); its base, named by Hub id, is read by range."""
    from readable_fp import api

    got = api.invariants("org/tiny-lora", progress=False)
    assert got.info["format"].startswith("peft-lora")
    assert any(r.range_header and SHARDED in r.path for r in hub.requests)
    _same_terms(api.invariants(repos / "org" / "tiny-lora", base=repos / SHARDED, progress=False), got)
