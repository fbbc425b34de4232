"""The one font the pictures use: Pillow's bundled scalable font, so every install draws the same text."""
from __future__ import annotations

from PIL import ImageFont


def font(size: int):
    try:
        return ImageFont.load_default(size=size)  # FreeType builds of Pillow
    except (TypeError, OSError):
        return ImageFont.load_default()
