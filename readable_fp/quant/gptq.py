"""GPTQ checkpoints (quant_method `gptq`: AutoGPTQ, GPTQModel, optimum; or a quantize_config.json).

Per linear layer with `in` inputs, `out` outputs, `b` bits and groups of `group_size` inputs:
- `qweight` int32 (in*b/32, out): codes packed along the *input* dimension (packing.py);
- `qzeros` int32 (groups, out*b/32): zero points packed along the output dimension;
- `scales` (groups, out); `g_idx` int32 (in,): the group of each input row. With act-order
  (`desc_act`) groups are not contiguous, so g_idx is the only truth; without it, i // group_size.
Then `W[i, o] = scales[g_idx[i], o] * (code[i, o] - zero[g_idx[i], o])`, transposed to out x in.
`checkpoint_format: gptq` (v1, the default and what AutoGPTQ wrote) stores every zero point
minus one (GPTQModel's `convert_gptq_v1_to_v2`); `gptq_v2` stores it as is. Symmetric and
asymmetric schemes differ only in the zeros stored. GPTQModel's `dynamic` overrides (per-module
bits or group size, `-:` exclusions) are honoured. Marlin, BitBLAS, planar (`gptq_p`) and
non-int32 packings are other layouts and are refused.
"""
from __future__ import annotations

import re

import torch

from ..errors import FingerprintError
from . import Rows, Stored, check, packed_modules
from .packing import unpack

_FORMATS = ("gptq", "gptq_v2")


def plan(method: str, settings: dict, names: list[str], raw, source: str) -> dict[str, Stored]:
    fmt = str(settings.get("checkpoint_format") or settings.get("format") or "gptq").lower()
    check(fmt in _FORMATS and not settings.get("is_marlin_format"), source,
          f"GPTQ checkpoint format '{'marlin' if settings.get('is_marlin_format') else fmt}' is not read (only gptq and gptq_v2)")
    check(str(settings.get("pack_dtype", "int32")).replace("torch.", "") == "int32", source,
          f"GPTQ pack_dtype {settings.get('pack_dtype')} is not read (only int32 words)")
    have = set(names)
    out: dict[str, Stored] = {}
    for m in packed_modules(names, source):
        cfg = _module_settings(settings, m)
        check(cfg is not None, source, f"'{m}' is packed, but the GPTQ config's dynamic rules exclude it")
        out[f"{m}.weight"] = _stored(m, cfg, fmt, f"{m}.g_idx" in have, raw, source)
    return out


def _module_settings(settings: dict, module: str) -> dict | None:
    """The settings for one module after GPTQModel's `dynamic` rules; None when excluded."""
    for key, override in (settings.get("dynamic") or {}).items():
        negative = key.startswith("-:")
        pattern = key[2:] if key[:2] in ("+:", "-:") else key
        if re.match(pattern, module):
            return None if negative else {**settings, **(override or {})}
    return settings


def _stored(m: str, cfg: dict, fmt: str, has_g_idx: bool, raw, source: str) -> Stored:
    bits, group = int(cfg.get("bits", 4)), int(cfg.get("group_size", 128))
    check(bits in (2, 3, 4, 8), source, f"GPTQ with {bits} bits is not read (2, 3, 4 or 8)")
    q = f"{m}.qweight"

    def shape() -> tuple[int, int]:
        rows, cols = raw.raw_shape(q)
        return cols, rows * 32 // bits

    def read(rows: Rows) -> torch.Tensor:
        for part in ("qweight", "qzeros") + (("g_idx",) if has_g_idx else ()):
            check(raw.raw_dtype(f"{m}.{part}") == "I32", source, f"'{m}.{part}' is {raw.raw_dtype(f'{m}.{part}')}, not int32")
        words = raw.raw(q)
        check(words.dim() == 2 and (words.shape[0] * 32) % bits == 0, source, f"'{q}' has shape {tuple(words.shape)}")
        n_in, n_out = words.shape[0] * 32 // bits, words.shape[1]
        scales = raw.raw(f"{m}.scales").float()
        groups = scales.shape[0]
        g_idx = raw.raw(f"{m}.g_idx").long() if has_g_idx else torch.arange(n_in) // (group if group > 0 else n_in)
        check(scales.shape == (groups, n_out) and g_idx.shape == (n_in,) and int(g_idx.min()) >= 0
              and int(g_idx.max()) < groups, source,
              f"'{m}': scales {tuple(scales.shape)} and g_idx do not fit a {n_out}x{n_in} {bits}-bit weight")
        try:
            codes = unpack(words, bits, n_in, dim=0)
            zeros = unpack(raw.raw(f"{m}.qzeros"), bits, n_out, dim=1).to(torch.int16)
        except ValueError as e:
            raise FingerprintError(f"{source}: '{m}': {e}") from None
        check(zeros.shape[0] == groups, source, f"'{m}.qzeros' has {zeros.shape[0]} groups, scales {groups}")
        if fmt == "gptq":
            zeros = zeros + 1
        if rows is not None:
            sel = torch.as_tensor(list(rows), dtype=torch.long)
            codes, zeros, scales = codes[:, sel], zeros[:, sel], scales[:, sel]
        return _dequantise(codes, zeros, scales, g_idx).T

    order = ", act-order" if cfg.get("desc_act") else ""
    sym = "symmetric" if cfg.get("sym", True) else "asymmetric"
    return Stored(parts=(q, f"{m}.qzeros", f"{m}.scales") + ((f"{m}.g_idx",) if has_g_idx else ()),
                  label=f"gptq{bits}", shape=shape, read=read,
                  storage=f"gptq int{bits}, group {group}{order}, {sym}, {fmt} zeros")


def _dequantise(codes: torch.Tensor, zeros: torch.Tensor, scales: torch.Tensor, group_of_row: torch.Tensor) -> torch.Tensor:
    """scale * (code - zero), row i using group group_of_row[i]; in place, so a 7B MLP weight
    peaks near three float copies rather than five."""
    w = codes.to(torch.float32)
    w.sub_(zeros[group_of_row].to(torch.float32))
    return w.mul_(scales[group_of_row])
