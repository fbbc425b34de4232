"""compressed-tensors checkpoints (quant_method `compressed-tensors`: llm-compressor, vLLM's format).

The config lists quantisation schemes (`config_groups`: which modules, how many bits, which
strategy) and the storage `format` of each: pack-quantized (sub-8-bit ints in int32 words,
`weight_packed` + `weight_scale` [+ `weight_zero_point`, `weight_g_idx`] + `weight_shape`),
int-quantized and float-quantized (int8 / FP8 `weight` + `weight_scale`), naive-quantized,
nvfp4-, mxfp4-, mxfp6-pack-quantized, mxfp8-quantized. We do not re-derive any of them: the
compressed-tensors library decompresses one module's tensors without a model
(`BaseCompressor.decompress(state_dict, scheme)`), and we hand it exactly the tensors of the
module asked for. Modules are matched to schemes the way its own model-free dequantiser does
(`match_name` on module names; a class target such as "Linear" matches any module holding the
scheme's compressed tensors; `ignore` wins). Online rotations (`transform_config`) and sparse
formats change what the stored weights mean and are refused.
"""
from __future__ import annotations

import torch

from ..errors import FingerprintError
from . import Rows, Stored, check, select


def plan(method: str, settings: dict, names: list[str], raw, source: str) -> dict[str, Stored]:
    if str(settings.get("quantization_status", "compressed")) != "compressed":
        return {}  # saved uncompressed: weights are plain floats, read as they are
    check(not settings.get("transform_config"), source,
          "compressed-tensors transform_config (online rotations) is not read: stored weights are not the model's")
    check(not settings.get("sparsity_config"), source, "compressed-tensors sparsity_config is not read")
    qc, compressors = _schemes(settings, source)
    have = set(names)
    out: dict[str, Stored] = {}
    for scheme, fmt, compressor, params in compressors:
        root = params[0]
        for n in names:
            m, _, p = n.rpartition(".")
            if p != root or f"{m}.weight" in out or _ignored(m, qc.ignore):
                continue
            if root == "weight" and f"{m}.weight_scale" not in have:
                continue  # a float weight beside quantised ones (e.g. an untargeted layer)
            if not _targets(m, scheme.targets):
                continue
            parts = tuple(f"{m}.{q}" for q in params if f"{m}.{q}" in have)
            out[f"{m}.weight"] = Stored(parts=parts, label=_label(scheme), storage=_describe(fmt, scheme),
                                        shape=_shape(m, root, raw), read=_reader(m, parts, scheme, compressor, raw, source))
    return out


def _schemes(settings: dict, source: str):
    import pydantic
    from compressed_tensors.compressors import BaseCompressor
    from compressed_tensors.compressors.format import infer_module_format
    from compressed_tensors.quantization import QuantizationConfig

    try:
        qc = QuantizationConfig.model_validate(settings)
    except pydantic.ValidationError as e:
        raise FingerprintError(f"{source}: not a compressed-tensors quantization_config this reader understands "
                               f"({e.errors()[0].get('msg', 'invalid')})") from None
    found = []
    for scheme in qc.config_groups.values():
        fmt = scheme.format or (qc.format if qc.format not in (None, "mixed-precision") else None) \
            or infer_module_format(torch.nn.Linear, scheme).value
        fmt = getattr(fmt, "value", fmt)
        if fmt == "dense" or scheme.weights is None:
            continue
        try:
            compressor = BaseCompressor.get_value_from_registry(fmt)
            params = compressor.compression_param_names(scheme)
        except (KeyError, ValueError, NotImplementedError):
            raise FingerprintError(f"{source}: compressed-tensors format '{fmt}' is not read") from None
        found.append((scheme, fmt, compressor, params))
    return qc, found


def _ignored(module: str, ignore) -> bool:
    from compressed_tensors.utils.match import match_name

    return module.endswith("norm") or any(match_name(module, i) for i in ignore or ())


def _targets(module: str, targets) -> bool:
    from compressed_tensors.utils.match import match_name

    # Class names (no "re:", no dots) cannot be checked without the model; the compressed
    # tensors being there is what marks the module as a target, as in compressed-tensors' own
    # model-free CompressedTensorsDequantizer.
    return any(not t.startswith("re:") and "." not in t for t in targets) or any(match_name(module, t) for t in targets)


def _shape(m: str, root: str, raw):
    def shape() -> tuple[int, ...]:
        if root != "weight_packed":
            return raw.raw_shape(f"{m}.{root}")
        if raw.raw_has(f"{m}.weight_shape"):  # pack-quantized records it
            return tuple(int(x) for x in raw.raw(f"{m}.weight_shape").reshape(-1).tolist())
        rows, cols = raw.raw_shape(f"{m}.weight_packed")
        return rows, cols * 2  # the FP4 formats: two values per byte
    return shape


def _reader(m: str, parts: tuple[str, ...], scheme, compressor, raw, source: str):
    def read(rows: Rows) -> torch.Tensor:
        state = {p.rsplit(".", 1)[1]: raw.raw(p) for p in parts}
        try:
            w = compressor.decompress(state, scheme)["weight"]
        except (KeyError, ValueError, RuntimeError, AssertionError, TypeError, IndexError) as e:
            why = str(e).splitlines()[0] if str(e) else ""
            raise FingerprintError(f"{source}: cannot decompress '{m}' ({type(e).__name__}: {why})") from None
        return select(w.float(), rows)

    return read


def _label(scheme) -> str:
    w = scheme.weights
    return f"{'fp' if w.type == 'float' else 'int'}{w.num_bits}"


def _describe(fmt: str, scheme) -> str:
    w = scheme.weights
    strategy = f"group {w.group_size}" if w.group_size else str(getattr(w.strategy, "value", w.strategy))
    if getattr(w, "block_structure", None):
        strategy = f"block {w.block_structure[0]}x{w.block_structure[1]}"
    return (f"compressed-tensors {fmt}: {getattr(w.type, 'value', w.type)}{w.num_bits}, {strategy}, "
            f"{'symmetric' if w.symmetric else 'asymmetric'}" + (", act-order" if w.actorder else ""))
