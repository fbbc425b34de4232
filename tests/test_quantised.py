"""Quantised checkpoints: read exactly as their correct dequantisation, or refused in one line.

Real weights (SmolLM2-135M from the bundled GGUF, via transformers; all-MiniLM-L6-v2) are
written in every format of bench/quantise.py the way its release tool writes it. Each must
read as the same quantised values dequantised by the tool's own arithmetic (ICS >= 99.99, and
the tensors themselves equal), and against the unquantised source give the verdict "same base".
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from bench import quantise as Q
from readable_fp import api
from readable_fp.formats.safetensors_dir import HFDirCheckpoint
from readable_fp.quant.packing import unpack
from tests.helpers import LLAMA_TINY, save_tiny

N_TOKENS = 512
CASES = [(f, m) for f in Q.FORMATS for m in f.models]


@pytest.fixture(scope="session")
def sources(smollm2_hf, minilm_dir):
    return {"smollm2": Path(smollm2_hf["dir"]), "minilm": Path(minilm_dir)}


@pytest.fixture(scope="session")
def source_invariants(sources):
    cache = {}

    def get(model: str):
        if model not in cache:
            cache[model] = api.invariants(str(sources[model]), n_tokens=N_TOKENS, progress=False)
        return cache[model]
    return get


def _last_layer_weights(ckpt: HFDirCheckpoint) -> list[str]:
    n = max(int(x.split(".")[x.split(".").index("layers" if ".layers." in x else "layer") + 1])
            for x in ckpt.names() if ".layers." in x or ".layer." in x)
    return [x for x in ckpt.names() if (f".layers.{n}." in x or f".layer.{n}." in x) and x.endswith(".weight")
            and len(ckpt.shape(x)) == 2]


@pytest.mark.parametrize("fmt,model", CASES, ids=[f"{m}: {f.label}" for f, m in CASES])
def test_quantised_format_reads_as_its_dequantised_values(fmt, model, sources, source_invariants, tmp_path):
    dst, ref = fmt.write(sources[model], tmp_path / "quantised", tmp_path / "reference", **fmt.settings)
    q, r = HFDirCheckpoint(dst), HFDirCheckpoint(ref)
    weights = _last_layer_weights(q)
    assert weights and any(w in q._stored for w in weights), f"{fmt.label}: nothing in the last layer is quantised"
    for w in weights:  # the rebuilt tensors are the tool's dequantised values
        a, b = q.get(w), r.get(w)
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7 * float(b.abs().max())), f"{w}: max |diff| {float((a - b).abs().max())}"
    inv_q = api.invariants(q, n_tokens=N_TOKENS, progress=False)
    vs_ref = api.compare(inv_q, api.invariants(r, n_tokens=N_TOKENS, progress=False))
    vs_src = api.compare(inv_q, source_invariants(model))
    print(f"\n[ICS] {model} {fmt.label}: vs source {vs_src.ics:.2f} ({vs_src.verdict}); "
          f"vs its dequantised fp32 copy {vs_ref.ics:.3f}")
    assert vs_ref.ics >= 99.99
    assert vs_src.verdict == "same base"
    stored = [v for k, v in inv_q.info["storage"].items() if k in q._stored]
    assert stored and all("(" in v for v in stored), "the record says how each quantised tensor was stored"
    shutil.rmtree(tmp_path)  # ~1 GB per SmolLM2 case


# --- tiny models: formats the real ones cannot show, independent cross-checks, refusals -------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tiny")
    save_tiny("llama", d, **dict(LLAMA_TINY, hidden_size=128, intermediate_size=256, head_dim=16))
    return d


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "readable_fp.cli", *map(str, args)], capture_output=True, text=True)


def _refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


def _edit_config(d: Path, **changes) -> None:
    cfg = json.loads((d / "config.json").read_text())
    for k, v in changes.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    (d / "config.json").write_text(json.dumps(cfg))


def test_unknown_quant_method_is_refused_in_one_line(tiny, tmp_path):
    d = tmp_path / "hqq"
    shutil.copytree(tiny, d)
    _edit_config(d, quantization_config={"quant_method": "hqq", "nbits": 4})
    _refused(_cli("fingerprint", d, "-o", tmp_path / "out", "--no-progress"), "unsupported quantisation 'hqq'")
    assert not (tmp_path / "out").exists()
    _edit_config(d, quantization_config={"quant_method": "\x1b[2Jevil\x07"})  # a terminal escape in the file
    proc = _cli("compare", d, tiny, "--no-progress")
    _refused(proc, "unsupported quantisation '\\x1b[2jevil\\x07'")
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr


def test_codes_without_a_declaration_are_refused(tiny, tmp_path):
    dst, _ = Q.gptq(tiny, tmp_path / "gptq", tmp_path / "ref")
    _edit_config(dst, quantization_config=None)
    _refused(_cli("fingerprint", dst, "-o", tmp_path / "out", "--no-progress"), "qweight", "declares no quantization_config")
    # int8 codes under plain weight names: caught when read, by their dtype
    sd = {k: (v * 100).to(torch.int8) if k.endswith("proj.weight") else v
          for k, v in load_file(str(tiny / "model.safetensors")).items()}
    raw = tmp_path / "raw_int8"
    Q._write(raw, tiny, sd, None)
    _refused(_cli("fingerprint", raw, "-o", tmp_path / "out", "--no-progress"), "stored as I8", "refusing to read codes")


def test_settings_that_do_not_fit_the_tensors_are_refused(tiny, tmp_path):
    dst, _ = Q.gptq(tiny, tmp_path / "gptq3", tmp_path / "ref3", bits=3, group_size=64)
    _edit_config(dst, quantization_config={**json.loads((dst / "config.json").read_text())["quantization_config"], "bits": 4})
    _refused(_cli("compare", dst, tiny, "--no-progress"), "g_idx do not fit")
    awq, _ = Q.awq(tiny, tmp_path / "awq", tmp_path / "ref_awq", group_size=64)
    for bad, words in (({"version": "gemv_fast"}, ("'gemv_fast' packing is not read",)),
                       ({"bits": 3}, ("AWQ with 3 bits",)), ({"zero_point": False}, ("without zero points",))):
        _edit_config(awq, quantization_config={"quant_method": "awq", "bits": 4, "group_size": 64, "version": "gemm", **bad})
        _refused(_cli("compare", awq, tiny, "--no-progress"), *words)
    fp8, _ = Q.fp8_blocks(tiny, tmp_path / "fp8", tmp_path / "ref_fp8", block=(64, 64))
    _edit_config(fp8, quantization_config={"quant_method": "fp8", "weight_block_size": [32, 32]})
    _refused(_cli("compare", fp8, tiny, "--no-progress"), "blocks of a")


def test_gptq_marlin_and_ct_rotations_are_refused(tiny, tmp_path):
    dst, _ = Q.gptq(tiny, tmp_path / "g", tmp_path / "r")
    _edit_config(dst, quantization_config={"quant_method": "gptq", "bits": 4, "group_size": 128, "checkpoint_format": "marlin"})
    _refused(_cli("compare", dst, tiny, "--no-progress"), "GPTQ checkpoint format 'marlin'")
    ct, _ = Q.compressed(tiny, tmp_path / "ct", tmp_path / "ct_ref", preset="W4A16", group_size=64)
    qc = json.loads((ct / "config.json").read_text())["quantization_config"]
    _edit_config(ct, quantization_config={**qc, "transform_config": {"config_groups": {"u": {"type": "hadamard"}}}})
    _refused(_cli("compare", ct, tiny, "--no-progress"), "transform_config")


def test_three_bit_words_are_a_little_endian_bit_stream():
    """GPTQ's 3-bit layout (GPTQModel's wf tables): 32 codes in 3 words, two straddling words."""
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 8, (5, 64), generator=g)  # 5 columns, 64 inputs each
    words = []
    for col in codes.tolist():
        stream = sum(c << (3 * j) for j, c in enumerate(col))  # bit 3j of one long integer
        words.append([(stream >> (32 * k)) & 0xFFFFFFFF for k in range(6)])
    packed = torch.tensor(words, dtype=torch.int64).to(torch.int32).T  # (6 words, 5 columns): packed along dim 0
    assert torch.equal(unpack(packed, 3, 64, dim=0).long(), codes.T)


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8])
def test_unpack_inverts_compressed_tensors_dense_packing(bits):
    """compressed-tensors' pack_to_int32 writes the same little-endian stream, along either dimension."""
    from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32

    g = torch.Generator().manual_seed(bits)
    for n in (40, 64, 96):  # 40: a last, partial period of words
        codes = torch.randint(0, 1 << bits, (n, 24), generator=g)
        for dim in (0, 1):
            packed = pack_to_int32((codes - (1 << (bits - 1))).to(torch.int8), bits, packed_dim=dim)
            assert torch.equal(unpack(packed, bits, codes.shape[dim], dim=dim).long(), codes)


