"""Which renderer draws a latent: the vector dog, a published generator by name, or a generator file.

    readable-fp renderer get afhqdog                 # NVIDIA's StyleGAN2-ADA AFHQ-Dog, fetched once
    readable-fp fingerprint MODEL --renderer afhqdog [--size 256]

`resolve(ref)` turns what a user gave (None or ``vector-dog``, a published name such as
``afhqdog``, or the path of a StyleGAN2 ``.safetensors``) into a `Renderer`, whose `draw(latent,
size)` gives the PNG (and SVG, for the vector dog) and whose `record(size)` is what fingerprint.json
says about it. A published generator is downloaded once from its publisher's URL (`get`), read
without running any of its pickle (`nvidia_pickle`) and kept as safetensors in
``$READABLE_FP_CACHE/renderers/``; the pickle's SHA-256, its URL and its licence travel in that
file's metadata into every record and model card drawn with it.
"""
from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import FingerprintError
from .hashing import file_sha256
from .paths import cache_dir

VECTOR = "vector-dog"
MIN_SIZE, MAX_VECTOR_SIZE = 64, 2048
Z_DIM = 512  # every latent readable-fp makes


@dataclass(frozen=True)
class Published:
    """A generator its authors publish as a StyleGAN2-ADA pickle, known here by a short name."""
    name: str
    title: str
    url: str
    license: str
    terms: str
    resolution: int


PUBLISHED = {p.name: p for p in [
    Published("afhqdog", "NVIDIA StyleGAN2-ADA AFHQ-Dog",
              "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/afhqdog.pkl",
              "CC BY-NC 4.0",
              "non-commercial use only: trained on AFHQ (CC BY-NC 4.0), published with NVIDIA's "
              "stylegan2-ada-pytorch (NVIDIA Source Code License-NC)", 512),
]}


def folder() -> Path:
    return cache_dir() / "renderers"


def installed(name: str) -> Path | None:
    p = folder() / f"{name}.safetensors"
    return p if p.is_file() else None


@dataclass(frozen=True)
class Renderer:
    name: str  # vector-dog, a published name, or "stylegan2" for a file of no published name
    native: int  # the size it draws at, in pixels
    path: Path | None = None  # the generator file (None: the vector dog)
    extra: dict = field(default_factory=dict, compare=False)  # the file's provenance metadata

    @property
    def credit(self) -> str:
        return credit({**self.extra, "name": self.name, "weights": self.path.name if self.path else None})

    def size(self, size: int | None) -> int:
        """`size` checked against what this renderer can draw (None: its own)."""
        if size is None:
            return self.native
        most = self.native if self.path is not None else MAX_VECTOR_SIZE
        if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= most:
            why = f" (the generator draws {self.native} px; larger adds nothing)" if self.path is not None else ""
            raise FingerprintError(f"size {size}: {self.name} draws {MIN_SIZE} to {most} px{why}")
        return int(size)

    def draw(self, latent, size: int | None = None) -> tuple[bytes, str | None]:
        """(PNG bytes, SVG text or None) of the dog for a 512-dim latent; the same bytes every run."""
        size = self.size(size)
        z = np.asarray(latent, dtype=np.float32)
        if self.path is None:
            from . import vector_dog
            return vector_dog.render_png(z, size=size), vector_dog.render_svg(z)
        from . import stylegan2
        image = stylegan2.render(z, _generator(*_stamp(self.path)))
        if size != image.width:  # a smaller copy of the same picture (for cards), not another render
            from PIL import Image
            image = image.resize((size, size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=6)
        return buf.getvalue(), None

    def record(self, size: int | None = None) -> dict:
        """What fingerprint.json says about the renderer: enough to draw the same picture again."""
        size = self.size(size)
        if self.path is None:
            import resvg_py
            return {"name": VECTOR, "rasteriser": f"resvg-py {getattr(resvg_py, '__version__', '?')}", "size": size}
        from .stylegan2 import TRUNCATION_CUTOFF, TRUNCATION_PSI
        keep = ("title", "license", "terms", "source_url", "source_sha256")
        return {"name": self.name, **{k: self.extra[k] for k in keep if self.extra.get(k)},
                "weights": self.path.name, "weights_sha256": _sha256(*_stamp(self.path)),
                "truncation_psi": TRUNCATION_PSI, "truncation_cutoff": TRUNCATION_CUTOFF, "size": size}


def credit(record: dict) -> str:
    """Who drew the picture, in words, from a fingerprint record's ``renderer`` entry."""
    if record.get("name") == VECTOR:
        return "readable-fp's vector dog"
    who = record.get("title") or f"the StyleGAN2 generator {record.get('weights')}"
    return f"{who} ({record['license']})" if record.get("license") else who


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path), st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=2)
def _generator(path: str, mtime_ns: int, size: int):
    """Loaded once per process (and file version): the web UI draws many dogs with one generator."""
    from .stylegan2 import load_generator
    return load_generator(path)


@functools.lru_cache(maxsize=8)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    return file_sha256(path)


def resolve(ref: str | os.PathLike | Renderer | None = None) -> Renderer:
    """The renderer `ref` names; a published one that is not installed is refused with the command
    that installs it."""
    if isinstance(ref, Renderer):
        return ref
    if ref is None or ref == VECTOR:
        from .vector_dog import SIZE
        return Renderer(VECTOR, SIZE)
    s = os.fspath(ref)
    if s in PUBLISHED:
        p = installed(s)
        if p is None:
            pub = PUBLISHED[s]
            raise FingerprintError(f"renderer '{s}' is not installed: run `readable-fp renderer get {s}` "
                                   f"(downloads {pub.title} once; licence {pub.license})")
        return _from_file(p)
    p = Path(s).expanduser()
    if p.is_file():
        return _from_file(p)
    raise FingerprintError(f"renderer '{s}': use {', '.join([VECTOR, *PUBLISHED])} or the path of a StyleGAN2 "
                           ".safetensors generator (see readable-fp renderer list)")


def _from_file(p: Path) -> Renderer:
    from .stylegan2 import generator_meta

    meta = generator_meta(p)
    cfg, extra = meta["config"], meta.get("extra", {})
    if cfg["z_dim"] != Z_DIM:
        raise FingerprintError(f"{p}: the generator takes {cfg['z_dim']}-dim latents; readable-fp's are {Z_DIM}-dim")
    name = extra.get("renderer")
    return Renderer(name if name in PUBLISHED else "stylegan2", cfg["img_resolution"], p, dict(extra))
