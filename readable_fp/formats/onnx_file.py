"""ONNX exports of Hugging Face models, read with the `onnx` package without running them.

An ONNX graph keeps the weights as initializers, but an exporter or a quantiser is free to
rename them, store them transposed, or keep them quantised behind a few nodes. This reader
therefore follows the graph from the nodes that *use* a weight back to where it is stored:

- **Which tensor is a weight.** The constant operand of `MatMul` / `Gemm` (a linear layer),
  of `Gather` (an embedding table) and the gains of the layer-norm ops. "Constant" means an
  initializer, a `Constant` node, or any chain of `Cast`, `Identity`, `Mul`, `Div`, `Add`,
  `Sub`, `Transpose`, `Reshape` and `DequantizeLinear` fed only by constants: that is how
  weight-only quantisation looks (int8 plus a per-channel scale, with or without zero
  point; per-tensor, per-axis or blocked `DequantizeLinear`). The chain is evaluated in
  numpy when the tensor is read; for embeddings only the rows asked for are dequantised.
  Dynamic quantisation as onnxruntime writes it is recognised too: `MatMulInteger` (the
  weight's zero point is its 4th input and its scale is found on the `Mul` after it) and an
  int8 table `Gather`ed and then `DequantizeLinear`ed.
- **Orientation.** `MatMul(x, B)` computes `x B`, so `B` is `in x out`: it is transposed
  back to Hugging Face's `out x in`. `Gemm` follows its `transB` attribute.
- **Names.** Exporters keep the names of biases and norm gains but often rename the matrices
  (`val_49`, `onnx::MatMul_1234`). A matrix is named, in this order, after the bias `Add`ed to
  its product (`...query.bias` -> `...query.weight`), after a Hugging Face-like name in its
  own constant chain (quantiser suffixes such as `_quantized` / `_q` dropped), or after the
  node's scope path (`/bert/encoder/layer.0/attention/self/query/MatMul` ->
  `bert.encoder.layer.0.attention.self.query.weight`). Prefixes such as `inner.` or `bert.`
  are harmless: the adapters look tensors up by suffix.

ONNX has no config.json. For BERT-style encoders (the common ONNX export) the config is
inferred from the graph: hidden size from the embedding, layer count from the names, head
count from the `Reshape` after the query projection. A `config.json` next to the `.onnx`
file overrides the inferred values and is required for other families. The vocabulary comes
from tokenizer files next to the `.onnx` file; without them `vocab` stays None and token ids
serve as probes (with the library's warning).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..checkpoint import Checkpoint
from ..errors import FingerprintError
from ..paths import model_file, read_json
from ..vocab import load_hf_vocab

_ELEMENTWISE = {"Mul": np.multiply, "Div": np.divide, "Add": np.add, "Sub": np.subtract}
_FOLDABLE = set(_ELEMENTWISE) | {"Cast", "Identity", "Transpose", "Reshape", "DequantizeLinear", "Constant"}
_NORM_OPS = {"LayerNormalization": (1, 2), "SimplifiedLayerNormalization": (1, None),
             "SkipLayerNormalization": (2, 3), "SkipSimplifiedLayerNormalization": (2, None)}
# A Hugging Face parameter name: dotted identifiers (no '::', no '/').
_HF_NAME = re.compile(r"^[A-Za-z_][\w\-]*(\.[\w\-]+)+$")
_QUANT_SUFFIXES = ("_quantized", "_dequantized", "_quant", "_int8", "_uint8", "_q", "_f", "_fp32")


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise FingerprintError("reading .onnx files needs the 'onnx' package: pip install 'readable-fp[onnx]' "
                               "(or pip install onnx)") from None
    return onnx


@dataclass
class _Src:
    """Where one Hugging Face tensor lives in the graph, and how to turn it into `out x in` float."""

    value: str                      # graph value holding the (possibly still quantised) weight
    transpose: bool = False         # stored `in x out`
    scale: str | None = None        # dequantisation applied after reading `value` (MatMulInteger, Gather+DQ)
    zero_point: str | None = None
    axis: int | None = None         # axis of `value` that a 1-D scale runs along
    alpha: float = 1.0              # Gemm's alpha


def _strip_quant_suffix(name: str) -> str:
    for suf in _QUANT_SUFFIXES:
        if name.endswith(suf) and name[: -len(suf)].endswith("weight"):
            return name[: -len(suf)]
    return name


def _hf_weight_name(name: str) -> str | None:
    n = _strip_quant_suffix(name)
    return n if _HF_NAME.match(n) and n.endswith(".weight") else None


def _scope_name(node_name: str) -> str | None:
    """'/bert/encoder/layer.0/attention/self/query/MatMul' -> 'bert.encoder.layer.0.attention.self.query.weight'."""
    if not node_name.startswith("/"):
        return None
    parts = [p for p in node_name.split("/") if p][:-1]
    if len(parts) < 2:
        return None
    name = ".".join(parts) + ".weight"
    return name if _HF_NAME.match(name) else None


class ONNXCheckpoint(Checkpoint):
    fmt = "onnx"

    def __init__(self, path: str) -> None:
        super().__init__()
        onnx = _import_onnx()
        self._onnx = onnx
        self.source = str(path)
        self._dir = Path(path).absolute().parent  # not resolved: tokenizer files sit beside the name given
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as e:  # protobuf DecodeError, truncated files, ...
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise FingerprintError(f"{path}: unreadable ONNX file ({msg})") from None
        g = model.graph
        names = [t.name for t in g.initializer] + [n for node in g.node for n in (*node.input, *node.output, node.name)]
        if not all(isinstance(n, str) for n in names):  # protobuf hands out bytes for names that are not UTF-8
            raise FingerprintError(f"{path}: unreadable ONNX file (tensor or node names that are not UTF-8 text)")
        self._init = {t.name: t for t in g.initializer}
        self._producer: dict[str, object] = {}
        self._consumers: dict[str, list] = {}
        for node in g.node:
            for o in node.output:
                self._producer[o] = node
            for i in node.input:
                if i:
                    self._consumers.setdefault(i, []).append(node)
        self._const_memo: dict[str, bool] = {}
        self._map: dict[str, _Src] = {}
        self._origin: dict[str, object] = {}  # HF name -> the node that uses it (for config inference)
        self._build_map(g)
        if not self._map:
            raise FingerprintError(f"{path}: no weights found in the ONNX graph")
        self.config = self._config()
        self.vocab = load_hf_vocab(self._dir)

    # --- the graph's constants -------------------------------------------------------------
    def _attr(self, node, name, default=None):
        for a in node.attribute:
            if a.name == name:
                return self._onnx.helper.get_attribute_value(a)
        return default

    def _is_const(self, name: str) -> bool:
        if name in self._const_memo:
            return self._const_memo[name]
        self._const_memo[name] = False  # guards against cycles
        if name in self._init:
            ok = True
        else:
            node = self._producer.get(name)
            ok = node is not None and node.op_type in _FOLDABLE and node.domain in ("", "ai.onnx") and \
                all(self._is_const(i) for i in node.input if i)
        self._const_memo[name] = ok
        return ok

    def _np_dtype(self, elem_type: int):
        return np.dtype(self._onnx.helper.tensor_dtype_to_np_dtype(elem_type))

    def _read_init(self, t, rows: Sequence[int] | None) -> np.ndarray:
        """An initializer (or its rows) as numpy, memory-mapping external data."""
        onnx = self._onnx
        dims = tuple(int(d) for d in t.dims)
        simple = t.data_type not in (onnx.TensorProto.STRING, onnx.TensorProto.BFLOAT16) and \
            self._np_dtype(t.data_type).kind in "fiub" and self._np_dtype(t.data_type).itemsize in (1, 2, 4, 8) \
            and t.data_type not in _packed_types(onnx)
        loc = None
        if t.data_location == onnx.TensorProto.EXTERNAL:  # checked for every tensor, before onnx follows it too
            info = {e.key: e.value for e in t.external_data}
            loc = model_file(self._dir, info.get("location", ""))
            if loc is None:
                raise FingerprintError(f"{self.source}: external data '{info.get('location')}' is missing")
        if simple and loc is not None:
            arr = np.memmap(loc, dtype=self._np_dtype(t.data_type).newbyteorder("<"), mode="r",
                            offset=int(info.get("offset", 0)), shape=dims)
        elif simple and t.HasField("raw_data"):
            arr = np.frombuffer(t.raw_data, dtype=self._np_dtype(t.data_type).newbyteorder("<")).reshape(dims)
        else:
            arr = onnx.numpy_helper.to_array(t, base_dir=str(self._dir))
            if t.data_type == onnx.TensorProto.BFLOAT16 or arr.dtype.kind not in "fiub":
                arr = arr.astype(np.float32)
        if rows is not None:
            arr = arr[np.asarray(rows, dtype=np.int64)]
        self.stats.bytes_read += arr.nbytes
        return np.asarray(arr)

    def _shape(self, name: str) -> tuple[int, ...]:
        if name in self._init:
            return tuple(int(d) for d in self._init[name].dims)
        node = self._producer[name]
        op = node.op_type
        if op == "Constant":
            return tuple(self._value(name).shape)
        if op in ("Cast", "Identity", "DequantizeLinear"):
            return self._shape(node.input[0])
        if op in _ELEMENTWISE:
            return tuple(np.broadcast_shapes(*(self._shape(i) for i in node.input)))
        if op == "Transpose":
            s = self._shape(node.input[0])
            perm = self._attr(node, "perm") or list(reversed(range(len(s))))
            return tuple(s[p] for p in perm)
        if op == "Reshape":
            return self._reshape_target(self._shape(node.input[0]), node)
        raise FingerprintError(f"{self.source}: cannot work out the shape of '{name}' ({op})")

    def _reshape_target(self, src: tuple[int, ...], node) -> tuple[int, ...]:
        want = [int(v) for v in self._value(node.input[1]).reshape(-1)]
        allowzero = self._attr(node, "allowzero", 0)
        out = [src[i] if (v == 0 and not allowzero) else v for i, v in enumerate(want)]
        if -1 in out:
            known = int(np.prod([v for v in out if v != -1]))
            out[out.index(-1)] = int(np.prod(src)) // max(known, 1)
        return tuple(out)

    def _value(self, name: str, rows: Sequence[int] | None = None) -> np.ndarray:
        """Evaluate a constant graph value; `rows` selects along its first axis."""
        if name in self._init:
            return self._read_init(self._init[name], rows)
        node = self._producer[name]
        op = node.op_type
        sel = (lambda a: a if rows is None else a[np.asarray(rows, dtype=np.int64)])
        if op == "Constant":
            attr = next(a for a in node.attribute)
            if attr.name == "value":
                arr = self._onnx.numpy_helper.to_array(attr.t)
            else:
                arr = np.asarray(self._onnx.helper.get_attribute_value(attr))
            return sel(arr)
        if op == "Identity":
            return self._value(node.input[0], rows)
        if op == "Cast":
            arr = self._value(node.input[0], rows)
            to = self._np_dtype(self._attr(node, "to"))
            return arr.astype(np.float32 if to.kind == "f" or to.kind not in "iub" else to)
        if op in _ELEMENTWISE:
            out_shape = self._shape(name)
            args = [self._value(i, self._rows_for(i, out_shape, rows)) for i in node.input]
            if _ELEMENTWISE[op] is np.divide or any(a.dtype.kind == "f" for a in args):
                args = [a.astype(np.float32) for a in args]
            return _ELEMENTWISE[op](*args)
        if op == "DequantizeLinear":
            x = node.input[0]
            xs = self._shape(x)
            q = self._value(x, rows)
            scale = self._value(node.input[1])
            zp = self._value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            axis = self._attr(node, "axis", 1)
            block = self._attr(node, "block_size", 0)
            return _dequantize(q, xs, scale, zp, axis, block, rows)
        if op == "Transpose":
            arr = self._value(node.input[0])
            perm = self._attr(node, "perm")
            return sel(np.transpose(arr, perm))
        if op == "Reshape":
            arr = self._value(node.input[0])
            return sel(arr.reshape(self._reshape_target(arr.shape, node)))
        raise FingerprintError(f"{self.source}: cannot evaluate '{name}' ({op})")

    def _rows_for(self, name: str, out_shape: tuple[int, ...], rows):
        """Rows of an elementwise operand that line up with the output's rows (None: read it whole)."""
        if rows is None:
            return None
        s = self._shape(name)
        if len(s) == len(out_shape) and s[0] == out_shape[0] and out_shape[0] != 1:
            return rows
        return None

    # --- which constant is which Hugging Face tensor ---------------------------------------
    def _add(self, hf: str | None, src: _Src, node) -> None:
        if hf and hf not in self._map:
            self._map[hf] = src
            self._origin[hf] = node

    def _data_input(self, node) -> str | None:
        """The operand of a constant-chain node that carries the weight (not its scale or zero point)."""
        ins = [i for i in node.input if i]
        if not ins:
            return None
        if node.op_type in _ELEMENTWISE and len(ins) > 1:
            return max(ins, key=lambda i: int(np.prod(self._shape(i))))
        return ins[0]

    def _chain_name(self, value: str | None) -> str | None:
        """A Hugging Face-like weight name met while walking a constant chain back to storage."""
        for _ in range(16):
            if not value:
                return None
            hf = _hf_weight_name(value)
            if hf:
                return hf
            node = self._producer.get(value)
            if node is None or node.op_type not in _FOLDABLE:
                return None
            value = self._data_input(node)
        return None

    def _bias_name(self, out: str) -> str | None:
        """Follow a product through Cast/Mul to the Add of a named bias: '...query.bias' -> '...query.weight'."""
        frontier = [out]
        for _ in range(4):
            nxt = []
            for v in frontier:
                for c in self._consumers.get(v, []):
                    others = [i for i in c.input if i and i != v]
                    if c.op_type == "Add":
                        for o in others:
                            n = _strip_quant_suffix(o)
                            if self._is_const(o) and _HF_NAME.match(n) and n.endswith(".bias"):
                                return n[: -len("bias")] + "weight"
                    if c.op_type in ("Cast", "Mul"):  # MatMulInteger -> Cast -> Mul(scales) -> Add(bias)
                        nxt += list(c.output)
            frontier = nxt
        return None

    def _linear_name(self, node, weight_value: str, bias: str | None = None) -> str | None:
        if bias:
            n = _strip_quant_suffix(bias)
            if _HF_NAME.match(n) and n.endswith(".bias"):
                return n[: -len("bias")] + "weight"
        return self._bias_name(node.output[0]) or self._chain_name(weight_value) or _scope_name(node.name)

    def _integer_scale(self, node) -> str | None:
        """The weight scale of a MatMulInteger: Cast -> Mul(., a_scale * b_scale) after it."""
        for c in self._consumers.get(node.output[0], []):
            if c.op_type != "Cast":
                continue
            for m in self._consumers.get(c.output[0], []):
                if m.op_type != "Mul":
                    continue
                other = next((i for i in m.input if i != c.output[0]), None)
                if other is None:
                    continue
                if self._is_const(other):
                    return other
                p = self._producer.get(other)
                if p is not None and p.op_type == "Mul":
                    consts = [i for i in p.input if self._is_const(i)]
                    if len(consts) == 1:
                        return consts[0]
        return None

    def _build_map(self, g) -> None:
        for node in g.node:
            op, ins = node.op_type, list(node.input)
            if op == "MatMul" and len(ins) == 2 and self._is_const(ins[1]) and not self._is_const(ins[0]):
                if len(self._shape(ins[1])) == 2:
                    self._add(self._linear_name(node, ins[1]), _Src(ins[1], transpose=True), node)
            elif op == "Gemm" and len(ins) >= 2 and self._is_const(ins[1]) and not self._is_const(ins[0]):
                bias = ins[2] if len(ins) > 2 and ins[2] else None
                src = _Src(ins[1], transpose=not self._attr(node, "transB", 0),
                           alpha=float(self._attr(node, "alpha", 1.0)))
                self._add(self._linear_name(node, ins[1], bias), src, node)
            elif op == "MatMulInteger" and len(ins) >= 2 and self._is_const(ins[1]):
                scale = self._integer_scale(node)
                zp = ins[3] if len(ins) > 3 and ins[3] and self._is_const(ins[3]) else None
                if scale is not None:
                    name = self._linear_name(node, ins[1])
                    self._add(name, _Src(ins[1], transpose=True, scale=scale, zero_point=zp, axis=1), node)
            elif op == "Gather" and self._is_const(ins[0]) and not self._is_const(ins[1]) \
                    and self._attr(node, "axis", 0) == 0 and len(self._shape(ins[0])) == 2:
                name = self._chain_name(ins[0]) or _scope_name(node.name)
                src = _Src(ins[0])
                deq = [c for c in self._consumers.get(node.output[0], []) if c.op_type == "DequantizeLinear"]
                if deq and all(self._is_const(i) for i in deq[0].input[1:] if i):
                    d = deq[0]
                    zp = d.input[2] if len(d.input) > 2 and d.input[2] else None
                    src = _Src(ins[0], scale=d.input[1], zero_point=zp)
                self._add(name, src, node)
            elif op in _NORM_OPS:
                si, bi = _NORM_OPS[op]
                if len(ins) > si and self._is_const(ins[si]):
                    name = ins[si] if _HF_NAME.match(ins[si]) and ins[si].endswith(".weight") else None
                    bias = ins[bi] if bi is not None and len(ins) > bi else ""
                    if name is None and _HF_NAME.match(bias) and bias.endswith(".bias"):
                        name = bias[: -len("bias")] + "weight"
                    self._add(name or _scope_name(node.name), _Src(ins[si]), node)
        # Everything else that already carries a Hugging Face name (biases, gains, ...), except the
        # pieces of a quantised weight (its scale feeds only the constant chain that rebuilds it).
        for name, t in self._init.items():
            if not _HF_NAME.match(name) or name in self._map or name.endswith(("_scale", "_zero_point")):
                continue
            users = self._consumers.get(name, [])
            if users and all(u.op_type in _FOLDABLE and all(self._is_const(o) for o in u.output) for u in users):
                continue
            if self._np_dtype(t.data_type).kind == "f" or t.data_type == self._onnx.TensorProto.BFLOAT16:
                self._map[name] = _Src(name)

    # --- config -----------------------------------------------------------------------------
    def _config(self) -> dict:
        given = read_json(self._dir, "config.json", "config") or {}
        cfg = self._infer_config()
        if not given and cfg.get("model_type") is None:
            raise FingerprintError(
                f"{self.source}: cannot tell the architecture from the ONNX graph (only BERT-style encoders are "
                f"recognised); put the model's config.json next to the .onnx file")
        cfg.update(given)
        return cfg

    def _find(self, suffix: str) -> str | None:
        hits = sorted((n for n in self._map if n == suffix or n.endswith("." + suffix)), key=len)
        return hits[0] if hits else None

    def _infer_config(self) -> dict:
        names = list(self._map)
        cfg: dict = {"model_type": None}
        q0 = self._find("encoder.layer.0.attention.self.query.weight")
        emb = self._find("embeddings.word_embeddings.weight")
        if q0 is None or emb is None:
            return cfg
        layers = {int(m.group(1)) for n in names for m in [re.search(r"encoder\.layer\.(\d+)\.", n)] if m}
        vocab, hidden = self.shape(emb)
        cfg.update(model_type="bert", hidden_size=hidden, vocab_size=vocab, num_hidden_layers=max(layers) + 1)
        inter = self._find("encoder.layer.0.intermediate.dense.weight")
        if inter is not None:
            cfg["intermediate_size"] = self.shape(inter)[0]
        heads = self._heads_after(self._origin.get(q0), hidden)
        if heads is None:  # the terms sum over heads, so for BERT a guess only has to divide the width
            heads = next(h for h in (hidden // 64, hidden // 32, 1) if h >= 1 and hidden % h == 0)
            cfg["num_attention_heads_guessed"] = True
        cfg["num_attention_heads"] = heads
        return cfg

    def _heads_after(self, node, hidden: int) -> int | None:
        """Head count from the Reshape that splits the query projection into heads."""
        if node is None:
            return None
        frontier = [node.output[0]]
        for _ in range(4):
            nxt = []
            for v in frontier:
                for c in self._consumers.get(v, []):
                    if c.op_type == "Reshape":
                        dims = self._shape_operand(c.input[1])
                        if dims and len(dims) >= 2:
                            h, hd = dims[-2], dims[-1]
                            if isinstance(h, int) and h > 0 and hidden % h == 0:
                                return h
                            if isinstance(hd, int) and hd > 0 and hidden % hd == 0:
                                return hidden // hd
                        return None
                    if c.op_type in ("Add", "Cast", "Mul"):
                        nxt += list(c.output)
            frontier = nxt
        return None

    def _shape_operand(self, name: str) -> list | None:
        """A Reshape's target shape as far as it is constant (None where it is computed at run time)."""
        if self._is_const(name):
            return [int(v) for v in self._value(name).reshape(-1)]
        node = self._producer.get(name)
        if node is not None and node.op_type == "Concat":
            out: list = []
            for i in node.input:
                if self._is_const(i):
                    out += [int(v) for v in self._value(i).reshape(-1)]
                else:
                    out.append(None)
            return out
        return None

    # --- Checkpoint API ---------------------------------------------------------------------
    def names(self):
        return list(self._map)

    def shape(self, name):
        src = self._map[name]
        s = self._shape(src.value)
        return tuple(reversed(s)) if src.transpose else tuple(s)

    def dtype_name(self, name):
        """The stored dtype at the root of the tensor's chain (int8 for a quantised weight)."""
        v = self._map[name].value
        for _ in range(16):
            if v in self._init:
                t = self._init[v]
                if t.data_type == self._onnx.TensorProto.BFLOAT16:
                    return "bfloat16"
                return self._onnx.helper.tensor_dtype_to_string(t.data_type).replace("TensorProto.", "").lower() \
                    if t.data_type in _packed_types(self._onnx) else str(self._np_dtype(t.data_type))
            node = self._producer.get(v)
            if node is None:
                break
            if node.op_type == "Constant":
                return str(self._value(v).dtype)
            v = self._data_input(node)
            if v is None:
                break
        return "?"

    def dtype_summary(self) -> str:
        mats = [self.dtype_name(n) for n in self._map if len(self.shape(n)) == 2]
        return max(sorted(set(mats)), key=mats.count) if mats else "?"

    def _read(self, name, rows):
        src = self._map[name]
        try:
            direct_rows = rows if not src.transpose else None
            arr = self._value(src.value, direct_rows)
            if src.scale is not None:
                full = self._shape(src.value)
                scale = self._value(src.scale)
                zp = self._value(src.zero_point) if src.zero_point else None
                axis = src.axis
                if axis is None:  # a table Gathered then dequantised: the axis whose length the scale has
                    n = scale.size
                    axis = 1 if n == full[1] else 0
                arr = _dequantize(arr, full, scale, zp, axis, 0, direct_rows)
            arr = np.asarray(arr, dtype=np.float32)
            if src.transpose:
                arr = arr.T
                if rows is not None:
                    arr = arr[np.asarray(rows, dtype=np.int64)]
            if src.alpha != 1.0:
                arr = arr * np.float32(src.alpha)
        except FingerprintError:
            raise
        except (ValueError, IndexError, KeyError, OSError) as e:
            raise FingerprintError(f"{self.source}: cannot read tensor '{name}' ({str(e).splitlines()[0]})") from None
        arr = np.ascontiguousarray(arr)
        if not arr.flags.writeable:  # a view of the file's bytes
            arr = arr.copy()
        return torch.from_numpy(arr)


def _packed_types(onnx) -> set[int]:
    names = ("INT4", "UINT4", "FLOAT4E2M1", "INT2", "UINT2")
    return {getattr(onnx.TensorProto, n) for n in names if hasattr(onnx.TensorProto, n)}


def _dequantize(q: np.ndarray, full_shape: tuple[int, ...], scale: np.ndarray, zp: np.ndarray | None,
                axis: int, block: int, rows: Sequence[int] | None) -> np.ndarray:
    """ONNX DequantizeLinear: (q - zp) * scale, per tensor, per axis or blocked; `q` may be a row subset."""
    nd = len(full_shape)
    ax = axis % nd if nd else 0

    def expand(p: np.ndarray) -> np.ndarray:
        p = np.asarray(p)
        if p.size == 1:
            return p.reshape(())
        if p.ndim == 1:  # per axis
            shape = [1] * nd
            shape[ax] = p.shape[0]
            p = p.reshape(shape)
        elif p.ndim == nd and block:  # blocked along `ax`
            p = np.repeat(p, block, axis=ax)
            p = np.take(p, np.arange(full_shape[ax]), axis=ax)
        if rows is not None and p.ndim == nd and p.shape[0] == full_shape[0] and full_shape[0] != 1:
            p = p[np.asarray(rows, dtype=np.int64)]
        return p

    out = q.astype(np.float32)
    if zp is not None:
        out = out - expand(zp).astype(np.float32)
    return out * expand(scale).astype(np.float32)
