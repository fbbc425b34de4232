"""Quantised copies of a float Hugging Face checkpoint, written the way each release tool writes them.

Every writer takes a float32 model directory `src` and writes two directories:
- `dst`: the quantised checkpoint, as its release tool writes it (config.json's
  quantization_config and the tool's tensor names, dtypes and packing), tokenizer files copied;
- `ref`: the same quantised values dequantised by the tool's own arithmetic, or, where the tool
  does not run on a CPU, by the format's reference formula applied to the codes *before* they
  were packed, saved as a plain float32 checkpoint.
readable-fp must read `dst` as `ref` (ICS 100 up to float rounding): that proves the packing
and scales are understood. `dst` vs `src` measures what the quantisation itself costs.

Tools, as far as they run on a CPU here:
- bitsandbytes: transformers' `from_pretrained(quantization_config=BitsAndBytesConfig(...))`
  then `save_pretrained`; reference: bitsandbytes' own `dequantize_4bit` / int8 dequant.
- compressed-tensors: the library llm-compressor saves with (`apply_quantization_config`,
  min-max weight calibration by its `calculate_qparams`, `ModelCompressor.compress_model`);
  reference: its `fake_quantize` on the calibrated weights.
- MLX: `mlx_lm.convert` (decoders) and `mlx_embeddings.convert` (BERT); reference: MLX's
  `mx.dequantize` on the arrays `mx.load` reads back.
- FP8 blocks (`quant_method: fp8`, `weight_scale_inv`): transformers' `Fp8Quantize` op, the
  arithmetic of its FineGrainedFP8 quantiser (which itself refuses to run without a GPU).
  Dimensions that are not a multiple of the block are zero-padded and cropped, which gives the
  partial edge blocks DeepSeek's releases have (transformers alone would skip such layers).
- GPTQ and AWQ, and fp8 per-tensor / fbgemm per-channel: their tools need CUDA, so values are
  rounded to nearest (the formats do not depend on how codes were chosen) and packed exactly as
  GPTQModel / AutoAWQ lay them out, with compressed-tensors' `pack_to_int32` writing the
  little-endian bit stream the formats share; the reference is `scale * (code - zero)` on the
  unpacked codes.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


# --- shared plumbing -------------------------------------------------------------------------
def _state(src: Path) -> dict[str, torch.Tensor]:
    return load_file(str(Path(src) / "model.safetensors"))


def _quantisable(name: str, t: torch.Tensor) -> bool:
    """The linear layers of the transformer blocks (what every tool here quantises by default)."""
    return t.dim() == 2 and name.endswith(".weight") and (".layers." in name or ".layer." in name)


def _config(src: Path) -> dict:
    return json.loads((Path(src) / "config.json").read_text())


def _write(dst: Path, src: Path, tensors: dict[str, torch.Tensor], quantization_config: dict | None,
           config_key: str = "quantization_config") -> Path:
    """A model directory: src's non-weight files, `tensors`, config.json (+ the quantisation)."""
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    _copy_side_files(src, dst, skip=("config.json",))
    cfg = _config(src)
    cfg.pop("quantization_config", None)
    if quantization_config is not None:
        cfg[config_key] = quantization_config
    (dst / "config.json").write_text(json.dumps(cfg, indent=2, default=str))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


def _copy_side_files(src: Path, dst: Path, skip=()) -> None:
    """src's tokenizer and other non-weight files, where dst has none of that name yet."""
    for f in Path(src).iterdir():
        if f.is_file() and f.name not in _WEIGHT_FILES and f.name not in skip and not (Path(dst) / f.name).exists():
            shutil.copy(f, Path(dst) / f.name)


def _reference(ref: Path, src: Path, dequantised: dict[str, torch.Tensor]) -> Path:
    """src with the quantised weights replaced by their dequantised float32 values."""
    state = _state(src)
    missing = set(dequantised) - set(state)
    assert not missing, f"reference names {sorted(missing)[:3]} are not in the source"
    state.update({k: v.float() for k, v in dequantised.items()})
    return _write(ref, src, state, None)


def _pack(codes: torch.Tensor, bits: int, dim: int) -> torch.Tensor:
    """Unsigned codes -> int32 words, a little-endian bit stream along `dim` (GPTQ's and AWQ's layout)."""
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32

    signed = (codes.to(torch.int32) - (1 << (bits - 1))).to(torch.int8)  # pack_to_int32 adds this offset back
    return pack_to_int32(signed, bits, packed_dim=dim)


