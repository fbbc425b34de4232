"""The fake Hub of tests/hub_server.py, checked with huggingface_hub's own client."""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest
from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.hub_server import HubServer

CONFIG = {"model_type": "tiny", "hidden_size": 8}
BLOB = os.urandom(1 << 20)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    for org, name in (("org", "model"), ("org", "gated")):
        repo = tmp_path / "repos" / org / name
        (repo / "sub").mkdir(parents=True)
        (repo / "config.json").write_text(json.dumps(CONFIG))
        (repo / "sub" / "weights.bin").write_bytes(BLOB)
    with HubServer(tmp_path / "repos", gated={"org/gated": "hf_secret"}) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        # Both are read from HF_ENDPOINT at import time; hf_hub_url(endpoint=...) only swaps the prefix of the
        # template when it starts with constants.ENDPOINT, so the two must be patched together.
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        yield server


def test_model_info(hub):
    info = HfApi(endpoint=hub.url).model_info("org/model", files_metadata=True, token=False)
    assert info.id == "org/model" and info.sha == hub.commit("org/model") and len(info.sha) == 40
    assert {s.rfilename: s.size for s in info.siblings} == {"config.json": len(json.dumps(CONFIG)),
                                                             "sub/weights.bin": len(BLOB)}
    assert HfApi(endpoint=hub.url).model_info("org/model", revision=info.sha, token=False).sha == info.sha


def test_hf_hub_download(hub, tmp_path):
    path = hf_hub_download("org/model", "sub/weights.bin", cache_dir=tmp_path / "cache", endpoint=hub.url,
                           token=False)
    assert open(path, "rb").read() == BLOB
    assert f"/snapshots/{hub.commit('org/model')}/" in path
    assert hub.file_bytes_sent == len(BLOB)
    assert [(r.method, r.status) for r in hub.requests] == [("HEAD", 200), ("GET", 200)]
    hub.reset()
    hf_hub_download("org/model", "sub/weights.bin", cache_dir=tmp_path / "cache", endpoint=hub.url, token=False)
    assert hub.file_bytes_sent == 0  # cached: only a HEAD this time
    with pytest.raises(EntryNotFoundError):
        hf_hub_download("org/model", "nope.bin", cache_dir=tmp_path / "cache", endpoint=hub.url, token=False)


def test_range_get(hub):
    url = f"{hub.url}/org/model/resolve/main/sub/weights.bin"
    request = urllib.request.Request(url, headers={"Range": "bytes=1000-1999"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 206 and response.read() == BLOB[1000:2000]
        assert response.headers["Content-Range"] == f"bytes 1000-1999/{len(BLOB)}"
        assert response.headers["X-Repo-Commit"] == hub.commit("org/model")
    assert hub.file_bytes_sent == 1000 and hub.requests[-1].range_header == "bytes=1000-1999"
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=-10"})) as response:
        assert response.read() == BLOB[-10:]
    for bad in (f"bytes={len(BLOB)}-", "bytes=0-1,5-6"):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(urllib.request.Request(url, headers={"Range": bad}))
        assert error.value.code == 416


def test_gated_repo(hub, tmp_path):
    api = HfApi(endpoint=hub.url)
    with pytest.raises(GatedRepoError):
        api.model_info("org/gated", token=False)
    with pytest.raises(GatedRepoError):
        api.model_info("org/gated", token="hf_wrong")
    with pytest.raises(GatedRepoError):
        hf_hub_download("org/gated", "config.json", cache_dir=tmp_path / "cache", endpoint=hub.url, token=False)
    assert api.model_info("org/gated", token="hf_secret").gated == "manual"
    path = hf_hub_download("org/gated", "config.json", cache_dir=tmp_path / "cache", endpoint=hub.url,
                           token="hf_secret")
    assert json.loads(open(path).read()) == CONFIG


def test_not_found(hub):
    api = HfApi(endpoint=hub.url)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("org/missing", token=False)
    with pytest.raises(RevisionNotFoundError):
        api.model_info("org/model", revision="v1.0", token=False)
    for path in ("/org/model/resolve/main/..%2F..%2Fgated/config.json", "/org/model/resolve/main//etc/passwd",
                 "/api/models/org/..", "/nothing"):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(hub.url + path)
        assert error.value.code == 404 and "error" in json.loads(error.value.read())
