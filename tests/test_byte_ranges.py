"""The pieces under the Hub reader, on local files: request planning, safetensors read by byte
range (equal to safetensors' own reader; hostile headers refused in one line), the range cache."""
from __future__ import annotations

import json
import random
import struct

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from readable_fp.errors import FingerprintError
from readable_fp.formats.byte_ranges import LocalFile, plan, union
from readable_fp.formats.safetensors_ranges import RangedSafetensors


def test_plan_covers_every_range_and_bridges_within_its_budget():
    rng = random.Random(0)
    rows = sorted(rng.sample(range(50_000), 4096))
    ranges = [(r * 100, (r + 1) * 100) for r in rows]
    need = sum(b - a for a, b in union(ranges))
    for budget in (0, 0.02 * need, 100 * need):
        requests, spent = plan(ranges, budget)
        assert spent <= budget and sum(b - a for a, b in requests) == need + spent
        assert all(any(ra <= a and b <= rb for ra, rb in requests) for a, b in ranges)
        assert plan(list(reversed(ranges)), budget) == (requests, spent)  # order does not matter
    assert len(plan(ranges, 0)[0]) > len(plan(ranges, 0.02 * need)[0]) > len(plan(ranges, 100 * need)[0]) == 1


def test_ranged_safetensors_reads_what_safe_open_reads(tmp_path):
    g = torch.Generator().manual_seed(0)
    tensors = {"emb": torch.randn(300, 16, generator=g).to(torch.bfloat16), "w": torch.randn(7, 5, generator=g),
               "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 4), "codes": torch.randint(0, 255, (9, 3), dtype=torch.uint8)}
    save_file(tensors, tmp_path / "m.safetensors", metadata={"format": "pt"})
    ranged = RangedSafetensors(LocalFile(tmp_path / "m.safetensors"))
    rows = [299, 0, 17, 17, 150]
    with safe_open(str(tmp_path / "m.safetensors"), "pt") as f:
        for name in tensors:
            assert ranged.meta[name] == (tuple(f.get_slice(name).get_shape()), f.get_slice(name).get_dtype())
            assert torch.equal(ranged.read(name, None), f.get_tensor(name)), name
        assert torch.equal(ranged.read("emb", rows), f.get_tensor("emb")[rows])


def _hostile(tmp_path, header, data: bytes = b"\0" * 64, length: int | None = None):
    raw = json.dumps(header).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return LocalFile(path)


@pytest.mark.parametrize("header, length, says", [
    ({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 64]}}, 10**12, "header length"),
    ({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4000000]}}, None, "run past the end"),
    ({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, 60]}}, None, "does not fill"),
    ({"w": {"dtype": "F32", "shape": [4, 4], "data_offsets": [32, 16]}}, None, "does not fill"),
    ({"w": {"dtype": "Q4", "shape": [4, 4], "data_offsets": [0, 64]}}, None, "no valid dtype"),
    ({"w": {"dtype": "F32", "shape": [-4, 4], "data_offsets": [0, 64]}}, None, "no valid dtype"),
    (["not", "a", "dict"], None, "not a JSON object"),
])
def test_hostile_safetensors_headers_are_refused(tmp_path, header, length, says):
    with pytest.raises(FingerprintError, match=says) as e:
        RangedSafetensors(_hostile(tmp_path, header, length=length))
    assert "\n" not in str(e.value)


def test_range_cache_returns_what_was_stored_and_nothing_else(tmp_path, monkeypatch):
    from readable_fp.formats.hub_file import RangeCache

    monkeypatch.setenv("READABLE_FP_CACHE", str(tmp_path))
    c = RangeCache("org/m", "a" * 40, "../model.safetensors", 1000)
    assert c.dir.is_relative_to(tmp_path / "hub")
    c.put({(10, 20): bytearray(range(10)), (20, 30): bytearray(range(10, 20)), (500, 510): bytearray(10)})
    again = RangeCache("org/m", "a" * 40, "../model.safetensors", 1000)  # a later run
    assert again.spans == [(10, 30), (500, 510)]
    assert again.has(12, 28) and not again.has(5, 15) and not again.has(25, 505)
    assert again.get_many([(15, 25), (500, 500)]) == [bytearray(range(5, 15)), bytearray()]