def test_awq_gemm_matches_compressed_tensors_converter(tiny, tmp_path):
    """An independent reader of AutoAWQ's GEMM packing: compressed-tensors' AutoAWQConverter."""
    from compressed_tensors.compressors import BaseCompressor
    from compressed_tensors.entrypoints.convert.converters.autoawq import AutoAWQConverter

    dst, _ = Q.awq(tiny, tmp_path / "awq", tmp_path / "ref", group_size=64)
    conv = AutoAWQConverter.from_autoawq_config(json.loads((dst / "config.json").read_text())["quantization_config"])
    sd, ours = load_file(str(dst / "model.safetensors")), HFDirCheckpoint(dst)
    for m in ("model.layers.2.self_attn.k_proj", "model.layers.2.mlp.down_proj"):
        packed = conv.process({k: v for k, v in sd.items() if k.startswith(m + ".")})
        scheme = next(iter(conv.update_config(None).config_groups.values()))
        state = {k.rsplit(".", 1)[1]: v.float() if v.is_floating_point() else v for k, v in packed.items()}
        theirs = BaseCompressor.get_value_from_registry("pack-quantized").decompress(state, scheme)["weight"]
        assert torch.equal(theirs.float(), ours.get(m + ".weight"))


def test_bnb_int8_legacy_tile_layout_is_refused(tiny, tmp_path):
    dst, _ = Q.bitsandbytes(tiny, tmp_path / "b8", tmp_path / "ref", kind="int8")
    sd = load_file(str(dst / "model.safetensors"))
    sd["model.layers.2.self_attn.q_proj.weight_format"] = torch.tensor(1, dtype=torch.uint8)  # "col32"
    save_file(sd, str(dst / "model.safetensors"), metadata={"format": "pt"})
    _refused(_cli("compare", dst, tiny, "--no-progress"), "GPU tile layout")