def _model_class(src: Path):
    import transformers

    archs = _config(src).get("architectures") or []
    return transformers.AutoModelForCausalLM if any(a.endswith("ForCausalLM") for a in archs) else transformers.AutoModel


# --- bitsandbytes ----------------------------------------------------------------------------
def bitsandbytes(src: Path, dst: Path, ref: Path, kind: str = "nf4") -> tuple[Path, Path]:
    """kind: int8 (LLM.int8), nf4, nf4-double (double quantisation), fp4."""
    from transformers import BitsAndBytesConfig

    q = BitsAndBytesConfig(load_in_8bit=True) if kind == "int8" else BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type=kind.split("-")[0], bnb_4bit_use_double_quant=kind.endswith("double"))
    model = _model_class(src).from_pretrained(str(src), quantization_config=q, device_map="cpu", dtype=torch.float32)
    model.save_pretrained(str(dst))
    _copy_side_files(src, dst)
    return Path(dst), _reference(ref, src, _bnb_dequantised(Path(dst)))


def _bnb_dequantised(d: Path) -> dict[str, torch.Tensor]:
    import bitsandbytes.functional as F

    sd = load_file(str(d / "model.safetensors"))
    out = {}
    for n in sd:
        if n.endswith(".SCB"):
            w = n[: -len(".SCB")] + ".weight"
            out[w] = F.int8_vectorwise_dequant(sd[w], sd[n])
        elif ".weight.quant_state.bitsandbytes__" in n:
            w = n.split(".quant_state.")[0]
            qs = F.QuantState.from_dict({k: v for k, v in sd.items() if k.startswith(w + ".")}, device=torch.device("cpu"))
            out[w] = F.dequantize_4bit(sd[w], qs)
    return out


# --- compressed-tensors ----------------------------------------------------------------------
def compressed(src: Path, dst: Path, ref: Path, preset: str = "W4A16", group_size: int | None = None) -> tuple[Path, Path]:
    """A compressed-tensors preset (W4A16, W4A16_ASYM, W8A16, W8A8, FP8, FP8_DYNAMIC, FP8_BLOCK, ...)
    applied to every linear layer but lm_head, its weights min-max calibrated, then compressed."""
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import QuantizationConfig, apply_quantization_config, preset_name_to_scheme
    from compressed_tensors.quantization.lifecycle.forward import fake_quantize

    model = _model_class(src).from_pretrained(str(src), dtype=torch.float32)
    scheme = preset_name_to_scheme(preset, ["Linear"])
    if group_size is not None:
        scheme.weights.group_size = group_size
    apply_quantization_config(model, QuantizationConfig(config_groups={"group_0": scheme}, ignore=["lm_head"]))
    dequantised = {}
    for name, m in model.named_modules():
        if getattr(m, "quantization_scheme", None) is not None and hasattr(m, "weight_scale"):
            _calibrate(m)
            zp = getattr(m, "weight_zero_point", None)
            dequantised[f"{name}.weight"] = fake_quantize(m.weight.data, m.weight_scale.data, zp.data if zp is not None else None,
                                                          m.quantization_scheme.weights).float()
    compressor = ModelCompressor.from_pretrained_model(model)
    compressor.compress_model(model)
    model.save_pretrained(str(dst))
    compressor.update_config(str(dst))
    _copy_side_files(src, dst)
    return Path(dst), _reference(ref, src, dequantised)


