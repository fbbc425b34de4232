"""MLX checkpoints (`mlx_lm.convert -q`): config.json's `quantization` block, uint32-packed weights.

A quantised module stores `weight` as uint32 words (32/bits codes each, along the input
dimension), `scales` per group of `group_size` inputs and, in the default `affine` mode,
`biases`: `w = scale * code + bias`. The `mxfp4`, `mxfp8` and `nvfp4` modes store micro-scaled
floats with uint8 scales and no biases. The block may name single modules with their own
settings (mixed-bit recipes) or `false` for modules left in float. MLX quantises the token
embedding too, so embedding rows are read lazily here (codes, scales and biases are all
row-major). The arithmetic is MLX's own `mx.dequantize`, on the CPU.
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import FingerprintError
from . import Rows, Stored, check, module_of


def plan(method: str, settings: dict, names: list[str], raw, source: str) -> dict[str, Stored]:
    have = set(names)
    out: dict[str, Stored] = {}
    for n in names:
        m = module_of(n, ".scales")
        if m is None or f"{m}.weight" not in have:
            continue
        own = settings.get(m, {})
        check(own is not False, source, f"'{m}' holds MLX scales, but the config's quantization block says it is not quantised")
        cfg = {**settings, **(own if isinstance(own, dict) else {})}
        mode, bits, group = str(cfg.get("mode", "affine")), int(cfg.get("bits", 4)), int(cfg.get("group_size", 64))
        biases = f"{m}.biases" if f"{m}.biases" in have else None
        check((biases is not None) == (mode == "affine"), source,
              f"'{m}': MLX {mode} mode {'needs' if mode == 'affine' else 'has no'} biases")
        out[f"{m}.weight"] = Stored(
            parts=(f"{m}.weight", n) + ((biases,) if biases else ()), label=f"mlx{bits}",
            storage=f"mlx {mode} {bits}-bit, group {group}", read=_reader(m, biases, mode, bits, group, raw, source),
            shape=lambda m=m, bits=bits: (raw.raw_shape(f"{m}.weight")[0], raw.raw_shape(f"{m}.weight")[1] * 32 // bits))
    return out


def _reader(m: str, biases: str | None, mode: str, bits: int, group: int, raw, source: str):
    def read(rows: Rows) -> torch.Tensor:
        try:
            import mlx.core as mx
        except ImportError:
            raise FingerprintError(f"{source}: reading MLX-quantised weights needs the mlx package "
                                   "(pip install 'mlx[cpu]' on Linux, mlx on macOS)") from None
        dt = raw.raw_dtype(f"{m}.weight")
        check(dt == "U32", source, f"'{m}.weight' is {dt}, not MLX's uint32 words")
        w = raw.raw(f"{m}.weight", rows)
        s = raw.raw(f"{m}.scales", rows)
        check(w.dim() == 2 and s.dim() == 2, source, f"'{m}': MLX weights and scales are matrices")
        n_in = w.shape[1] * 32 // bits
        check(s.shape[0] == w.shape[0] and s.shape[1] * group == n_in, source,
              f"'{m}.scales' has shape {tuple(s.shape)}; {bits}-bit codes of {n_in} inputs "
              f"in groups of {group} need {n_in // group} per row")
        b = mx.array(raw.raw(biases, rows).float().numpy()) if biases else None
        s = mx.array(s.numpy() if s.dtype == torch.uint8 else s.float().numpy())
        try:
            x = mx.dequantize(mx.array(w.numpy()), scales=s, biases=b, group_size=group, bits=bits, mode=mode)
            x = np.array(x.astype(mx.float32), copy=True)
        except (ValueError, RuntimeError) as e:
            raise FingerprintError(f"{source}: MLX cannot dequantise '{m}' ({str(e).splitlines()[0]})") from None
        return torch.from_numpy(x)

    return read
