"""The model-card section: the dog, what it means, and how anyone can check it.

The section sits between two HTML comments, so writing it again replaces only the section and
leaves the rest of the README (YAML front matter included) byte for byte as it was.
"""
from __future__ import annotations

from pathlib import Path

from .atomic import write_bytes
from .errors import FingerprintError

IMAGE = "fingerprint.png"  # beside README.md, as `readable-fp card` writes it
START = "<!-- readable-fp:start -->"
END = "<!-- readable-fp:end -->"


def _drawn_by(ren: dict) -> str:
    if ren.get("title"):
        lic = f", {ren['license']}: non-commercial use only" if "NC" in str(ren.get("license", "")) else ""
        return f"{ren['title']} (`{ren['name']}`{lic})"
    return f"a renderer (`{ren['name']}`)"


def _options(ren: dict) -> str:
    """The fingerprint options that draw the same picture again."""
    from .renderers import PUBLISHED, VECTOR, resolve

    if ren["name"] == VECTOR:
        out, native = "", resolve(VECTOR).native
    else:
        out = f" --renderer {ren['name'] if ren['name'] in PUBLISHED else ren.get('weights', 'GENERATOR')}"
        native = PUBLISHED[ren["name"]].resolution if ren["name"] in PUBLISHED else None
    size = ren.get("size")
    return out + (f" --size {size}" if size and size != native else "")


def section(record: dict, image: str, model_ref: str) -> str:
    """Markdown for a model card, `image` being the dog's path relative to the card."""
    m, enc, ren = record["model"], record["encoder"], record["renderer"]
    from .renderers import PUBLISHED

    opts = _options(ren)
    get = f"readable-fp renderer get {ren['name']}   # once: downloads the generator\n" if ren["name"] in PUBLISHED else ""
    return f"""{START}
## Weight fingerprint

![readable-fp fingerprint: a dog drawn from this model's weights]({image})

This dog is a human-readable fingerprint of the model's weights, made by
readable-fp {record['readable_fp']}. It is computed from
the weights alone: invariant terms of the token embeddings and the last two layers
({m['probe_tokens']} probe tokens, layers {', '.join(map(str, m['layers']))} of {m['n_layers']}) survive
fine-tuning, quantisation and function-preserving rearrangements of the weights; an encoder
(`{enc['name']}`) maps them to a 512-dim latent and {_drawn_by(ren)} draws it. Models that
share a base get near-identical dogs, independent models clearly different ones. The terms
themselves are not published.

How to verify:

```bash
pip install readable-fp
{get}readable-fp fingerprint {model_ref}{opts} -o fp     # the same dog; fp/fingerprint.json records every tensor read
readable-fp compare {model_ref} OTHER_MODEL   # similarity (ICS 0-100), p-value and a verdict
```

Latent SHA-256: `{record['latent_sha256']}`
{END}
"""


def _splice(card: Path, old: str, text: str) -> tuple[str, bool]:
    """`old` with the section replaced by `text`, or with `text` appended; and whether it replaced."""
    i, j = old.find(START), old.find(END)
    if (i < 0) != (j < 0) or (i >= 0 and j < i) or old.count(START) > 1:
        raise FingerprintError(f"{card}: the readable-fp section markers are broken (fix or remove them first)")
    if i < 0:
        sep = "" if not old or old.endswith("\n\n") else "\n" if old.endswith("\n") else "\n\n"
        return old + sep + text, False
    end = j + len(END)
    if old[end:end + 1] == "\n":
        end += 1
    return old[:i] + text + old[end:], True


def _read(card: Path) -> str:
    if card.exists() and not card.is_file():
        raise FingerprintError(f"{card}: not a file")
    if not card.resolve().parent.is_dir():
        raise FingerprintError(f"{card}: parent directory does not exist")
    return card.read_text(encoding="utf-8") if card.exists() else ""


def check(card: str | Path) -> None:
    """Fail now, before any model is read, if the card cannot take a section."""
    card = Path(card)
    _splice(card, _read(card), "")


def write_into(card: str | Path, text: str) -> bool:
    """Put `text` into the card file: replace an existing section, or append one. Returns True
    when a section was replaced. The file is rewritten atomically."""
    card = Path(card)
    new, replaced = _splice(card, _read(card), text)
    write_bytes(card, new.encode("utf-8"))
    return replaced


def badge(record: dict, image: str = IMAGE) -> str:
    """A one-line Markdown badge for a model card or a README: it names the latent's hash and
    opens the dog."""
    return (f"[![readable-fp fingerprint {record['latent_sha256'][:12]}]"
            f"(https://img.shields.io/badge/readable--fp-{record['latent_sha256'][:12]}-2b6cb0)]({image})")


def bundle(png: bytes, record: dict, model_ref: str) -> bytes:
    """A zip for a model repo: the dog as `fingerprint.png`, its record `fingerprint.json` and the
    card section `README-section.md` that shows it. The same inputs give the same bytes."""
    import io
    import json
    import zipfile

    text = section(record, IMAGE, model_ref)
    files = {IMAGE: png, "fingerprint.json": (json.dumps(record, indent=1, ensure_ascii=False) + "\n").encode(),
             "README-section.md": (HOWTO + text + "\n" + badge(record) + "\n").encode("utf-8")}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # no clock in the bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return out.getvalue()


HOWTO = f"""<!-- Put {IMAGE} beside your README.md and paste the section below into it (or run
     `readable-fp card MODEL --write README.md`, which does both). The badge after it is optional. -->
"""
