"""A model's public fingerprint: the dog, the latent it is drawn from, and a record of how it was made.

    fp = readable_fp.fingerprint("path/to/model")      # reads only the probe rows and the last two layers
    fp.save("fingerprint/")                             # dog.png, dog.svg, latent.json, fingerprint.json

The invariant terms behind the latent leak information about the weights, so they stay in
memory (`fp.invariants`) unless `save(..., save_invariants=True)` is asked for.
Renderers (`readable_fp.renderers`): ``vector-dog`` (the default, needs no weights), ``afhqdog``
(NVIDIA's StyleGAN2-ADA AFHQ-Dog, 512 px, after ``readable-fp renderer get afhqdog``) or the path of
a StyleGAN2 generator in safetensors; ``size`` draws a smaller copy (e.g. 256 px for a model card).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import __version__
from .errors import FingerprintError
from .hashing import file_sha256
from .model_terms import Invariants
from .renderers import Renderer, resolve
FILES = ("dog.png", "dog.svg", "latent.json", "fingerprint.json")
PRIVATE = "invariants.safetensors"
OUTPUTS = ("dog.png", "dog.svg", "latent.json", "fingerprint.json")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def render(latent, renderer: str | os.PathLike | None = None, size: int | None = None) -> tuple[bytes, str | None]:
    """(PNG bytes, SVG text or None) of the dog for a 512-dim latent; deterministic."""
    return resolve(renderer).draw(latent, size)


@dataclass
class Fingerprint:
    latent: np.ndarray  # float32 (512,)
    png: bytes
    svg: str | None
    record: dict
    invariants: Invariants  # private: saved only on request

    def save(self, directory: str | os.PathLike, save_invariants: bool = False) -> list[Path]:
        """Write the files into `directory` (created, with its parents, if missing). Everything is written into a
        temporary folder beside it first, then moved in, so a failure leaves no partial output."""
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise FingerprintError(f"{directory}: exists and is not a directory")
        parent = directory.resolve().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".readable-fp-", dir=parent))
        except OSError as e:
            raise FingerprintError(f"{directory}: cannot create it ({e.strerror or e})") from None
        try:
            (tmp / "dog.png").write_bytes(self.png)
            names = ["dog.png"]
            if self.svg is not None:
                (tmp / "dog.svg").write_text(self.svg, encoding="utf-8")
                names.append("dog.svg")
            latent = {"encoder": self.record["encoder"]["name"], "latent": [float(v) for v in self.latent]}
            (tmp / "latent.json").write_text(json.dumps(latent) + "\n")
            (tmp / "fingerprint.json").write_text(json.dumps(self.record, indent=1, ensure_ascii=False) + "\n")
            names += ["latent.json", "fingerprint.json"]
            if save_invariants:
                self.invariants.save(tmp / PRIVATE)
                names.append(PRIVATE)
            if not directory.exists():
                tmp.rename(directory)
            else:
                for n in names:
                    os.replace(tmp / n, directory / n)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return [directory / n for n in names]


def fingerprint(model, encoder=None, renderer: str | os.PathLike | None = None, n_tokens: int | None = None,
                base=None, progress: bool = True, allow_full_download: bool = False,
                size: int | None = None) -> Fingerprint:
    """The public fingerprint of `model` (any reference `readable_fp.compare` accepts): its
    standalone invariants (own probe tokens, last two layers), the encoder's latent, the dog."""
    from . import api

    started = datetime.now(timezone.utc)
    e, r = check(encoder, renderer, size)  # bad names fail before reading
    inv = api.invariants(model, n_tokens=n_tokens, base=base, progress=progress, allow_full_download=allow_full_download)
    return from_invariants(inv, e, r, started, size)


def check(encoder, renderer, size=None) -> tuple:
    """(Encoder, Renderer) for these options, the size checked: bad names fail before any reading."""
    from . import encoder as enc

    e = encoder if isinstance(encoder, enc.Encoder) else enc.get(encoder)
    r = resolve(renderer)
    r.size(size)
    return e, r


def from_invariants(inv: Invariants, encoder=None, renderer: str | os.PathLike | Renderer | None = None,
                    started: datetime | None = None, size: int | None = None) -> Fingerprint:
    """The dog of invariants already read: a model's own (`fingerprint`) or the terms two models
    were compared on (`compare --image` and the web UI draw those, so the dogs are keyed as the
    number beside them). A dog keyed by token ids carries a band saying so (`id_mark`)."""
    from . import encoder as enc

    started = started or datetime.now(timezone.utc)
    e, r = check(encoder, renderer, size)
    z = e.encode(inv)
    png, svg = r.draw(z, size)
    if inv.keying == "token ids":
        from .id_mark import mark_png, mark_svg
        png, svg = mark_png(png), None if svg is None else mark_svg(svg)
    info = dict(inv.info)
    weights = {"trained": enc.WEIGHTS}.get(e.name)
    record = {
        "readable_fp": __version__,
        "model": {"source": Path(str(info.get("source", ""))).name, "format": info.get("format"),
                  "architecture": info.get("architecture"), "dtype": info.get("dtype"),
                  "bytes_read": info.get("bytes_read"), "n_layers": inv.n_layers, "layers": inv.layers,
                  "probe_tokens": len(inv.probes),
                  # token strings, or token ids when the model (or the one it was compared with) has no tokenizer
                  "probe_keying": inv.keying,
                  # a hybrid's terms come from its attention layers only; a mixture's FFN term sums its experts
                  **{k: info[k] for k in ("attention_layers", "experts") if k in info},
                  # read from the Hub: repo, revision, the commit it resolved to, and what this run downloaded
                  **({"hub": info["hub"]} if "hub" in info else {})},
        "encoder": {"name": e.name, **({"weights_sha256": file_sha256(weights)} if weights else {}),
                    **({"seed": e.SEED} if hasattr(e, "SEED") else {})},
        "renderer": r.record(size),
        "latent_sha256": _sha256(np.asarray(z, dtype="<f4").tobytes()),
        "png_sha256": _sha256(png),
        "tensors_read_sha256": dict(sorted(info.get("tensors", {}).items())),
        "tensors_read_storage": dict(sorted(info.get("storage", {}).items())),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return Fingerprint(np.asarray(z, dtype=np.float32), png, svg, record, inv)
