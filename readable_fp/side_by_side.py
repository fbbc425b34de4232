"""Two dogs side by side in one PNG, each named, with the similarity and the verdict under them."""
from __future__ import annotations

import io

from PIL import Image, ImageDraw

from .fonts import font as _font

PAD = 16


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> list[str]:
    """Greedy word wrap by measured width (a character count clips proportional fonts)."""
    out: list[str] = []
    for word in text.split(" "):
        if out and draw.textlength(out[-1] + " " + word, font=font) <= width:
            out[-1] += " " + word
        else:
            out.append(word)
    return out or [""]


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: float) -> str:
    while text and draw.textlength(text, font=font) > width:
        text = text[:-4] + "..."
    return text


def side_by_side(png_a: bytes, png_b: bytes, name_a: str, name_b: str, lines: list[str]) -> bytes:
    """PNG bytes: dog A | dog B, their names under each, then `lines` (similarity, verdict)."""
    a, b = (Image.open(io.BytesIO(p)).convert("RGB") for p in (png_a, png_b))
    side = max(a.width, a.height, b.width, b.height)
    a, b = (im.resize((side, side)) if im.size != (side, side) else im for im in (a, b))
    big, small = _font(max(14, side // 14)), _font(max(12, side // 18))
    width = 2 * side + 3 * PAD
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    wrapped = [w for ln in lines for w in _wrap(measure, ln, big, width - 2 * PAD)]
    names = [_fit(measure, n, small, side) for n in (name_a, name_b)]
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
