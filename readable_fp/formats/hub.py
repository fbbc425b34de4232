"""A Hugging Face Hub repo id: download the config and tokenizer, then only the weight shards
that hold tensors the terms actually read (shards are fetched when first opened).

This needs the network, which the project's test machines do not have; it is kept thin on
purpose and is the one path the test suite cannot exercise.
"""
from __future__ import annotations

import re

from ..errors import FingerprintError

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_SMALL = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "vocab.txt",
          "tokenizer.model", "model.safetensors.index.json", "pytorch_model.bin.index.json",
          "adapter_config.json", "quantize_config.json", "quant_config.json")


def looks_like_repo_id(s: str) -> bool:
    return bool(_REPO_ID.match(s))


def open_repo(repo_id: str, revision: str | None = None):
    try:
        from huggingface_hub import HfApi, hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError:  # pragma: no cover
        raise FingerprintError("reading from the Hub needs huggingface_hub") from None
    # huggingface_hub logs each retry on stderr; our one-line error says what failed.
    from huggingface_hub.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    try:
        files = HfApi().list_repo_files(repo_id, revision=revision)
    except Exception as e:  # offline, no such repo, gated: say which, in one line
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise FingerprintError(f"'{repo_id}' is not a local path, and the Hugging Face Hub could not list it ({msg})") from None

    def fetch(fname: str) -> str:
        try:
            return hf_hub_download(repo_id, fname, revision=revision)
        except (HfHubHTTPError, OSError) as e:
            raise FingerprintError(f"{repo_id}: download of {fname} failed ({str(e).splitlines()[0]})") from None

    ggufs = [f for f in files if f.endswith(".gguf")]
    if "config.json" not in files and "adapter_config.json" not in files and len(ggufs) == 1:
        from .gguf_file import GGUFCheckpoint
        return GGUFCheckpoint(fetch(ggufs[0]))
    local = None
    for f in _SMALL:
        if f in files:
            local = fetch(f)
    if local is None:
        raise FingerprintError(f"{repo_id}: no config.json, adapter_config.json or single .gguf in the repo")
    from pathlib import Path
    snapshot = Path(local).parent
    if "adapter_config.json" in files:
        from ..api import open_model
        return open_model(str(snapshot))
    if "model.safetensors.index.json" not in files and "pytorch_model.bin.index.json" not in files:
        single = "model.safetensors" if "model.safetensors" in files else "pytorch_model.bin"
        if single not in files:
            raise FingerprintError(f"{repo_id}: no model.safetensors, pytorch_model.bin or shard index")
        fetch(single)
    from .safetensors_dir import HFDirCheckpoint
    return HFDirCheckpoint(snapshot, fetch=fetch, source=repo_id)