def _calibrate(m: torch.nn.Module) -> None:
    """Min-max weight scales and zero points, as llm-compressor's default observer sets them."""
    from compressed_tensors.quantization import QuantizationStrategy as S
    from compressed_tensors.quantization.utils import calculate_qparams
    from compressed_tensors.quantization.utils.helpers import maybe_pad_tensor_for_block_quant

    a, w = m.quantization_scheme.weights, m.weight.data.float()
    if a.strategy == S.TENSOR:
        lo, hi = w.min().reshape(1), w.max().reshape(1)
    elif a.strategy == S.CHANNEL:
        lo, hi = w.amin(1, keepdim=True), w.amax(1, keepdim=True)
    elif a.strategy == S.GROUP:
        g = w.unflatten(-1, (-1, a.group_size))
        lo, hi = g.amin(-1), g.amax(-1)
    elif a.strategy == S.BLOCK:
        bo, bi = a.block_structure
        p = maybe_pad_tensor_for_block_quant(w, (bo, bi))
        g = p.reshape(p.shape[0] // bo, bo, p.shape[1] // bi, bi)
        lo, hi = g.amin((1, 3)), g.amax((1, 3))
    else:
        raise ValueError(f"no weight calibration for strategy {a.strategy}")
    scale, zp = calculate_qparams(lo, hi, a)
    m.weight_scale.data = scale.to(m.weight_scale.dtype).reshape(m.weight_scale.shape)
    if hasattr(m, "weight_zero_point"):
        m.weight_zero_point.data = zp.to(m.weight_zero_point.dtype).reshape(m.weight_zero_point.shape)


# --- MLX -------------------------------------------------------------------------------------
def mlx(src: Path, dst: Path, ref: Path, mode: str = "affine", bits: int = 4, group_size: int = 64) -> tuple[Path, Path]:
    """mlx_lm.convert (decoders) or mlx_embeddings.convert (BERT) with -q."""
    with contextlib.redirect_stdout(io.StringIO()):  # the converters print [INFO] progress lines
        if _config(src).get("model_type") == "bert":
            from mlx_embeddings.convert import convert
            assert mode == "affine", "mlx_embeddings.convert writes affine quantisation only"
            convert(str(src), str(dst), quantize=True, q_group_size=group_size, q_bits=bits)
        else:
            from mlx_lm.convert import convert
            convert(str(src), str(dst), quantize=True, q_group_size=group_size, q_bits=bits, q_mode=mode, dtype="float32")
    return Path(dst), _reference(ref, src, _mlx_dequantised(Path(dst)))


def _mlx_dequantised(d: Path) -> dict[str, torch.Tensor]:
    import mlx.core as mx
    import numpy as np

    q = json.loads((d / "config.json").read_text())["quantization"]
    arrays = {}
    for f in sorted(d.glob("*.safetensors")):
        arrays.update(mx.load(str(f)))
    out = {}
    for n in arrays:
        if n.endswith(".scales"):
            m = n[: -len(".scales")]
            own = {**q, **(q.get(m) if isinstance(q.get(m), dict) else {})}
            scales, biases = arrays[n], arrays.get(f"{m}.biases")
            if mx.issubdtype(scales.dtype, mx.floating):  # fp16 scales: dequantise in float32, as readable-fp does
                scales, biases = scales.astype(mx.float32), biases.astype(mx.float32) if biases is not None else None
            x = mx.dequantize(arrays[f"{m}.weight"], scales, biases, group_size=own["group_size"],
                              bits=own["bits"], mode=own.get("mode", "affine"))
            out[f"{m}.weight"] = torch.from_numpy(np.array(x.astype(mx.float32)))
    return out


# --- FP8 -------------------------------------------------------------------------------------
def _linears(src: Path, one: Callable[[str, torch.Tensor], tuple[dict, torch.Tensor]]) -> tuple[dict, dict]:
    """`one(name, weight) -> (tensors to store, dequantised weight)` applied to every linear
    layer of the blocks; every other tensor is stored as it is."""
    out, dequantised = {}, {}
    for n, w in _state(src).items():
        if _quantisable(n, w):
            stored, dequantised[n] = one(n, w)
            out.update(stored)
        else:
            out[n] = w
    return out, dequantised


def fp8_blocks(src: Path, dst: Path, ref: Path, block: tuple[int, int] = (128, 128)) -> tuple[Path, Path]:
    """quant_method fp8 with `weight_scale_inv` per block, by transformers' Fp8Quantize op."""
    from transformers import FineGrainedFP8Config
    from transformers.integrations.finegrained_fp8 import Fp8Quantize
    from transformers.quantizers.quantizer_finegrained_fp8 import FineGrainedFP8HfQuantizer

    qc = FineGrainedFP8Config(weight_block_size=block)
    op = Fp8Quantize(FineGrainedFP8HfQuantizer(qc))
    bo, bi = block

    def one(n, w):
        o, i = w.shape
        got = op.convert({n: torch.nn.functional.pad(w, (0, -i % bi, 0, -o % bo))})
        q, s = got[n][:o, :i].contiguous(), got[n + "_scale_inv"]
        full = s.repeat_interleave(bo, 0).repeat_interleave(bi, 1)[:o, :i]  # each value times its block's scale
        return {n: q, n + "_scale_inv": s}, q.float() * full

    out, dequantised = _linears(src, one)
    settings = {k: (v.value if hasattr(v, "value") else list(v) if isinstance(v, tuple) else v) for k, v in qc.to_dict().items()}
    return _write(dst, src, out, settings), _reference(ref, src, dequantised)


def fp8_scaled(src: Path, dst: Path, ref: Path, per: str = "channel", fmt: str = "e4m3") -> tuple[Path, Path]:
    """FP8 with float scales: per="tensor" as AutoFP8 writes (quant_method fp8, weight_scale and
    input_scale scalars), per="channel" as fbgemm_fp8 (weight_scale (out, 1)). fmt e4m3 or e5m2."""
    dtype = {"e4m3": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}[fmt]
    top = torch.finfo(dtype).max

    def one(n, w):
        amax = w.abs().amax(dim=1, keepdim=True) if per == "channel" else w.abs().max().reshape(())
        scale = (amax / top).clamp(min=1e-12).float()
        q = (w / scale).clamp(-top, top).to(dtype)
        m = n[: -len(".weight")]
        stored = {n: q, f"{m}.weight_scale": scale} | ({f"{m}.input_scale": torch.ones(())} if per == "tensor" else {})
        return stored, q.float() * scale

    out, dequantised = _linears(src, one)
    settings = ({"quant_method": "fbgemm_fp8", "activation_scale_ub": 1200.0, "modules_to_not_convert": ["lm_head"]}
                if per == "channel" else {"quant_method": "fp8", "activation_scheme": "static", "fmt": fmt})
    return _write(dst, src, out, settings), _reference(ref, src, dequantised)


# --- GPTQ ------------------------------------------------------------------------------------
def gptq(src: Path, dst: Path, ref: Path, bits: int = 4, group_size: int = 128, act_order: bool = False,
         sym: bool = True, checkpoint_format: str = "gptq") -> tuple[Path, Path]:
    """GPTQModel's layout: qweight (in*bits/32, out), qzeros (groups, out*bits/32), fp16 scales,
    g_idx; v1 (`gptq`) stores zero - 1. Round-to-nearest codes, act-order by column norm."""
    assert sym or checkpoint_format == "gptq_v2", "AutoGPTQ's v1 asymmetric zeros overflow; GPTQModel writes them as v2"
    maxq = (1 << bits) - 1

    def one(n, w):
        o, i = w.shape
        order = torch.argsort(w.pow(2).sum(0), descending=True, stable=True) if act_order else torch.arange(i)
        g_idx = torch.empty(i, dtype=torch.int32)
        g_idx[order] = torch.arange(i, dtype=torch.int32) // (group_size if group_size > 0 else i)
        groups = int(g_idx.max()) + 1
        scale, zero = torch.empty(groups, o), torch.empty(groups, o, dtype=torch.int32)
        for g in range(groups):  # GPTQ's Quantizer.find_params, per output row over the group's columns
            cols = w[:, g_idx == g]
            lo, hi = cols.amin(1).clamp(max=0), cols.amax(1).clamp(min=0)
            if sym:
                hi = torch.maximum(lo.abs(), hi)
                lo = -hi
            scale[g] = ((hi - lo) / maxq).clamp(min=1e-8)
            zero[g] = (maxq + 1) // 2 if sym else torch.round(-lo / scale[g]).to(torch.int32)
        scale = scale.half()
        codes = torch.clamp(torch.round(w.T / scale.float()[g_idx]) + zero[g_idx], 0, maxq).to(torch.int32)  # (in, out)
        m = n[: -len(".weight")]
        stored = {f"{m}.qweight": _pack(codes, bits, dim=0), f"{m}.scales": scale, f"{m}.g_idx": g_idx,
                  f"{m}.qzeros": _pack(zero - 1 if checkpoint_format == "gptq" else zero, bits, dim=1)}
        return stored, (scale.float()[g_idx] * (codes - zero[g_idx]).float()).T

    out, dequantised = _linears(src, one)
    settings = {"quant_method": "gptq", "bits": bits, "group_size": group_size, "desc_act": act_order, "sym": sym,
                "checkpoint_format": checkpoint_format, "pack_dtype": "int32", "meta": {"quantizer": ["readable-fp bench"]}}
    return _write(dst, src, out, settings), _reference(ref, src, dequantised)


# --- AWQ -------------------------------------------------------------------------------------
_AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]  # AutoAWQ GEMM: nibble j of a word holds column 8c + _AWQ_ORDER[j]


