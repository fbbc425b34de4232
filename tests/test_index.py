"""`readable-fp index add` on a local Ray runtime, `identify` and `index show`.

The batch test runs `index add` as users do (a process of its own, 2 Ray workers, 6 models), kills
one worker while it fingerprints a model, and checks that the rerun completes the index with every
model exactly once.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from readable_fp.cli import main
from readable_fp.index_store import Index

from helpers import LLAMA_TINY, perturbed_copy, save_tiny

ADD = ["index", "add", "--workers", "2", "--memory-gb", "0.5", "--no-progress"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> list[Path]:
    """Four independent tiny Llamas and two light perturbations of the first (its derivatives)."""
    root = tmp_path_factory.mktemp("index-models")
    out = []
    for seed in range(4):
        save_tiny("llama", root / f"seed{seed}", seed=seed, **LLAMA_TINY)
        out.append(root / f"seed{seed}")
    for k in range(2):
        out.append(perturbed_copy(root / "seed0", root / f"seed0-tuned{k}", 0.002, seed=k))
    return out


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "readable_fp.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, HF_HUB_OFFLINE="1"))


def _rows(index: Path) -> list[str]:
    """Every ref of every part file, duplicates included."""
    return [r for p in sorted(index.glob("part-*.parquet")) for r in pq.read_table(p, columns=["ref"]).column("ref").to_pylist()]


def _kill_a_worker_mid_task(proc: subprocess.Popen, timeout: float = 240) -> str:
    """SIGKILL the first Ray worker seen fingerprinting a model (Ray titles it ray::index_row)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for p in psutil.Process(proc.pid).children(recursive=True):
            try:
                title = " ".join(p.cmdline())
            except psutil.Error:
                continue
            if title.startswith("ray::index_row"):
                p.send_signal(signal.SIGKILL)
                return title
        time.sleep(0.05)
    raise AssertionError("no Ray worker was seen running index_row")


def test_a_killed_worker_loses_nothing_and_the_rerun_completes(models, tmp_path):
    index = tmp_path / "index"
    cmd = [sys.executable, "-m", "readable_fp.cli", *ADD, "--retries", "0", "--save-invariants", "--index", index,
           *models]
    proc = subprocess.Popen(list(map(str, cmd)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, HF_HUB_OFFLINE="1"))
    killed = _kill_a_worker_mid_task(proc)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, (killed, out, err[-2000:])
    assert "failed 1" in out and "its worker died" in out, out
    first = _rows(index)
    assert len(first) == len(set(first)) == 5

    again = _cli(*ADD, "--save-invariants", "--index", index, *models)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "added 1, already there 5, failed 0" in again.stdout
    rows = _rows(index)
    assert len(rows) == len(set(rows)) == 6 and set(rows) == {str(m.resolve()) for m in models}
    assert Index(index).failures() == {}
    assert len(list((index / "invariants").iterdir())) == 6  # the killed model's too, from the rerun

    third = _cli(*ADD, "--index", index, *models)  # nothing left to do: no Ray, no new part
    assert third.returncode == 0 and "added 0, already there 6" in third.stdout
    assert _rows(index) == rows