def test_mlx_embedding_rows_are_read_lazily(tiny, tmp_path):
    dst, ref = Q.mlx(tiny, tmp_path / "mlx", tmp_path / "ref", bits=4, group_size=64)
    ckpt = HFDirCheckpoint(dst)
    rows = [3, 77, 500]
    x = ckpt.get("model.embed_tokens.weight", rows=rows)
    assert torch.equal(x, HFDirCheckpoint(ref).get("model.embed_tokens.weight", rows=rows))
    assert ckpt.stats.bytes_read < 3 * 128  # three rows of 4-bit codes, scales and biases, not 512 rows


def test_gpt_oss_mxfp4_experts_are_rebuilt_and_read(tmp_path):
    src = tmp_path / "gpt_oss"
    save_tiny("gpt_oss", src, hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, num_local_experts=4, num_experts_per_tok=2,
              layer_types=["full_attention", "sliding_attention"])
    dst, ref = Q.gpt_oss_mxfp4(src, tmp_path / "mxfp4", tmp_path / "ref")
    ckpt, reference = HFDirCheckpoint(dst), HFDirCheckpoint(ref)
    for n in ("model.layers.1.mlp.experts.gate_up_proj", "model.layers.0.mlp.experts.down_proj"):
        assert n in ckpt.names() and n + "_blocks" not in ckpt.names()
        assert ckpt.shape(n) == reference.shape(n)
        assert torch.equal(ckpt.get(n), reference.get(n))  # transformers' dequantiser = the OCP formula on the codes
        assert "mxfp4" in ckpt.storage(n)
    # the MoE terms of the MXFP4 file equal those of its dequantised copy
    a = api.invariants(str(dst), n_tokens=64, layers="all", progress=False)
    b = api.invariants(str(ref), n_tokens=64, layers="all", progress=False)
    assert a.info["experts"] == 4 and a.keys() == b.keys()
    for k in a.keys():
        torch.testing.assert_close(a.terms[k], b.terms[k], rtol=1e-5, atol=1e-6 * float(b.terms[k].abs().max()))


def test_record_names_the_storage(tiny, tmp_path):
    dst, _ = Q.gptq(tiny, tmp_path / "gptq", tmp_path / "ref", bits=4, group_size=64, act_order=True)
    proc = _cli("fingerprint", dst, "-o", tmp_path / "fp", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "fp" / "fingerprint.json").read_text())
    assert record["model"]["dtype"] == "gptq4"
    stored = record["tensors_read_storage"]
    want = "gptq int4, group 64, act-order, symmetric, gptq zeros (qweight I32 [16, 128]"
    assert stored["model.layers.2.self_attn.q_proj.weight"].startswith(want)
    assert stored["model.layers.2.input_layernorm.weight"] == "F32"


@pytest.mark.parametrize("kind", ["nf4-double", "fp4", "int8"])
def test_bnb_partial_last_block(kind, tmp_path):
    """A weight whose size is not a multiple of the 64-value block (100 x 40 = 62.5 blocks)."""
    src = tmp_path / "odd"
    save_tiny("llama", src, **dict(LLAMA_TINY, hidden_size=40, intermediate_size=100, num_attention_heads=4,
                                   num_key_value_heads=2, head_dim=10))
    dst, ref = Q.bitsandbytes(src, tmp_path / "q", tmp_path / "ref", kind=kind)
    q, r = HFDirCheckpoint(dst), HFDirCheckpoint(ref)
    for n in ("model.layers.2.mlp.up_proj.weight", "model.layers.2.mlp.down_proj.weight", "model.layers.1.self_attn.k_proj.weight"):
        assert torch.equal(q.get(n), r.get(n)), n