def awq(src: Path, dst: Path, ref: Path, version: str = "gemm", group_size: int = 128) -> tuple[Path, Path]:
    """AutoAWQ's WQLinear_GEMM / WQLinear_GEMV.from_linear layouts, 4-bit with zero points
    (AutoAWQ's pseudo_quantize_tensor: scale = (max - min) / 15, zero = -round(min / scale))."""
    def one(n, w):
        o, i = w.shape
        g = w.reshape(o, i // group_size, group_size)
        hi, lo = g.amax(-1), g.amin(-1)
        scale = ((hi - lo).clamp(min=1e-5) / 15).half()
        zero = torch.clamp(-torch.round(lo / scale.float()), 0, 15).to(torch.int32)  # (out, groups)
        codes = torch.clamp(torch.round(g / scale.float()[..., None]) + zero[..., None], 0, 15).reshape(o, i).to(torch.int32)
        m = n[: -len(".weight")]
        if version == "gemm":
            cols = torch.arange(o).view(-1, 8)[:, _AWQ_ORDER].reshape(-1)  # column stored at each packed position
            stored = {f"{m}.qweight": _pack(codes.T[:, cols], 4, dim=1), f"{m}.qzeros": _pack(zero.T[:, cols], 4, dim=1),
                      f"{m}.scales": scale.T.contiguous()}
        else:
            pad = 8 * _gemv_zeros_width(i, group_size) - zero.shape[1]
            stored = {f"{m}.qweight": _pack(codes, 4, dim=1), f"{m}.scales": torch.nn.functional.pad(scale, (0, pad)),
                      f"{m}.qzeros": _pack(torch.nn.functional.pad(zero, (0, pad)), 4, dim=1)}
        return stored, ((codes.reshape(o, -1, group_size) - zero[..., None]).float() * scale.float()[..., None]).reshape(o, i)

    out, dequantised = _linears(src, one)
    settings = {"quant_method": "awq", "bits": 4, "group_size": group_size, "zero_point": True, "version": version,
                "modules_to_not_convert": None}
    return _write(dst, src, out, settings), _reference(ref, src, dequantised)


def _gemv_zeros_width(in_features: int, group_size: int) -> int:
    """AutoAWQ's calculate_zeros_width: groups rounded up to 8, then to its kernel's multiplier."""
    mult = 1 if group_size >= 128 else {64: 2, 32: 4}[group_size]
    base = -(-(in_features // group_size) // 8)
    return -(-base // mult) * mult


# --- the formats the tests and bench/quantised_ics.py write, with their settings ---------------
@dataclass(frozen=True)
class Format:
    label: str
    write: Callable[..., tuple[Path, Path]]
    settings: dict
    models: tuple[str, ...] = ("smollm2", "minilm")  # mlx_embeddings (BERT) writes affine only


FORMATS = [
    Format("bitsandbytes LLM.int8", bitsandbytes, {"kind": "int8"}),
    Format("bitsandbytes NF4", bitsandbytes, {"kind": "nf4"}),
    Format("bitsandbytes NF4, double-quantised", bitsandbytes, {"kind": "nf4-double"}),
    Format("bitsandbytes FP4", bitsandbytes, {"kind": "fp4"}),
    Format("compressed-tensors W4A16 (pack-quantized int4, group 64)", compressed, {"preset": "W4A16", "group_size": 64}),
    Format("compressed-tensors W4A16_ASYM (zero points, group 64)", compressed, {"preset": "W4A16_ASYM", "group_size": 64}),
    Format("compressed-tensors W8A16 (pack-quantized int8, group 64)", compressed, {"preset": "W8A16", "group_size": 64}),
    Format("compressed-tensors W8A8 (int-quantized, per channel)", compressed, {"preset": "W8A8"}),
    Format("compressed-tensors FP8 (float-quantized, per tensor)", compressed, {"preset": "FP8"}),
    Format("compressed-tensors FP8_DYNAMIC (per channel)", compressed, {"preset": "FP8_DYNAMIC"}),
    Format("compressed-tensors FP8_BLOCK (128x128)", compressed, {"preset": "FP8_BLOCK"}),
    Format("fp8 e4m3, 128x128 blocks, weight_scale_inv (partial edge blocks)", fp8_blocks, {"block": (128, 128)}),
    Format("fp8 e4m3, 64x64 blocks, weight_scale_inv", fp8_blocks, {"block": (64, 64)}),
    Format("fp8 e4m3, per-tensor weight_scale (AutoFP8)", fp8_scaled, {"per": "tensor"}),
    Format("fp8 e5m2, per-tensor weight_scale", fp8_scaled, {"per": "tensor", "fmt": "e5m2"}),
    Format("fbgemm_fp8 e4m3, per-channel weight_scale", fp8_scaled, {"per": "channel"}),
    Format("GPTQ int4, group 64, symmetric (v1 zeros)", gptq, {"bits": 4, "group_size": 64}),
    Format("GPTQ int3, group 64, act-order, symmetric (v1)", gptq, {"bits": 3, "group_size": 64, "act_order": True}),
    Format("GPTQ int2, group 64, asymmetric (v2 zeros)", gptq,
           {"bits": 2, "group_size": 64, "sym": False, "checkpoint_format": "gptq_v2"}),
    Format("GPTQ int8, one group, act-order, asymmetric (v2)", gptq,
           {"bits": 8, "group_size": -1, "act_order": True, "sym": False, "checkpoint_format": "gptq_v2"}),
    Format("AWQ int4 GEMM, group 64", awq, {"version": "gemm", "group_size": 64}),
    Format("AWQ int4 GEMV, group 64", awq, {"version": "gemv", "group_size": 64}),
    Format("MLX affine 4-bit, group 64", mlx, {"bits": 4, "group_size": 64}),
    Format("MLX affine 3-bit, group 64", mlx, {"bits": 3, "group_size": 64}),
    Format("MLX affine 8-bit, group 64", mlx, {"bits": 8, "group_size": 64}),
    Format("MLX mxfp4 (E2M1, group 32)", mlx, {"mode": "mxfp4", "bits": 4, "group_size": 32}, ("smollm2",)),
    Format("MLX nvfp4 (E2M1, group 16)", mlx, {"mode": "nvfp4", "bits": 4, "group_size": 16}, ("smollm2",)),
]


# --- gpt-oss MXFP4 experts -------------------------------------------------------------------
_E2M1 = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0])
_GPT_OSS_EXPERTS = ("mlp.experts.gate_up_proj", "mlp.experts.down_proj")


def gpt_oss_mxfp4(src: Path, dst: Path, ref: Path) -> tuple[Path, Path]:
    """The MoE experts of a gpt-oss checkpoint as OpenAI released them: OCP MXFP4, groups of 32
    E2M1 values along the input, two per byte (low nibble first), one E8M0 exponent per group
    (floor(log2(max|x|)) - 2, E2M1's largest exponent), blocks shaped (experts, out, groups, 16)."""
    out, dequantised = {}, {}
    for n, w in _state(src).items():
        if not n.endswith(_GPT_OSS_EXPERTS):
            out[n] = w
            continue
        rows = w.transpose(1, 2)  # gpt-oss holds (experts, in, out); the blocks run along `in`
        g = rows.reshape(*rows.shape[:2], -1, 32)
        amax = g.abs().amax(-1)
        exp = torch.where(amax > 0, torch.floor(torch.log2(amax.clamp(min=2.0 ** -126))) - 2, torch.full_like(amax, -127))
        codes = ((g / torch.exp2(exp)[..., None])[..., None] - _E2M1).abs().argmin(-1).to(torch.uint8)
        out[n + "_blocks"] = codes[..., 0::2] | (codes[..., 1::2] << 4)
        out[n + "_scales"] = (exp + 127).to(torch.uint8)
        dequantised[n] = (_E2M1[codes.long()] * torch.exp2(exp)[..., None]).reshape(rows.shape).transpose(1, 2)
    settings = {"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                                                     "model.embed_tokens", "lm_head"]}
    return _write(dst, src, out, settings), _reference(ref, src, dequantised)
