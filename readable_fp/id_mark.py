"""The mark on a dog drawn from token-id probes.

A model without tokenizer files is probed by token id, not by token string (model_terms.probe_ids).
Its dog is then keyed differently from every string-keyed dog: the same weights give another dog.
So the picture itself says so: a dark band across its foot, in the PNG and the SVG alike, that
travels with the image wherever it is pasted (a model card, a gallery, a side-by-side).
"""
from __future__ import annotations

import io

from PIL import Image, ImageDraw

from .fonts import font

TEXT = "keyed by token ids (no tokenizer)"
BAND = 0.12  # of the image's height


def mark_png(png: bytes) -> bytes:
    im = Image.open(io.BytesIO(png)).convert("RGB")
    band = max(12, round(im.height * BAND))
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, im.height - band, im.width, im.height), fill="#222222")
    f = font(max(9, band // 2))
    w = draw.textlength(TEXT, font=f)
    draw.text(((im.width - w) / 2, im.height - band + (band - f.size) / 2 - 1), TEXT, fill="#ffffff", font=f)
    out = io.BytesIO()
    im.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def mark_svg(svg: str, size: int = 256) -> str:
    band = round(size * BAND)
    mark = (f'<rect x="0" y="{size - band}" width="{size}" height="{band}" fill="#222222"/>'
            f'<text x="{size / 2:g}" y="{size - band / 2:g}" dominant-baseline="central" text-anchor="middle" '
            f'font-family="sans-serif" font-size="{band // 2}" fill="#ffffff">{TEXT}</text>')
    return svg.replace("</svg>", mark + "</svg>", 1)
