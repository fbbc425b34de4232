"""`readable-fp index add`: fingerprint many models into an index, in parallel, on Ray.

One Ray task per model (one CPU, a declared memory share, so a node runs only as many as fit);
a local Ray runtime by default, or an existing cluster (``address``; readable-fp must be installed
on its nodes). Each finished model becomes a row (`index_row`); rows are written to the index in
batches as they arrive (`Index.append`), so a crash loses at most one batch, and a rerun skips every
model already in the index: the batch resumes. A model that fails, or whose worker dies, is recorded
with its one-line reason in the index's failures and the others go on.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import FingerprintError
from .index_store import Index, entry_id

FLUSH_ROWS, FLUSH_SECONDS = 32, 60.0


def normal_ref(ref: str) -> str:
    """A local path made absolute (the same model added from another folder is the same entry);
    anything else (a Hub id) as given."""
    p = Path(ref).expanduser()
    return str(p.resolve()) if p.exists() else ref


def index_row(ref: str, invariants_dir: str | None = None, n_tokens: int | None = None) -> dict:
    """The index row of one model (runs inside a Ray task; also usable alone). Never raises for a
    bad model: returns ``{"ref", "error"}`` with the one-line reason instead."""
    import numpy as np

    from . import api, signature
    from .errors import printable
    from .fingerprint import from_invariants

    try:
        inv = api.invariants(ref, n_tokens=n_tokens, progress=False)
        fp = from_invariants(inv)
        sig = signature.of(inv)
        saved = None
        if invariants_dir is not None:
            Path(invariants_dir).mkdir(parents=True, exist_ok=True)
            saved = f"invariants/{entry_id(ref)}.safetensors"
            inv.save(Path(invariants_dir) / f"{entry_id(ref)}.safetensors")
    except FingerprintError as e:
        return {"ref": ref, "error": printable(str(e))}
    except Exception as e:  # a bug or an input nobody foresaw: recorded, the batch goes on
        first = str(e).splitlines()[0] if str(e) else ""
        return {"ref": ref, "error": printable(f"{type(e).__name__}: {first}")}
    record = {k: v for k, v in fp.record.items() if k not in ("started", "finished")}  # no clock in the index
    return {"ref": ref, "revision": (record["model"].get("hub") or {}).get("commit") or "",
            "record": json.dumps(record, sort_keys=True, ensure_ascii=False),
            "latent": np.asarray(fp.latent, dtype=np.float32).tolist(), "signature": sig.to_bytes(),
            "vector": sig.vector.tolist(), "invariants": saved,
            "vocab_sha256": hashlib.sha256("\n".join(inv.probes).encode("utf-8")).hexdigest()}


@dataclass
class AddReport:
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in the index
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def _start_ray(address: str | None, workers: int | None):
    import ray

    if ray.is_initialized():
        return False
    kw = dict(include_dashboard=False, logging_level="ERROR", log_to_driver=False, configure_logging=False)
    if address:
        ray.init(address=address, **kw)
    else:  # results are small rows: a small object store leaves the memory to the models
        ray.init(num_cpus=workers or os.cpu_count(), object_store_memory=256 << 20, **kw)
    return True


def add(models: list[str], index_dir: str | os.PathLike, address: str | None = None, workers: int | None = None,
        memory_gb: float = 8.0, save_invariants: bool = False, retries: int = 1, n_tokens: int | None = None,
        progress: bool = True) -> AddReport:
    """Fingerprint `models` into the index at `index_dir` (see the module's docstring)."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    idx, report = Index(index_dir).check(create=True), AddReport()
    refs = list(dict.fromkeys(normal_ref(m) for m in models))
    done = idx.refs()
    report.skipped = [r for r in refs if r in done]
    todo = [r for r in refs if r not in done]
    if not todo:
        report.seconds = time.perf_counter() - t0
        return report
    import ray

    started = _start_ray(address, workers)
    try:
        # the declared share is also the budget the terms are checked against inside the task
        env = {"env_vars": {"READABLE_FP_MEMORY_GB": str(memory_gb)}}
        task = ray.remote(index_row).options(num_cpus=1, memory=int(memory_gb * (1 << 30)), max_retries=retries,
                                             runtime_env=env)
        inv_dir = str(idx.dir / "invariants") if save_invariants else None
        pending = {task.remote(r, inv_dir, n_tokens): r for r in todo}
        _collect(pending, idx, report, tqdm(total=len(todo), desc="index add", unit="model", disable=not progress))
    finally:
        if started:
            ray.shutdown()
    report.seconds = time.perf_counter() - t0
    return report


def _collect(pending: dict, idx: Index, report: AddReport, bar) -> None:
    """Rows as their tasks finish, written every FLUSH_ROWS rows or FLUSH_SECONDS, and at the end
    (also when interrupted: what is finished is kept)."""
    import ray

    rows, last = [], time.monotonic()
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=FLUSH_SECONDS)
            for obj in ready:
                ref = pending.pop(obj)
                try:
                    row = ray.get(obj)
                except Exception as e:  # the worker died (killed, out of memory) and retries ran out
                    row = {"ref": ref, "error": f"its worker died ({type(e).__name__}); run index add again"}
                if "error" in row:
                    report.failed[ref] = row["error"]
                    idx.record_failure(ref, row["error"])
                else:
                    rows.append(row)
                    report.added.append(ref)
                bar.update(1)
            if rows and (len(rows) >= FLUSH_ROWS or time.monotonic() - last >= FLUSH_SECONDS or not pending):
                idx.append(rows)
                rows, last = [], time.monotonic()
    finally:
        idx.append(rows)
        bar.close()
