"""The index that ships in pretrained/index/: the bundled real models, so `identify` works on a fresh install.

    python bench/index_bundled.py            # rewrites pretrained/index/part-000001.parquet

Rows are made one after another (`index_row`, no Ray: three models), named ``bundled:KEY``, sorted,
and written with the index's fixed Parquet settings; rows hold no clock time, so the same models,
readable-fp and pyarrow give the same bytes (the script checks by writing twice). No invariants are
shipped (about 200 MB a model): `identify` against this index gives estimated ICS only.
"""
from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

from readable_fp import bundled
from readable_fp.errors import FingerprintError
from readable_fp.index_build import index_row
from readable_fp.index_store import SHIPPED, Index


def rows() -> list[dict]:
    out = []
    for key in sorted(bundled.MODELS):
        row = index_row(str(bundled.model(key)))
        if "error" in row:
            raise FingerprintError(f"bundled:{key}: {row['error']}")
        out.append({**row, "ref": f"bundled:{key}"})
    return out


def main() -> int:
    made = rows()
    digests = []
    for _ in range(2):
        tmp = Path(tempfile.mkdtemp())
        part = Index(tmp).append(made)
        digests.append(hashlib.sha256(part.read_bytes()).hexdigest())
    assert digests[0] == digests[1], "the index bytes differ between two writes"
    SHIPPED.mkdir(parents=True, exist_ok=True)
    for old in SHIPPED.glob("part-*.parquet"):
        old.unlink()
    shutil.copy(part, SHIPPED / "part-000001.parquet")
    print(f"wrote {SHIPPED / 'part-000001.parquet'}: {len(made)} models, {part.stat().st_size:,} bytes, "
          f"sha256 {digests[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
