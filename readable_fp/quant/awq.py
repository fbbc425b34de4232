"""AWQ checkpoints (quant_method `awq`, or AutoAWQ's quant_config.json), 4-bit with zero points.

AutoAWQ writes two packings (`awq/modules/linear/gemm.py`, `gemv.py`, from_linear):
- GEMM (also loaded by the exllama and ipex kernels): `qweight` int32 (in, out/8) packs eight
  *output* columns per word, nibble j holding column 8c + [0, 2, 4, 6, 1, 3, 5, 7][j];
  `qzeros` (in/group, out/8) the same way; `scales` (in/group, out).
- GEMV: `qweight` int32 (out, in/8) packs eight consecutive inputs per word in order; `qzeros`
  (out, zw) and `scales` (out, 8*zw) are padded to a multiple of 8 groups.
Either way `W[o, i] = (code - zero[group(i)]) * scale[group(i)]` with group(i) = i // group_size.
compressed-tensors' AutoAWQConverter re-packs GEMM into its own format but does not dequantise,
so the unpacking is ours (shared with GPTQ, packing.py); the tests check GEMM against that
converter. GEMV-fast and Marlin layouts, and AWQ without zero points (AutoAWQ cannot pack it),
are refused.
"""
from __future__ import annotations

import torch

from ..errors import FingerprintError
from . import Rows, Stored, check, packed_modules
from .gptq import _dequantise
from .packing import unpack

_GEMM_COLUMN_OF_NIBBLE = [0, 2, 4, 6, 1, 3, 5, 7]
_NIBBLE_OF_GEMM_COLUMN = [_GEMM_COLUMN_OF_NIBBLE.index(c) for c in range(8)]  # [0, 4, 1, 5, 2, 6, 3, 7]
_GEMM_LAYOUTS = ("gemm", "exllama", "ipex")


def plan(method: str, settings: dict, names: list[str], raw, source: str) -> dict[str, Stored]:
    bits = int(settings.get("bits", settings.get("w_bit", 4)))
    group = int(settings.get("group_size", settings.get("q_group_size", 128)))
    version = str(settings.get("version", "gemm")).lower()
    check(bits == 4, source, f"AWQ with {bits} bits is not read (AutoAWQ packs 4)")
    check(version in _GEMM_LAYOUTS + ("gemv",), source, f"AWQ '{version}' packing is not read (gemm and gemv are)")
    check(settings.get("zero_point", True), source, "AWQ without zero points is not read (AutoAWQ cannot pack it)")
    check(group > 0, source, f"AWQ group size {group} is not read")
    gemm = version in _GEMM_LAYOUTS
    out: dict[str, Stored] = {}
    for m in packed_modules(names, source):
        n = f"{m}.qweight"
        out[f"{m}.weight"] = Stored(
            parts=(n, f"{m}.qzeros", f"{m}.scales"), label="awq4",
            storage=f"awq int4 {'gemm' if gemm else 'gemv'}, group {group}, zero points",
            shape=_gemm_shape(raw, n) if gemm else _gemv_shape(raw, n),
            read=(_gemm if gemm else _gemv)(m, group, raw, source))
    return out


def _gemm_shape(raw, q):
    return lambda: (raw.raw_shape(q)[1] * 8, raw.raw_shape(q)[0])


def _gemv_shape(raw, q):
    return lambda: (raw.raw_shape(q)[0], raw.raw_shape(q)[1] * 8)


def _columns(words: torch.Tensor, count: int) -> torch.Tensor:
    """GEMM words -> codes in true column order."""
    codes = unpack(words, 4, words.shape[1] * 8, dim=1)
    codes = codes.view(words.shape[0], -1, 8)[..., _NIBBLE_OF_GEMM_COLUMN].reshape(words.shape[0], -1)
    return codes[:, :count]


def _gemm(m: str, group: int, raw, source: str):
    def read(rows: Rows) -> torch.Tensor:
        _int32(raw, m, source)
        words = raw.raw(f"{m}.qweight")
        n_in, n_out = words.shape[0], words.shape[1] * 8
        scales = raw.raw(f"{m}.scales").float()
        groups = -(-n_in // group)
        check(tuple(scales.shape) == (groups, n_out), source,
              f"'{m}.scales' has shape {tuple(scales.shape)}; a {n_out}x{n_in} weight in groups of {group} "
              f"needs {(groups, n_out)}")
        codes, zeros = _columns(words, n_out), _columns(raw.raw(f"{m}.qzeros"), n_out)
        check(tuple(zeros.shape) == (groups, n_out), source,
              f"'{m}.qzeros' holds {tuple(zeros.shape)} zero points; scales {(groups, n_out)}")
        if rows is not None:
            sel = torch.as_tensor(list(rows), dtype=torch.long)
            codes, zeros, scales = codes[:, sel], zeros[:, sel], scales[:, sel]
        return _dequantise(codes, zeros, scales, torch.arange(n_in) // group).T

    return read


def _gemv(m: str, group: int, raw, source: str):
    def read(rows: Rows) -> torch.Tensor:
        _int32(raw, m, source)
        words = raw.raw(f"{m}.qweight", rows)
        n_in = words.shape[1] * 8
        groups = -(-n_in // group)
        scales = raw.raw(f"{m}.scales", rows).float()
        zwords = raw.raw(f"{m}.qzeros", rows)
        check(scales.shape[1] >= groups and zwords.shape[1] * 8 >= groups, source,
              f"'{m}': scales {tuple(scales.shape)} / qzeros {tuple(zwords.shape)} hold fewer than {groups} groups")
        try:
            codes = unpack(words, 4, n_in, dim=1)
            zeros = unpack(zwords, 4, groups, dim=1)
        except ValueError as e:
            raise FingerprintError(f"{source}: '{m}': {e}") from None
        return _dequantise(codes.T, zeros.T, scales[:, :groups].T, torch.arange(n_in) // group).T

    return read


def _int32(raw, m: str, source: str) -> None:
    for part in ("qweight", "qzeros"):
        dt = raw.raw_dtype(f"{m}.{part}")
        check(dt == "I32", source, f"'{m}.{part}' is {dt}, not int32")
