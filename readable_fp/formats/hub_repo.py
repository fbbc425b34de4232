"""A Hub model repo at one revision: the commit it resolves to and the files it holds there.

`resolve` asks the Hub once (`HfApi.model_info` with file sizes: one request, no retries, so a
machine without network learns it at once) and remembers the answer under
`$READABLE_FP_CACHE/hub/<repo>/`: `refs/<revision>` names the commit, `<commit>/files.json` its
files. With `HF_HUB_OFFLINE=1` the answer comes from there alone, as huggingface_hub's own cache
answers `hf_hub_download` offline; so does a revision that is a full commit sha, read here before
(a commit never changes). Small files (config, tokenizer, shard index) are downloaded
whole with `hf_hub_download` at the resolved commit, into huggingface_hub's cache.

Every failure becomes one line that says what to do (`hub_error`).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FingerprintError
from .hub_file import HubFile, Transfer, cache_root, hub_error, safe_name

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class Snapshot:
    repo_id: str
    revision: str
    commit: str
    files: dict[str, int]  # path in the repo -> size in bytes
    transfer: Transfer = field(default_factory=Transfer)

    def file(self, path: str) -> HubFile:
        return HubFile(self.repo_id, self.commit, path, self.files[path], self.transfer)

    def download(self, path: str) -> Path:
        """The whole file, through huggingface_hub's cache (`snapshots/<commit>/<path>`)."""
        from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache

        cached = try_to_load_from_cache(self.repo_id, path, revision=self.commit)
        if isinstance(cached, str):
            return Path(cached)
        try:
            local = hf_hub_download(self.repo_id, path, revision=self.commit, endpoint=constants.ENDPOINT)
        except Exception as e:
            raise hub_error(e, self.repo_id, f"downloading {path}") from None
        self.transfer.add(self.files.get(path, 0), requests=1)
        return Path(local)

    def record(self) -> dict:
        """For the fingerprint record: which commit was read, and what it cost this run."""
        return {"repo": self.repo_id, "revision": self.revision, "commit": self.commit,
                "bytes_downloaded": self.transfer.bytes, "requests": self.transfer.requests}


def _store(repo_id: str) -> Path:
    return cache_root() / ("models--" + repo_id.replace("/", "--"))


def resolve(repo_id: str, revision: str | None, progress: bool = True) -> Snapshot:
    from huggingface_hub import constants

    revision = revision or constants.DEFAULT_REVISION
    store = _store(repo_id)
    pinned = _COMMIT.match(revision)
    if pinned or constants.is_offline_mode():  # a commit never changes: its listing, once read, is final
        commit = revision if pinned else _read(store / "refs" / safe_name(revision))
        listing = _read(store / (commit or "-") / "files.json")
        if commit and listing is not None:
            return Snapshot(repo_id, revision, commit, json.loads(listing), Transfer(progress=progress))
        if constants.is_offline_mode():
            raise FingerprintError(f"{repo_id}@{revision}: offline (HF_HUB_OFFLINE is set) and never read here "
                                   "before, so it is not in the cache")
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=constants.ENDPOINT).model_info(repo_id, revision=revision, files_metadata=True,
                                                             timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except Exception as e:
        raise hub_error(e, repo_id, "", revision) from None
    files = {s.rfilename: int(s.size or 0) for s in info.siblings or []}
    if not info.sha or not _COMMIT.match(info.sha):
        raise FingerprintError(f"{repo_id}@{revision}: the Hub named no commit for this revision")
    _write(store / info.sha / "files.json", json.dumps(files, sort_keys=True))
    _write(store / "refs" / safe_name(revision), info.sha)
    return Snapshot(repo_id, revision, info.sha, files, Transfer(requests=1, progress=progress))


def _read(p: Path) -> str | None:
    try:
        return p.read_text()
    except OSError:
        return None


def _write(p: Path, text: str) -> None:
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, p)
    except OSError:
        pass  # without a cache, offline runs cannot find this repo; online ones still work
