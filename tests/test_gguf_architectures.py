"""GGUF files of every architecture the GGUF adapter reads, written the way llama.cpp's
convert_hf_to_gguf.py writes them, must give the same invariant terms as the Hugging Face model.

Each tiny HF model (tests/tiny_models.py) is converted here as the converter does it: names through
gguf's own TensorNameMap, and the per-arch transforms (llama's q/k row permutation, experts stacked
into 3-D tensors, gpt-oss's interleaved gate_up split, deepseek2's kv_b split into k_b / v_b), with
the converter's metadata keys and the tokenizer's tokens. Where an HF adapter reads the type, the
two fingerprints must agree term by term; where none does yet, the terms are checked against
transformers' own forward pass made bilinear (tests/functional_reference.py).
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import readable_fp
from readable_fp.errors import FingerprintError

# HF type -> (GGUF arch, what the conversion must exercise)
CASES = {
    "llama": ("llama", {}),
    "mixtral": ("llama", {}),
    "qwen2_moe": ("qwen2moe", {}),
    "qwen3_moe": ("qwen3moe", {}),
    "gpt_oss": ("gpt-oss", {}),
    "deepseek_v2": ("deepseek2", {"kv_b": "fused"}),  # older converters: attn_kv_b
    "deepseek_v3": ("deepseek2", {"kv_b": "split"}),  # newer: attn_k_b (transposed) + attn_v_b
    "qwen3": ("qwen3", {}),  # per-head q/k norms
    "olmo2": ("olmo2", {}),  # q/k norms over all heads at once; post-norms only
    "phi": ("phi2", {}),
    "starcoder2": ("starcoder2", {}),
}
N_TOKENS = 48
_EXPERT = re.compile(r"model\.layers\.(\d+)\.(mlp|block_sparse_moe)\.experts\.(\d+)\.(\w+)\.weight")
_UNMAPPED_OK = ("rotary_emb", "e_score_correction_bias")  # router extras and buffers the converter drops or renames


def _permute(w, n_head, n_kv=None):
    """convert_hf_to_gguf.py LlamaModel.permute."""
    if n_kv is not None and n_head != n_kv:
        n_head = n_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _converted(sd: dict, cfg: dict, arch: str, opts: dict):
    """(HF-style name, tensor) as the converter hands them to its TensorNameMap, per-arch transforms done."""
    experts: dict = {}
    for name, t in sd.items():
        m = _EXPERT.fullmatch(name)
        if m:  # every MoE converter here stacks the experts of a layer into one 3-D tensor, expert first
            experts.setdefault((m[1], m[2], m[4]), {})[int(m[3])] = t
            continue
        if arch == "llama" and name.endswith("q_proj.weight"):
            t = _permute(t, cfg["num_attention_heads"], cfg["num_attention_heads"])
        elif arch == "llama" and name.endswith("k_proj.weight"):
            t = _permute(t, cfg["num_attention_heads"], cfg["num_key_value_heads"])
        if arch == "gpt-oss" and name.endswith("mlp.experts.gate_up_proj"):  # (E, d, 2F), gate/up interleaved
            t = t.transpose(-1, -2)
            yield name.replace("gate_up_proj", "gate_proj.weight"), t[:, ::2, :]
            yield name.replace("gate_up_proj", "up_proj.weight"), t[:, 1::2, :]
            continue
        if arch == "gpt-oss" and name.endswith("mlp.experts.gate_up_proj_bias"):
            yield name.replace("gate_up_proj_bias", "gate_proj.bias"), t[..., ::2]
            yield name.replace("gate_up_proj_bias", "up_proj.bias"), t[..., 1::2]
            continue
        if arch == "gpt-oss" and name.endswith("mlp.experts.down_proj"):
            yield name + ".weight", t.transpose(-1, -2)
            continue
        if arch == "gpt-oss" and name.endswith("mlp.experts.down_proj_bias"):
            yield name.replace("down_proj_bias", "down_proj.bias"), t
            continue
        if arch == "gpt-oss" and name.endswith("sinks"):
            yield name + ".weight", t
            continue
        if arch == "deepseek2" and name.endswith("kv_b_proj.weight") and opts.get("kv_b") == "split":
            nope, vd = cfg["qk_nope_head_dim"], cfg["v_head_dim"]
            kv_b = t.view(-1, nope + vd, t.shape[-1])
            k_b, v_b = torch.split(kv_b, [nope, vd], dim=1)
            yield name.replace("kv_b_proj", "k_b_proj"), k_b.transpose(1, 2)
            yield name.replace("kv_b_proj", "v_b_proj"), v_b
            continue
        yield name, t
    for (bid, block, w), each in experts.items():
        stacked = torch.stack([each[e] for e in range(len(each))], dim=0)
        if block == "block_sparse_moe":  # Mixtral, as LlamaModel renames it
            yield f"layers.{bid}.feed_forward.experts.{w}.weight", stacked
        else:
            yield f"model.layers.{bid}.mlp.experts.{w}.weight", stacked


def _metadata(w, cfg: dict, arch: str) -> None:
    import gguf

    H = cfg["num_attention_heads"]
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(H)
    if arch == "deepseek2":  # MLA is written as MQA over the latent
        r, rope = cfg["kv_lora_rank"], cfg["qk_rope_head_dim"]
        w.add_head_count_kv(1)
        w.add_q_lora_rank(cfg["q_lora_rank"])
        w.add_kv_lora_rank(r)
        w.add_key_length(r + rope)
        w.add_value_length(r)
        w.add_key_length_mla(cfg["qk_nope_head_dim"] + rope)
        w.add_value_length_mla(cfg["v_head_dim"])
        w.add_rope_dimension_count(rope)
        w.add_leading_dense_block_count(cfg["first_k_dense_replace"])
        w.add_expert_feed_forward_length(cfg["moe_intermediate_size"])
        w.add_expert_shared_count(cfg["n_shared_experts"])
        w.add_expert_count(cfg["n_routed_experts"])
    elif arch == "phi2":
        w.add_head_count_kv(H)
    else:
        w.add_head_count_kv(cfg["num_key_value_heads"])
        if cfg.get("head_dim"):
            w.add_key_length(cfg["head_dim"])
            w.add_value_length(cfg["head_dim"])
    n_exp = cfg.get("num_local_experts") or cfg.get("num_experts")
    if n_exp and arch != "deepseek2":
        w.add_expert_count(n_exp)
        w.add_expert_used_count(cfg["num_experts_per_tok"])
        if cfg.get("moe_intermediate_size"):
            w.add_expert_feed_forward_length(cfg["moe_intermediate_size"])
    w.add_layer_norm_rms_eps(1e-6)
    w.add_tokenizer_model("gpt2")
    w.add_file_type(gguf.LlamaFileType.ALL_F32)


def _tokens(hf_dir: Path):
    import gguf

    tj = json.loads((hf_dir / "tokenizer.json").read_text())
    tokens = [""] * len(tj["model"]["vocab"])
    for t, i in tj["model"]["vocab"].items():
        tokens[i] = t
    special = {a["id"] for a in tj["added_tokens"] if a.get("special")}
    return tokens, [int(gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL) for i in range(len(tokens))]


def write_gguf(hf_dir: Path, out: Path, arch: str, opts: dict, f16: bool = False) -> Path:
    """A GGUF of the HF directory as convert_hf_to_gguf.py writes `arch` (F32, or F16 matrices)."""
    import gguf

    cfg = json.loads((hf_dir / "config.json").read_text())
    sd = load_file(str(hf_dir / "model.safetensors"))
    tmap = gguf.get_tensor_name_map(next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch), cfg["num_hidden_layers"])
    w = gguf.GGUFWriter(str(out), arch)
    _metadata(w, cfg, arch)
    tokens, types = _tokens(hf_dir)
    w.add_token_list(tokens)
    w.add_token_types(types)
    for name, t in _converted(sd, cfg, arch, opts):
        gname = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
        if gname is None:
            assert any(s in name for s in _UNMAPPED_OK), f"{arch}: the converter would map '{name}'"
            continue
        arr = t.float().contiguous().numpy()
        w.add_tensor(gname, arr.astype("float16") if f16 and arr.ndim >= 2 else arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def _cos(a, b) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    return float(a @ b / (a.norm() * b.norm()))


def _reference(hf_type: str, hf_dir: Path, gguf_path: Path, inv) -> dict[str, torch.Tensor]:
    """Terms from transformers' forward pass made bilinear, on the GGUF read's own probe embeddings."""
    import transformers

    import functional_reference as fr
    import tiny_models
    from readable_fp.model_terms import language_model, probe_ids

    ckpt = readable_fp.load(str(gguf_path))
    lm = language_model(ckpt)
    table = probe_ids(ckpt)
    X = lm.embed_post(ckpt.get(lm.embedding, rows=[table[s] for s in inv.probes]))
    # the default grouped_mm experts kernel rejects the reference's all-experts routing on CPU
    kw = {"experts_implementation": "eager"} if hf_type == "gpt_oss" else {}
    model = getattr(transformers, tiny_models.auto_class(hf_type)).from_pretrained(hf_dir, dtype=torch.float32, **kw).eval()
    fr.prepare(model)
    return {f"{t}@{i}": m for i in inv.layers for t, m in fr.reference_terms(model, lm.n_layers, i, X).items()}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """hf_type -> (HF directory, its F32 GGUF), built on first use."""
    import tiny_models

    root = tmp_path_factory.mktemp("gguf_arch")
    done: dict = {}

    def get(hf_type: str):
        if hf_type not in done:
            arch, opts = CASES[hf_type]
            hf_dir = root / hf_type
            # llama.cpp's phi2 has no q/k norm tensors and writes head_count_kv = head_count (phi-1,
            # 1.5 and 2 have no norms and no GQA): build phi that way
            saved = tiny_models._OVERRIDES.get("phi")
            tiny_models._OVERRIDES["phi"] = {**(saved or {}), "qk_layernorm": False, "num_key_value_heads": 4}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tiny_models.build(hf_type, hf_dir)
            finally:
                if saved is None:
                    del tiny_models._OVERRIDES["phi"]
                else:
                    tiny_models._OVERRIDES["phi"] = saved
            done[hf_type] = (hf_dir, write_gguf(hf_dir, root / f"{hf_type}.gguf", arch, opts))
        return done[hf_type]
    return get


@pytest.mark.parametrize("hf_type", list(CASES))
def test_gguf_terms_equal_hugging_face_terms(converted, hf_type):
    hf_dir, gguf_path = converted(hf_type)
    inv = readable_fp.invariants(str(gguf_path), layers="all", n_tokens=N_TOKENS, progress=False)
    assert inv.layers == list(range(4))
    try:
        hf = readable_fp.invariants(str(hf_dir), layers="all", n_tokens=N_TOKENS, progress=False)
    except FingerprintError as e:
        if "unsupported architecture" not in str(e):
            raise
        ref = _reference(hf_type, hf_dir, gguf_path, inv)  # no HF adapter for this type yet
        assert set(ref) == set(inv.terms)
        for key, m in ref.items():
            assert _cos(inv.terms[key], m) >= 0.99999, (key, _cos(inv.terms[key], m))
        return
    assert inv.probes == hf.probes
    assert set(inv.terms) == set(hf.terms)
    for key, m in hf.terms.items():
        torch.testing.assert_close(inv.terms[key], m, rtol=1e-4, atol=1e-5 * float(m.abs().max()))


@pytest.mark.parametrize("hf_type", ["mixtral", "deepseek_v3"])
def test_f16_gguf_stays_within_rounding(converted, tmp_path, hf_type):
    hf_dir, f32 = converted(hf_type)
    arch, opts = CASES[hf_type]
    f16 = write_gguf(hf_dir, tmp_path / "f16.gguf", arch, opts, f16=True)
    a = readable_fp.invariants(str(f32), layers="all", n_tokens=N_TOKENS, progress=False)
    b = readable_fp.invariants(str(f16), layers="all", n_tokens=N_TOKENS, progress=False)
    assert a.probes == b.probes and set(a.terms) == set(b.terms)
    for key in a.terms:
        assert _cos(a.terms[key], b.terms[key]) >= 0.99999, key


def test_gemma3n_is_refused(tmp_path):
    """gemma3n GGUFs (AltUp streams, Laurel blocks, per-layer inputs) have no single residual
    stream the terms could read; the reader must say so rather than misread them."""
    import gguf

    path = tmp_path / "g3n.gguf"
    w = gguf.GGUFWriter(str(path), "gemma3n")
    w.add_block_count(1)
    w.add_embedding_length(8)
    w.add_head_count(2)
    for name in ("token_embd.weight", "blk.0.attn_q.weight"):
        w.add_tensor(name, torch.ones(8, 8).numpy())
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(FingerprintError, match="gemma3n"):
        readable_fp.invariants(str(path), layers="all", n_tokens=4, progress=False)
