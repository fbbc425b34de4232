"""Write smaller JPEG copies of the dog photos, for carrying them to a GPU machine.

The 3,998 photos in ../shared/dogs/images are 95 MB at 256 px, more than the device tool
carries (64 MiB), and ../shared does not travel with the repository. At 128 px they are about
a quarter of that. The default output folder is git-ignored: the photos are non-commercial
research data and must never be committed.

    python gan_training/shrink_photos.py --size 128 --out gan_training/_data/dogs128
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=REPO.parent / "shared" / "dogs" / "images")
    ap.add_argument("--out", type=Path, default=REPO / "gan_training" / "_data" / "dogs128")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--quality", type=int, default=90)
    a = ap.parse_args(argv)
    files = sorted(p for p in a.src.glob("*.jpg"))
    if not files:
        print(f"shrink_photos: error: no .jpg photos in {a.src}", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    for f in files:
        with Image.open(f) as im:
            im.convert("RGB").resize((a.size, a.size), Image.Resampling.BOX).save(a.out / f.name, quality=a.quality)
    total = sum(p.stat().st_size for p in a.out.glob("*.jpg"))
    print(f"wrote {len(files)} photos at {a.size} px to {a.out} ({total / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