def test_identify_names_the_base_with_exact_ics_and_verdict(models, tmp_path, capsys):
    index = tmp_path / "index"
    base, others, derived = models[0], models[1:4], models[4:]
    assert main([*ADD, "--index", str(index), "--save-invariants", str(base), *map(str, others)]) == 0
    capsys.readouterr()
    for d in derived:
        assert main(["identify", str(d), "--index", str(index), "--json", "--no-progress"]) == 0
        res = json.loads(capsys.readouterr().out)
        top = res["candidates"][0]
        assert top["ref"] == str(base.resolve()) and top["verdict"] == "same base" and top["ics"] > 90
        assert abs(top["estimated_ics"] - top["ics"]) < 10
        assert all(c["verdict"] != "same base" for c in res["candidates"][1:])
    assert main(["identify", str(models[2]), "--index", str(index), "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "rank  ICS est." in table and "same base" in table  # itself, indexed
    assert main(["index", "show", "--index", str(index)]) == 0
    assert f"{index}: 4 models, 0 failed, 4 with invariants" in capsys.readouterr().out


def test_failures_are_recorded_per_model_and_the_batch_goes_on(models, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    index = tmp_path / "index"
    assert main([*ADD, "--index", str(index), str(models[1]), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "added 1, already there 0, failed 1" in out and f"FAILED {bad}: " in out and "not valid JSON" in out
    assert main(["index", "show", "--index", str(index), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [e["ref"] for e in shown["entries"]] == [str(models[1].resolve())] and str(bad) in shown["failures"]


def test_other_schema_versions_and_empty_indexes_are_refused(models, tmp_path, capsys):
    index = tmp_path / "index"
    index.mkdir()
    assert main(["identify", str(models[0]), "--index", str(index), "--no-progress"]) == 2
    assert "the index is empty" in capsys.readouterr().err
    assert main(["identify", str(models[0]), "--index", str(tmp_path / "nowhere"), "--no-progress"]) == 2
    assert "no such index folder" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main([*ADD, "--index", str(tmp_path / "file"), str(models[0])]) == 2  # refused before Ray starts
    assert "not a folder" in capsys.readouterr().err
    pq.write_table(pa.table({"ref": ["x"]}).replace_schema_metadata({b"readable_fp.index": b"99"}),
                   index / "part-000001.parquet")
    assert main(["identify", str(models[0]), "--index", str(index), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "index schema version 99, this readable-fp reads version 1" in err and err.count("\n") == 1


def test_the_shipped_index_is_current_and_identifies_the_bundled_models(capsys):
    """pretrained/index holds exactly what bench/index_bundled.py writes today (same bytes), and
    `identify` uses it when no --index is given."""
    import hashlib
    import tempfile

    from bench.index_bundled import rows
    from readable_fp import bundled
    from readable_fp.index_store import SHIPPED

    fresh = Index(tempfile.mkdtemp()).append(rows())
    shipped = SHIPPED / "part-000001.parquet"
    assert hashlib.sha256(fresh.read_bytes()).digest() == hashlib.sha256(shipped.read_bytes()).digest(), \
        "pretrained/index is stale: run python bench/index_bundled.py"
    assert main(["identify", str(bundled.model("minilm-int8")), "--json", "--no-progress"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [c["ref"] for c in res["candidates"][:2]] in (["bundled:minilm-int8", "bundled:minilm"],
                                                          ["bundled:minilm", "bundled:minilm-int8"])
    assert res["candidates"][0]["estimated_ics"] > 90 and res["candidates"][2]["estimated_ics"] < 10
    assert res["candidates"][0]["ics"] is None  # no invariants ship: estimates only
    # the export alone, without tokenizer files, is keyed by token ids: said, not silently mismatched
    assert main(["identify", str(bundled.path("minilm-int8")), "--no-progress"]) == 0
    assert "no tokenizer files" in capsys.readouterr().out


def test_index_add_on_an_existing_cluster_by_address(models, tmp_path):
    """`--address` joins a cluster started with `ray start --head` (token authentication on, as Ray
    2.59+ clusters have it: the token travels in RAY_AUTH_TOKEN). `ray stop` ends it: no other Ray
    runs during the test suite."""
    import secrets
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), HF_HUB_OFFLINE="1")
    ray = str(Path(sys.executable).with_name("ray"))  # the CLI installed beside this Python
    head = subprocess.run([ray, "start", "--head", "--num-cpus=2", f"--port={port}", "--include-dashboard=false",
                           "--disable-usage-stats"], capture_output=True, text=True, timeout=120, env=env)
    assert head.returncode == 0, head.stderr[-2000:]
    try:
        index = tmp_path / "index"
        done = subprocess.run([sys.executable, "-m", "readable_fp.cli", *ADD, "--index", str(index), "--address",
                               f"127.0.0.1:{port}", *map(str, models[:3])], capture_output=True, text=True,
                              timeout=600, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "added 3, already there 0, failed 0" in done.stdout
        assert sorted(_rows(index)) == sorted(str(m.resolve()) for m in models[:3])
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, timeout=120, env=env)
