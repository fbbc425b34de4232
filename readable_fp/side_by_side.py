"""Two dogs side by side in one PNG, each named, with the similarity and the verdict under them."""
from __future__ import annotations

import io
import textwrap

from PIL import Image, ImageDraw, ImageFont

PAD = 16


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled scalable font (FreeType builds)
    except (TypeError, OSError):
        return ImageFont.load_default()


def side_by_side(png_a: bytes, png_b: bytes, name_a: str, name_b: str, lines: list[str]) -> bytes:
    """PNG bytes: dog A | dog B, their names under each, then `lines` (similarity, verdict)."""
    a, b = (Image.open(io.BytesIO(p)).convert("RGB") for p in (png_a, png_b))
    side = max(a.width, a.height, b.width, b.height)
    a, b = (im.resize((side, side)) if im.size != (side, side) else im for im in (a, b))
    big, small = _font(max(14, side // 14)), _font(max(12, side // 18))
    width = 2 * side + 3 * PAD
    chars = max(20, int(width / (small.size * 0.55)))
    wrapped = [w for ln in lines for w in (textwrap.wrap(ln, chars) or [""])]
    names = [textwrap.shorten(n, int(side / (small.size * 0.55)), placeholder="...") for n in (name_a, name_b)]
    height = PAD + side + PAD // 2 + small.size + PAD + len(wrapped) * (big.size + 6) + PAD
    out = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(out)
    y = PAD
    for k, (im, name) in enumerate(zip((a, b), names)):
        x = PAD + k * (side + PAD)
        out.paste(im, (x, y))
        tw = draw.textlength(name, font=small)
        draw.text((x + (side - tw) / 2, y + side + PAD // 2), name, fill="#333333", font=small)
    y += side + PAD // 2 + small.size + PAD
    for ln in wrapped:
        draw.text((PAD, y), ln, fill="black", font=big)
        y += big.size + 6
    buf = io.BytesIO()
    out.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()
