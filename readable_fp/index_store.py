"""The index of many models' fingerprints: a folder of Parquet files with one versioned schema.

    DIR/part-000001.parquet ...     one file per `index add` flush; rows appended, never rewritten
    DIR/failures.jsonl              models that failed, with the one-line reason (retried by a rerun)
    DIR/invariants/<id>.safetensors private and optional: exact ICS for `identify`'s top candidates

A row (schema version `VERSION`): the model reference as given (``ref``; a local path made
absolute), the Hub commit it resolved to (``revision``, empty for local models), the fingerprint
record without its clock times (``record``, JSON), the 512-dim ``latent``, the ``signature`` (the
float16 sketch, `readable_fp.signature`), its search ``vector``, ``vocab_sha256`` (SHA-256 of the
probe token strings: equal for models whose tokenizers share their first T tokens) and the path of
its invariants file if one was kept. About 56 KB a row, nearly all of it the sketch.

Readers take every part file, refuse any other schema version in one line, and keep the first row
of each ``ref``: a row written twice (a rerun racing a flush) is never counted twice.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from .errors import FingerprintError
from .signature import DIM, SKETCH_BYTES

VERSION = "1"
_META = b"readable_fp.index"
SHIPPED = Path(__file__).resolve().parent.parent / "pretrained" / "index"  # the bundled models (bench/index_bundled.py)
LATENT = 512


def schema():
    import pyarrow as pa

    return pa.schema([
        ("ref", pa.string()), ("revision", pa.string()), ("record", pa.string()),
        ("latent", pa.list_(pa.float32(), LATENT)), ("signature", pa.binary(SKETCH_BYTES)),
        ("vector", pa.list_(pa.float32(), DIM)), ("vocab_sha256", pa.string()), ("invariants", pa.string()),
    ], metadata={_META: VERSION.encode()})


def entry_id(ref: str) -> str:
    """A file-name-safe id for a model reference."""
    return hashlib.sha256(ref.encode("utf-8")).hexdigest()[:24]


class Index:
    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory).expanduser()

    def check(self, create: bool = False) -> "Index":
        """Refuse, before any work, a path that is not an index folder (or cannot become one)."""
        if self.dir.exists() and not self.dir.is_dir():
            raise FingerprintError(f"{self.dir}: not a folder (an index is a folder of Parquet files)")
        if not create and not self.dir.is_dir():
            raise FingerprintError(f"{self.dir}: no such index folder")
        if create:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise FingerprintError(f"{self.dir}: cannot create the index folder ({e.strerror or e})") from None
        return self

    def parts(self) -> list[Path]:
        return sorted(self.dir.glob("part-*.parquet")) if self.dir.is_dir() else []

    def table(self, columns: list[str]):
        """`columns` of every entry (the first row of each ref), with ``_part`` and ``_row`` saying where
        the row lives, so that `fetch` can read its other columns later: a search reads only the
        search vectors, not the 49 KB sketches of every entry."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        want = list(dict.fromkeys(["ref", *columns]))
        sub = pa.schema([schema().field(c) for c in want])
        tables = []
        for k, p in enumerate(self.parts()):
            try:
                got = (pq.read_schema(p).metadata or {}).get(_META)
            except Exception as e:
                raise FingerprintError(f"{p}: not a readable Parquet file ({type(e).__name__})") from None
            if got != VERSION.encode():
                raise FingerprintError(f"{p}: index schema version {got.decode() if got else 'none'}, this readable-fp "
                                       f"reads version {VERSION}")
            t = pq.read_table(p, columns=want).cast(sub)
            tables.append(t.append_column("_part", pa.array([k] * t.num_rows, pa.int32()))
                          .append_column("_row", pa.array(range(t.num_rows), pa.int64())))
        if not tables:
            return sub.empty_table().append_column("_part", pa.array([], pa.int32())).append_column(
                "_row", pa.array([], pa.int64()))
        t = pa.concat_tables(tables)
        refs = t.column("ref").to_pylist()
        first: dict[str, int] = {}
        for i, r in enumerate(refs):
            first.setdefault(r, i)
        if len(first) < len(refs):
            t = t.take(pa.array(sorted(first.values()), type=pa.int64()))
        return t

    def fetch(self, table, rows: list[int], columns: list[str]) -> dict[str, list]:
        """`columns` of entries `rows` (positions in `table`), read from their part files only."""
        import pyarrow.parquet as pq

        parts = self.parts()
        where = [(table.column("_part")[i].as_py(), table.column("_row")[i].as_py()) for i in rows]
        loaded = {k: pq.read_table(parts[k], columns=columns) for k in sorted({k for k, _ in where})}
        return {c: [loaded[k].column(c)[r].as_py() for k, r in where] for c in columns}

    @staticmethod
    def matrix(table, column: str, width: int) -> np.ndarray:
        n = table.num_rows
        flat = table.column(column).combine_chunks().values.to_numpy(zero_copy_only=False) if n else np.zeros(0)
        return np.asarray(flat, dtype=np.float32).reshape(n, width)

    def refs(self) -> set[str]:
        import pyarrow.parquet as pq

        out: set[str] = set()
        for p in self.parts():
            out.update(pq.read_table(p, columns=["ref"]).column("ref").to_pylist())
        return out

    def append(self, rows: list[dict]) -> Path | None:
        """Write `rows` as a new part file (atomically: a reader never sees half a file)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not rows:
            return None
        self.dir.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(rows, schema=schema())
        n = max([int(p.stem.split("-")[1]) for p in self.parts()], default=0) + 1
        path = self.dir / f"part-{n:06d}.parquet"
        tmp = self.dir / f".part-{n:06d}.{os.getpid()}.tmp"
        # fixed writer settings and no clock in the rows: the same rows give the same bytes
        pq.write_table(table, tmp, compression="zstd", write_statistics=False, store_schema=True)
        os.replace(tmp, path)
        return path

    # ---- failures: the last outcome of each model that failed, until a rerun succeeds -------------
    def failures(self) -> dict[str, str]:
        f = self.dir / "failures.jsonl"
        out: dict[str, str] = {}
        if f.is_file():
            for line in f.read_text(encoding="utf-8").splitlines():
                try:
                    d = json.loads(line)
                    out[d["ref"]] = d["error"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash
        done = self.refs()
        return {r: e for r, e in out.items() if r not in done}

    def record_failure(self, ref: str, error: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "failures.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"ref": ref, "error": error}) + "\n")
