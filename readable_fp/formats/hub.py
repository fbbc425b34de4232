"""A model on the Hugging Face Hub, read without downloading what the terms do not read.

    readable-fp fingerprint ORG/NAME[@REVISION] -o out/
    readable-fp compare hf://ORG/NAME@v1.0/FOLDER hf://ORG/NAME-GGUF/model-Q8_0.gguf

The revision resolves to a commit once (`hub_repo.resolve`); the config, shard index and tokenizer
are downloaded whole; the weights are read by range (`hub_file.HubFile`): safetensors through
their header (`safetensors_ranges`), GGUF through its header (`gguf_file`), and of those only
the tensors the terms read, of the embedding only the probe tokens' rows. Pickled `.bin` weights
cannot be read by range (a pickle is only understood whole): they are downloaded whole only when
the caller allows it (`allow_full_download`).

A LoRA adapter repo is downloaded (it is small) and handed back as a local folder for
`readable_fp.api` to open with its base; this module never imports the API.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import FingerprintError

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./%-]+)?$")
_URLS = ("hf://", "https://huggingface.co/")
BRIDGE = 0.02
# what the readers open besides weights: config, shard index, quantisation side files, tokenizer
_CONFIG = ("config.json", "model.safetensors.index.json", "pytorch_model.bin.index.json",
           "quantize_config.json", "quant_config.json")
_ADAPTER = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
_VOCAB = ("tokenizer.json", "vocab.json", "vocab.txt", "tokenizer.model")  # the first one present is read


def looks_like_repo_id(s: str) -> bool:
    """ORG/NAME[@REVISION], hf://... or a huggingface.co URL (a local path of that shape wins)."""
    return s.startswith(_URLS) or bool(_REPO_ID.match(s))


def parse(ref: str) -> tuple[str, str | None, str]:
    """(repo id, revision or None, path in the repo) with huggingface_hub's own parser."""
    from huggingface_hub import constants, parse_hf_uri
    from huggingface_hub.errors import HfUriError

    try:
        uri = parse_hf_uri(ref if ref.startswith(_URLS) else "hf://" + ref, endpoint=constants.ENDPOINT)
    except HfUriError as e:
        raise FingerprintError(f"{ref}: not a Hub reference ({str(e).splitlines()[0]})") from None
    if uri.type != "model":
        raise FingerprintError(f"{ref}: a {uri.type} repo; readable-fp reads model repos")
    return uri.id, uri.revision, uri.path_in_repo.strip("/")


def open_repo(ref: str, progress: bool = True, allow_full_download: bool = False):
    """A `Checkpoint` reading the repo by range, or (a LoRA adapter) its downloaded folder."""
    from .hub_repo import resolve

    repo_id, revision, sub = parse(ref)
    snap = resolve(repo_id, revision, progress)
    if sub.endswith(".gguf"):
        return _gguf(snap, sub)
    prefix = sub + "/" if sub else ""
    here = {p[len(prefix):] for p in snap.files if p.startswith(prefix) and "/" not in p[len(prefix):]}
    where = f"{repo_id}@{snap.commit[:12]}" + (f"/{sub}" if sub else "")
    if not here and sub in snap.files:
        raise FingerprintError(f"{where}: name a model folder or a .gguf file of the repo")
    if "adapter_config.json" in here:  # small: downloaded, then opened locally with its base
        return _small_files(snap, prefix, here, _ADAPTER)
    if "config.json" in here:
        return _hf(snap, prefix, here, where, allow_full_download)
    consolidated = sorted(f for f in here if f.startswith("consolidated") and f.endswith(".safetensors"))
    if "params.json" in here and consolidated:
        return _native(snap, prefix, here, consolidated)
    ggufs = sorted(f for f in here if f.endswith(".gguf"))
    if len(ggufs) == 1:
        return _gguf(snap, prefix + ggufs[0])
    if ggufs:
        shown = ", ".join(ggufs[:4]) + (", ..." if len(ggufs) > 4 else "")
        raise FingerprintError(f"{where}: holds {len(ggufs)} .gguf files ({shown}); name one: hf://{repo_id}/{prefix}FILE.gguf")
    raise FingerprintError(f"{where}: no readable weights (no config.json with weights, adapter_config.json, Mistral "
                           "params.json with consolidated.safetensors, or .gguf file)")


