"""FP8 weights with float scales: quant_method `fp8` and `fbgemm_fp8`.

Three layouts reach the Hub under these names, all read as `w_fp8.float() * scale`, the scale
broadcast over the part of `w` it covers:
- block scales, `weight_scale_inv` of shape (ceil(out/bo), ceil(in/bi)) with
  `weight_block_size: [bo, bi]` in the config (DeepSeek-V3/R1, Qwen3-FP8, transformers'
  FineGrainedFP8). Despite the name the stored value multiplies: DeepSeek's `weight_dequant`
  computes `x * s`. Edge blocks may be partial. `scale_fmt: ue8m0` scales are powers of two,
  stored as F32 or F8_E8M0; either way they are plain numbers here.
- a per-tensor `weight_scale` (one number; AutoFP8's `fp8` checkpoints);
- a per-channel `weight_scale` of shape (out, 1) (fbgemm_fp8).
The element format (e4m3 or e5m2) is the stored dtype, which torch decodes exactly.
"""
from __future__ import annotations

import math

import torch

from . import Rows, Stored, check, module_of

_F8 = ("F8_E4M3", "F8_E5M2")


def plan(method: str, settings: dict, names: list[str], raw, source: str) -> dict[str, Stored]:
    block = settings.get("weight_block_size")
    have = set(names)
    out: dict[str, Stored] = {}
    for n in names:
        for suffix in (".weight_scale_inv", ".weight_scale"):
            m = module_of(n, suffix)
            if m is not None and f"{m}.weight" in have:
                out[f"{m}.weight"] = _stored(f"{m}.weight", n, block, raw, source, method)
    return out


def _stored(weight: str, scale: str, block, raw, source: str, method: str) -> Stored:
    def read(rows: Rows) -> torch.Tensor:
        dt = raw.raw_dtype(weight)
        check(dt in _F8, source, f"'{weight}' has a {scale.rsplit('.', 1)[1]} but is stored as {dt}, not FP8")
        w = raw.raw(weight, rows).float()
        return w * _broadcast(raw.raw(scale).float(), raw.raw_shape(weight), rows, block, scale, source)

    kind = f"{block[0]}x{block[1]} block" if block and scale.endswith("_inv") else "per-tensor or per-channel"
    return Stored(parts=(weight, scale), label="fp8", shape=lambda: raw.raw_shape(weight), read=read,
                  storage=f"{method}: FP8 weights, {kind} scales")


def _broadcast(s: torch.Tensor, shape, rows: Rows, block, name: str, source: str) -> torch.Tensor:
    """The scale for every element of the (rows of the) weight, as a broadcastable tensor."""
    check(len(shape) == 2, source, f"'{name}' scales a weight of shape {tuple(shape)}, not a matrix")
    out, inp = shape
    r = torch.arange(out) if rows is None else torch.as_tensor(list(rows), dtype=torch.long)
    if s.numel() == 1:
        return s.reshape(1, 1)
    if s.numel() == out and (s.dim() == 1 or s.shape[1] == 1):
        return s.reshape(out, 1)[r]
    check(s.dim() == 2 and bool(block), source,
          f"'{name}' has shape {tuple(s.shape)}: not a per-tensor or per-channel scale, "
          "and the config gives no weight_block_size")
    bo, bi = int(block[0]), int(block[1])
    check(tuple(s.shape) == (math.ceil(out / bo), math.ceil(inp / bi)), source,
          f"'{name}' has shape {tuple(s.shape)}; {bo}x{bi} blocks of a {out}x{inp} weight need "
          f"({math.ceil(out / bo)}, {math.ceil(inp / bi)})")
    return s[r // bo].repeat_interleave(bi, dim=1)[:, :inp]
