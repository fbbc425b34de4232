"""gpt-oss MXFP4 experts (quant_method `mxfp4`): `<name>_blocks` + `<name>_scales`.

OpenAI's release stores each MoE expert projection as OCP microscaling FP4: `_blocks` uint8
(experts, rows, groups, 16) holds 32 E2M1 values per group, two per byte (low nibble first),
and `_scales` uint8 (experts, rows, groups) one E8M0 exponent per group (value 2^(s - 127)).
transformers' `convert_moe_packed_tensors` dequantises them on the CPU and returns the tensor
exactly as gpt-oss's module holds it, (experts, in, out) (e.g. `mlp.experts.gate_up_proj`),
so that is what the logical tensor `<name>` is. Everything else in these checkpoints is bf16.
"""
from __future__ import annotations

import torch

from ..errors import FingerprintError
from . import Rows, Stored, check, module_of, select


def plan(method: str, settings: dict, names: list[str], raw, source: str) -> dict[str, Stored]:
    have = set(names)
    out: dict[str, Stored] = {}
    for n in names:
        stem = module_of(n, "_blocks")
        if stem is None:
            continue
        check(f"{stem}_scales" in have, source, f"'{n}' has no '{stem}_scales'")
        out[stem] = Stored(parts=(n, f"{stem}_scales"), label="mxfp4", shape=_shape(n, raw), read=_reader(stem, raw, source),
                           storage="mxfp4 (gpt-oss): E2M1 in groups of 32, E8M0 scales")
    return out


def _shape(blocks: str, raw):
    def shape():
        e, rows, groups, _ = raw.raw_shape(blocks)
        return e, groups * 32, rows
    return shape


def _reader(stem: str, raw, source: str):
    def read(rows: Rows) -> torch.Tensor:
        from transformers.integrations.mxfp4 import convert_moe_packed_tensors

        blocks, scales = raw.raw(f"{stem}_blocks"), raw.raw(f"{stem}_scales")
        check(blocks.dtype == torch.uint8 and scales.dtype == torch.uint8 and blocks.dim() == 4
              and blocks.shape[-1] == 16 and tuple(blocks.shape[:-1]) == tuple(scales.shape), source,
              f"'{stem}_blocks' {tuple(blocks.shape)} / _scales {tuple(scales.shape)} are not gpt-oss's MXFP4 layout")
        try:
            return select(convert_moe_packed_tensors(blocks, scales, dtype=torch.float32), rows)
        except (RuntimeError, AssertionError) as e:
            raise FingerprintError(f"{source}: cannot dequantise '{stem}' ({str(e).splitlines()[0]})") from None

    return read