def _gguf(snap, path: str):
    from .gguf_file import GGUFCheckpoint

    if path not in snap.files:
        raise FingerprintError(f"{snap.repo_id}@{snap.commit[:12]}: no file '{path}'")
    return _read_from(snap, GGUFCheckpoint(snap.file(path), source=f"{snap.repo_id}/{path}"), snap.files[path])


def _read_from(snap, ckpt, weight_bytes: int):
    """Mark `ckpt` as read from `snap`, and give the repo its budget for bridging gaps between
    ranges: BRIDGE of the bytes the terms will read, estimated as the weights' share of two layers."""
    from ..model_terms import language_model

    ckpt.hub = snap
    snap.transfer.spare = BRIDGE * weight_bytes * min(1.0, 2 / max(1, language_model(ckpt).n_layers))
    return ckpt


def _small_files(snap, prefix: str, here: set[str], names) -> Path:
    """Download the named files present (and the first tokenizer file present); -> the local folder."""
    wanted = [f for f in names if f in here] + [f for f in _VOCAB if f in here][:1]
    return [snap.download(prefix + f) for f in wanted][0].parent


def _hf(snap, prefix: str, here: set[str], where: str, allow_full_download: bool):
    from .safetensors_dir import HFDirCheckpoint

    local = _small_files(snap, prefix, here, _CONFIG)
    sharded = "model.safetensors.index.json" in here
    single = sorted(f for f in here if f.endswith(".safetensors"))
    if sharded or single:
        from .safetensors_ranges import RangedSafetensors

        def open_file(fname: str):
            return RangedSafetensors(snap.file(_in_repo(snap, prefix, fname, where)))
        files = None if sharded else (["model.safetensors"] if "model.safetensors" in single else single)
    elif "pytorch_model.bin.index.json" in here or any(f.startswith("pytorch_model") and f.endswith(".bin") for f in here):
        if not allow_full_download:
            size = sum(s for p, s in snap.files.items() if p.startswith(prefix) and p.endswith(".bin"))
            raise FingerprintError(f"{where}: its weights are pickled .bin files ({size / 1e9:.2f} GB), which cannot be "
                                   "read by range; --allow-full-download downloads the ones the terms read, whole")
        from .safetensors_dir import TorchFile

        def open_file(fname: str):
            return TorchFile(str(snap.download(_in_repo(snap, prefix, fname, where))))
        files = None if "pytorch_model.bin.index.json" in here else ["pytorch_model.bin"]
    else:
        raise FingerprintError(f"{where}: config.json but no safetensors or pytorch_model .bin weights")
    ckpt = HFDirCheckpoint(local, open_file=open_file, source=snap.repo_id, weight_files=files)
    kind = ".safetensors" if sharded or single else ".bin"
    return _read_from(snap, ckpt, sum(s for p, s in snap.files.items() if p.startswith(prefix) and p.endswith(kind)))


def _native(snap, prefix: str, here: set[str], consolidated: list[str]):
    from .mistral_native import open_native
    from .safetensors_ranges import RangedSafetensors

    names = ["params.json", "tekken.json"] + sorted(f for f in here if f.startswith("tokenizer.model.v"))
    local = _small_files(snap, prefix, here, names)
    ckpt = open_native(local, files=consolidated, source=snap.repo_id,
                       open_file=lambda fname: RangedSafetensors(snap.file(prefix + fname)))
    return _read_from(snap, ckpt, sum(snap.files[prefix + f] for f in consolidated))


def _in_repo(snap, prefix: str, fname: str, where: str) -> str:
    if prefix + fname not in snap.files:
        raise FingerprintError(f"{where}: its shard index names '{fname}', which the repo does not hold")
    return prefix + fname
