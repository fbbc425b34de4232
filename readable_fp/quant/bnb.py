"""bitsandbytes checkpoints as transformers saves them (quant_method `bitsandbytes`).

LLM.int8 (`load_in_8bit`): `weight` holds int8 codes row by row and `SCB` each row's absolute
maximum, so `w = code * SCB[row] / 127` (bitsandbytes' `int8_vectorwise_dequant`).
`weight_format` must be 0 ("row"); the GPU tile layouts of old releases are refused.

4-bit (`load_in_4bit`, NF4 or FP4): `weight` is the flattened tensor packed two codes per byte,
the first code in the high nibble; `weight.quant_map` is the 16-value code book and
`weight.absmax` one scale per `blocksize` consecutive values, so `w = quant_map[code] *
absmax[i // blocksize]`. With double quantisation (`bnb_4bit_use_double_quant`) absmax is itself
8-bit: `absmax = nested_quant_map[absmax_code] * nested_absmax[j // nested_blocksize] +
nested_offset`. The JSON in `weight.quant_state.bitsandbytes__nf4` (or `__fp4`) gives the
quant type, block sizes, offset and the original shape. This is `QuantState.from_dict` +
`dequantize_4bit` of bitsandbytes 0.50, whose CPU path we re-implement rather than import:
importing bitsandbytes on a CPU-only machine reaches for compiled kernels on the Hub
(`kernels-community/...`) and takes ~6 s. The tests check every value against bitsandbytes.
"""
from __future__ import annotations

import json
import math

import torch

from . import Rows, Stored, check, module_of, select

_QS = (".weight.quant_state.bitsandbytes__nf4", ".weight.quant_state.bitsandbytes__fp4")
_BYTES_PER_STEP = 1 << 23


def plan(method: str, settings: dict, names: list[str], raw, source: str) -> dict[str, Stored]:
    out: dict[str, Stored] = {}
    for n in names:
        m = module_of(n, ".SCB")
        if m is not None:
            out[f"{m}.weight"] = _int8(m, set(names), raw, source)
        for suffix in _QS:
            m = module_of(n, suffix)
            if m is not None:
                out[f"{m}.weight"] = _four_bit(m, n, set(names), raw, source)
    return out


def _int8(m: str, have: set[str], raw, source: str) -> Stored:
    w, scb, fmt = f"{m}.weight", f"{m}.SCB", f"{m}.weight_format"

    def read(rows: Rows) -> torch.Tensor:
        check(raw.raw_dtype(w) == "I8", source, f"'{w}' has SCB scales but is stored as {raw.raw_dtype(w)}, not int8")
        if fmt in have:
            layout = int(raw.raw(fmt).reshape(-1)[0])
            check(layout == 0, source, f"'{fmt}' is {layout}: a GPU tile layout of old bitsandbytes, not row-major int8")
        check(len(raw.raw_shape(w)) == 2 and raw.raw_shape(scb) in ((raw.raw_shape(w)[0],), (raw.raw_shape(w)[0], 1)), source,
              f"'{scb}' has shape {raw.raw_shape(scb)}; the int8 weight {raw.raw_shape(w)} needs one scale per row")
        scale = select(raw.raw(scb).float().reshape(-1), rows)
        return raw.raw(w, rows).float() * scale.view(-1, 1) * (1.0 / 127)

    parts = (w, scb) + ((fmt,) if fmt in have else ())
    return Stored(parts=parts, label="int8", storage="bitsandbytes LLM.int8: int8 rows, absmax per row (SCB)",
                  shape=lambda: raw.raw_shape(w), read=read)


def _four_bit(m: str, qs_name: str, have: set[str], raw, source: str) -> Stored:
    w = f"{m}.weight"
    nested = f"{w}.nested_absmax" in have
    parts = (w, qs_name, f"{w}.absmax", f"{w}.quant_map") + ((f"{w}.nested_absmax", f"{w}.nested_quant_map") if nested else ())
    kind = qs_name.rsplit("__", 1)[1]
    state: dict = {}

    def qs() -> dict:
        if not state:
            state.update(_quant_state(raw.raw(qs_name), qs_name, kind, nested, source))
        return state

    def read(rows: Rows) -> torch.Tensor:
        s = qs()
        n = math.prod(s["shape"])
        data = raw.raw(w).contiguous().view(torch.uint8).reshape(-1)  # quant_storage may be any dtype: the bytes count
        check(data.numel() == (n + 1) // 2, source, f"'{w}' holds {data.numel()} bytes; shape {s['shape']} needs {(n + 1) // 2}")
        absmax = _absmax(raw, w, s, nested, math.ceil(n / s["blocksize"]), source)
        code = raw.raw(f"{w}.quant_map").float().reshape(-1)
        check(code.numel() == 16, source, f"'{w}.quant_map' has {code.numel()} values, not 16")
        byte = torch.arange(256)
        pairs = torch.stack([code[byte >> 4], code[byte & 15]], dim=1)  # each byte value -> its two weights
        flat = torch.empty(2 * data.numel())
        for a in range(0, data.numel(), _BYTES_PER_STEP):
            flat[2 * a: 2 * (a + _BYTES_PER_STEP)] = pairs[data[a:a + _BYTES_PER_STEP].long()].reshape(-1)
        bs, full = s["blocksize"], n - n % s["blocksize"]
        flat[:full].view(-1, bs).mul_(absmax[: full // bs].view(-1, 1))
        flat[full:n].mul_(absmax[full // bs:])  # a last, partial block
        return select(flat[:n].reshape(s["shape"]), rows)

    return Stored(parts=parts, label=kind, shape=lambda: tuple(qs()["shape"]), read=read,
                  storage=f"bitsandbytes 4-bit {kind.upper()}: 2 codes per byte, block absmax"
                          + (" (double-quantised)" if nested else ""))


def _quant_state(t: torch.Tensor, name: str, kind: str, nested: bool, source: str) -> dict:
    try:
        s = json.loads(bytes(t.contiguous().view(torch.uint8).reshape(-1).tolist()).decode("utf-8"))
        ok = (s["quant_type"] == kind and isinstance(s["blocksize"], int) and s["blocksize"] > 0
              and len(s["shape"]) == 2 and all(isinstance(d, int) and d > 0 for d in s["shape"]))
        if nested:
            ok = ok and isinstance(s["nested_blocksize"], int) and s["nested_blocksize"] > 0 \
                and isinstance(s["nested_offset"], (int, float))
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        ok = False
    check(ok, source, f"'{name}' is not a bitsandbytes {kind} quant state this reader understands")
    return s


def _absmax(raw, w: str, s: dict, nested: bool, blocks: int, source: str) -> torch.Tensor:
    a = raw.raw(f"{w}.absmax").reshape(-1)
    check(a.numel() == blocks, source, f"'{w}.absmax' has {a.numel()} scales; {blocks} blocks of {s['blocksize']} need as many")
    if not nested:
        return a.float()
    code = raw.raw(f"{w}.nested_quant_map").float().reshape(-1)
    outer = raw.raw(f"{w}.nested_absmax").float().reshape(-1)
    check(a.dtype == torch.uint8 and code.numel() == 256 and outer.numel() == math.ceil(blocks / s["nested_blocksize"]),
          source, f"'{w}.absmax' is not double-quantised the way its quant state says")
    return code[a.long()] * outer.repeat_interleave(s["nested_blocksize"])[:blocks] + float(s["nested_offset"])
