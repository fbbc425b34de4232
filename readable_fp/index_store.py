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
from dataclasses import dataclass
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


@dataclass
class Entries:
    """The rows of an index, deduplicated, with the search vectors as one matrix."""
    refs: list[str]
    revisions: list[str]
    records: list[dict]
    latents: np.ndarray  # N x 512
    vectors: np.ndarray  # N x DIM
    vocab: list[str]
    invariants: list[str]
    signatures: list[bytes]

    def __len__(self) -> int:
        return len(self.refs)


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

    def _table(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        for p in self.parts():
            try:
                t = pq.read_table(p)
            except Exception as e:
                raise FingerprintError(f"{p}: not a readable Parquet file ({type(e).__name__})") from None
            got = (t.schema.metadata or {}).get(_META)
            if got != VERSION.encode():
                raise FingerprintError(f"{p}: index schema version {got.decode() if got else 'none'}, this readable-fp "
                                       f"reads version {VERSION}")
            tables.append(t.select(schema().names).cast(schema()))
        return pa.concat_tables(tables) if tables else schema().empty_table()

    def entries(self) -> Entries:
        t = self._table()
        refs = t.column("ref").to_pylist()
        first = {}
        for i, r in enumerate(refs):
            first.setdefault(r, i)
        import pyarrow as pa

        t = t.take(pa.array(sorted(first.values()), type=pa.int64()))
        n = t.num_rows

        def matrix(col, width):
            flat = t.column(col).combine_chunks().values.to_numpy(zero_copy_only=False) if n else np.zeros(0)
            return np.asarray(flat, dtype=np.float32).reshape(n, width)

        return Entries(t.column("ref").to_pylist(), t.column("revision").to_pylist(),
                       [json.loads(r) for r in t.column("record").to_pylist()], matrix("latent", LATENT),
                       matrix("vector", DIM), t.column("vocab_sha256").to_pylist(), t.column("invariants").to_pylist(),
                       t.column("signature").to_pylist())

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
