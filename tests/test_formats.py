"""Every input format gives the same invariant terms for the same weights.

One tiny random Llama is written as a single safetensors file, as sharded safetensors, as
pytorch_model.bin, as sharded .bin, as a GGUF file (written the way llama.cpp's converter
does, including its q/k row permutation), and as a saved invariants file; a real PEFT LoRA
adapter on it is checked against PEFT's own `merge_and_unload`. Also: the invariants file is
byte-for-byte deterministic, and only the tensors the terms need are read.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import readable_fp

from readable_fp.cli import main as cli_main
from readable_fp.model_terms import Invariants, language_model

from helpers import LLAMA_TINY, save_tiny, write_tokenizer

N_TOKENS = 128
ROOT = Path(__file__).resolve().parents[1]


# ---- writers ----------------------------------------------------------------------------------
def llama_cpp_permute(w: torch.Tensor, n_head: int, n_head_kv: int | None = None) -> torch.Tensor:
    """llama.cpp convert_hf_to_gguf.py `LlamaModel.permute`: q/k rows reordered per head for its RoPE."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


_GGUF_LAYER = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
               "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
               "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
_GGUF_TOP = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}


def write_gguf(hf_dir: Path, out: Path, quant: str | None = None) -> Path:
    """A llama-architecture GGUF of a Hugging Face llama directory, named and permuted as
    llama.cpp's converter does, with the tokenizer's tokens and token types as metadata.
    `quant` ("Q8_0") quantises the 2-D layer matrices."""
    import gguf

    cfg = json.loads((hf_dir / "config.json").read_text())
    sd = load_file(str(hf_dir / "model.safetensors"))
    tj = json.loads((hf_dir / "tokenizer.json").read_text())
    tokens = [""] * len(tj["model"]["vocab"])
    for t, i in tj["model"]["vocab"].items():
        tokens[i] = t
    special = {a["id"] for a in tj["added_tokens"] if a.get("special")}
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(H)
    w.add_head_count_kv(KV)
    w.add_key_length(cfg["head_dim"])
    w.add_value_length(cfg["head_dim"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([int(gguf.TokenType.CONTROL) if i in special else int(gguf.TokenType.NORMAL)
                       for i in range(len(tokens))])
    for name, t in sd.items():
        if name in _GGUF_TOP:
            gname = _GGUF_TOP[name]
        else:
            _, _, i, rest = name.split(".", 3)  # model.layers.N.<module>.weight
            module = rest.rsplit(".", 1)[0]
            gname = f"blk.{i}.{_GGUF_LAYER[module]}.weight"
            if module == "self_attn.q_proj":
                t = llama_cpp_permute(t, H, H)
            elif module == "self_attn.k_proj":
                t = llama_cpp_permute(t, H, KV)
        arr = t.float().numpy()
        if quant and arr.ndim == 2 and name.startswith("model.layers."):
            qt = gguf.GGMLQuantizationType[quant]
            w.add_tensor(gname, gguf.quants.quantize(arr, qt), raw_dtype=qt)
        else:
            w.add_tensor(gname, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def write_bin_dir(src: Path, dst: Path, shards: int = 1) -> Path:
    """config + tokenizer of `src` with its weights as pytorch_model.bin (or `shards` .bin shards + index)."""
    dst.mkdir(parents=True)
    for f in ("config.json", "tokenizer.json"):
        shutil.copy(src / f, dst / f)
    sd = load_file(str(src / "model.safetensors"))
    if shards == 1:
        torch.save(sd, dst / "pytorch_model.bin")
        return dst
    names = sorted(sd)
    weight_map = {}
    for k in range(shards):
        fname = f"pytorch_model-{k + 1:05d}-of-{shards:05d}.bin"
        part = {n: sd[n] for n in names[k::shards]}
        torch.save(part, dst / fname)
        weight_map.update({n: fname for n in part})
    (dst / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return dst


def save_copy(model, dst: Path, **kw) -> Path:
    model.save_pretrained(dst, **kw)
    write_tokenizer(dst, model.config.vocab_size)
    return dst


def inv(ref, **kw) -> Invariants:
    return readable_fp.invariants(ref, n_tokens=N_TOKENS, progress=False, **kw)


def assert_same_terms(a: Invariants, b: Invariants, rtol=1e-5, atol=1e-7):
    assert a.probes == b.probes
    assert a.layers == b.layers and a.n_layers == b.n_layers
    assert set(a.terms) == set(b.terms)
    for k in a.terms:
        torch.testing.assert_close(b.terms[k], a.terms[k], rtol=rtol, atol=atol * float(a.terms[k].abs().max()),
                                   msg=lambda m: f"term {k}: {m}")


# ---- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny llama in every Hugging Face layout, plus a GGUF of it."""
    root = tmp_path_factory.mktemp("formats")
    model = save_tiny("llama", root / "single", **LLAMA_TINY)
    save_copy(model, root / "sharded", max_shard_size="100KB")
    write_bin_dir(root / "single", root / "bin")
    write_bin_dir(root / "single", root / "bin_sharded", shards=3)
    write_gguf(root / "single", root / "tiny.gguf")
    return {"root": root, "model": model, "single": root / "single", "sharded": root / "sharded",
            "bin": root / "bin", "bin_sharded": root / "bin_sharded", "gguf": root / "tiny.gguf"}


@pytest.fixture(scope="module")
def reference(tiny) -> Invariants:
    return inv(tiny["single"])


# ---- Hugging Face layouts and GGUF ------------------------------------------------------------
@pytest.mark.parametrize("layout, fmt", [("sharded", "safetensors (sharded)"), ("bin", "pytorch-bin"),
                                         ("bin_sharded", "pytorch-bin (sharded)"), ("gguf", "gguf")])
def test_every_layout_gives_the_same_terms(tiny, reference, layout, fmt):
    if layout == "sharded":
        assert len(list(tiny["sharded"].glob("model-*.safetensors"))) > 1
        assert (tiny["sharded"] / "model.safetensors.index.json").is_file()
    got = inv(tiny[layout])
    assert got.info["format"] == fmt
    assert reference.info["format"] == "safetensors"
    assert_same_terms(reference, got)
    assert got.info["bytes_read"] == reference.info["bytes_read"]


def test_gguf_q_k_come_back_in_hugging_face_order(tiny):
    """The terms sum over rows within a head, which the converter's permutation only reorders,
    so equal terms alone do not prove the un-permutation: compare the tensors themselves."""
    ckpt = readable_fp.load(tiny["gguf"])
    sd = load_file(str(tiny["single"] / "model.safetensors"))
    for i in range(LLAMA_TINY["num_hidden_layers"]):
        L = language_model(ckpt).layer(i)
        for name, got in (("q_proj", L.q), ("k_proj", L.k), ("v_proj", L.v), ("o_proj", L.o)):
            want = sd[f"model.layers.{i}.self_attn.{name}.weight"]
            assert torch.equal(got, want), (i, name)
        stored = ckpt.get(f"blk.{i}.attn_q.weight")
        assert not torch.equal(stored, sd[f"model.layers.{i}.self_attn.q_proj.weight"])  # it was permuted


def test_quantised_gguf_stays_close(tiny, reference):
    path = write_gguf(tiny["single"], tiny["root"] / "tiny-q8_0.gguf", quant="Q8_0")
    got = inv(path)
    assert got.info["dtype"] == "q8_0"
    res = readable_fp.compare(tiny["single"], path, n_tokens=N_TOKENS, progress=False)
    assert res.ics > 99.0, res.table()


def test_only_the_needed_tensors_are_read(tiny, reference):
    """bytes_read is exactly the probe rows of the embedding plus the chosen layers' matrices
    and norm gains (the gate, the other layers and the LM head are never touched)."""
    sd = load_file(str(tiny["single"] / "model.safetensors"))
    d = LLAMA_TINY["hidden_size"]
    want = len(reference.probes) * d * 4
    for i in reference.layers:
        for n in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.up_proj",
                  "mlp.down_proj", "input_layernorm", "post_attention_layernorm"):
            want += sd[f"model.layers.{i}.{n}.weight"].numel() * 4
    assert reference.info["bytes_read"] == want
    size = (tiny["single"] / "model.safetensors").stat().st_size
    assert want < 0.5 * size
    read = set(reference.info["tensors"])
    assert not any("gate_proj" in n or "lm_head" in n or "layers.0." in n for n in read), read


# ---- PEFT LoRA --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lora(tiny):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    root = tiny["root"]
    base = AutoModelForCausalLM.from_pretrained(tiny["single"]).eval()
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj", "down_proj"],
                          lora_dropout=0.0)
    pm = peft.get_peft_model(base, cfg)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_A" in name or "lora_B" in name:  # lora_B starts at zero: make the delta matter
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    pm.peft_config["default"].base_model_name_or_path = str(tiny["single"])
    pm.save_pretrained(root / "adapter")
    merged = pm.merge_and_unload()
    save_copy(merged, root / "merged")
    # the same adapter whose config names no usable base: the base must be given explicitly
    shutil.copytree(root / "adapter", root / "adapter_nobase")
    ac = json.loads((root / "adapter_nobase" / "adapter_config.json").read_text())
    ac["base_model_name_or_path"] = None
    (root / "adapter_nobase" / "adapter_config.json").write_text(json.dumps(ac))
    return {"adapter": root / "adapter", "nobase": root / "adapter_nobase", "merged": root / "merged"}


def test_lora_adapter_equals_peft_merge(tiny, lora, reference):
    ac = json.loads((lora["adapter"] / "adapter_config.json").read_text())
    assert ac["base_model_name_or_path"] == str(tiny["single"])
    assert sorted(ac["target_modules"]) == ["down_proj", "q_proj", "up_proj", "v_proj"]
    got = inv(lora["adapter"])
    assert got.info["format"] == "peft-lora on safetensors"
    want = inv(lora["merged"])
    assert_same_terms(want, got, rtol=1e-4, atol=1e-5)
    # the delta is not negligible: every term moved away from the base's
    res = readable_fp.compare(tiny["single"], lora["adapter"], n_tokens=N_TOKENS, progress=False)
    assert all(t.ics < 99.9 for t in res.terms), res.table()


def test_lora_with_explicit_base(tiny, lora, tmp_path):
    want = inv(lora["merged"])
    assert_same_terms(want, inv(lora["nobase"], base=tiny["single"]), rtol=1e-4, atol=1e-5)
    assert_same_terms(want, inv(lora["nobase"], base=str(tiny["single"])), rtol=1e-4, atol=1e-5)
    out = tmp_path / "lora.safetensors"
    assert cli_main(["invariants", str(lora["nobase"]), "--base", str(tiny["single"]), "-o", str(out),
                     "--tokens", str(N_TOKENS), "--no-progress"]) == 0
    assert_same_terms(want, Invariants.load(out), rtol=2e-3, atol=2e-3)
    res = readable_fp.compare(lora["merged"], lora["nobase"], base_b=tiny["single"], n_tokens=N_TOKENS,
                              progress=False)
    assert res.ics == pytest.approx(100.0, abs=1e-3)


def test_lora_base_option_overrides_the_config(tiny, lora, tmp_path):
    """--base wins over the adapter config's base_model_name_or_path."""
    other = save_tiny("llama", tmp_path / "other", seed=5, **LLAMA_TINY)
    del other
    a = inv(lora["adapter"], base=tmp_path / "other")
    b = inv(lora["adapter"])
    assert not torch.allclose(a.terms["attn@2"], b.terms["attn@2"])


# ---- invariants files -------------------------------------------------------------------------
def test_invariants_file_round_trip(tiny, lora, tmp_path):
    """file-vs-checkpoint, checkpoint-vs-file, file-vs-file and checkpoint-vs-checkpoint agree."""
    fa, fb = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    for src, out in ((tiny["single"], fa), (lora["merged"], fb)):
        assert cli_main(["invariants", str(src), "-o", str(out), "--tokens", str(N_TOKENS), "--no-progress"]) == 0
    a, b = tiny["single"], lora["merged"]

    def ics(x, y):
        return readable_fp.compare(x, y, n_tokens=N_TOKENS, progress=False).ics

    ref = ics(a, b)
    assert 20 < ref < 99.9  # related but not identical, so agreement is not trivial
    for x, y in ((fa, b), (a, fb), (fa, fb)):
        assert ics(x, y) == pytest.approx(ref, abs=0.01), (x, y, ref)
    assert ics(fa, a) == pytest.approx(100.0, abs=0.01)
    loaded = Invariants.load(fa)
    assert loaded.info["format"] == "invariants file"
    assert loaded.layers == [1, 2] and loaded.n_layers == 3 and len(loaded.probes) == N_TOKENS


def test_invariants_file_is_deterministic(tiny, tmp_path):
    """The same checkpoint, written twice to different places, gives byte-identical files,
    whether computed in this process or in a fresh one (other hash seeds)."""
    for tag in ("one", "two"):
        save_copy(tiny["model"], tmp_path / tag / "model")
    env = {**os.environ, "PYTHONHASHSEED": "123", "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-m", "readable_fp.cli", "invariants", "model", "-o", "fp.safetensors",
                        "--tokens", str(N_TOKENS), "--no-progress"], cwd=tmp_path / "one", env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path / "two")
        for out in ("fp.safetensors", "fp2.safetensors"):
            assert cli_main(["invariants", "model", "-o", out, "--tokens", str(N_TOKENS), "--no-progress"]) == 0
    finally:
        os.chdir(cwd)
    one = (tmp_path / "one" / "fp.safetensors").read_bytes()
    assert one == (tmp_path / "two" / "fp.safetensors").read_bytes()
    assert one == (tmp_path / "two" / "fp2.safetensors").read_bytes()
    assert b'"seconds"' not in one[:8 + int.from_bytes(one[:8], "little")]
    assert not list((tmp_path / "one").glob("*.partial"))


def test_invariants_file_is_standard_safetensors(tiny, tmp_path):
    from safetensors import safe_open

    out = tmp_path / "fp.safetensors"
    inv(tiny["single"]).save(out)
    with safe_open(str(out), framework="pt") as f:
        assert sorted(f.keys()) == sorted([f"{t}@{i}" for t in ("attn", "ov", "ffn") for i in (1, 2)] + ["gram"])
        assert f.get_tensor("gram").shape == (N_TOKENS, N_TOKENS)
        assert f.metadata()["kind"] == "readable-fp/invariants"
        t = f.get_tensor("attn@2")
        assert t.dtype == torch.float16 and t.shape == (N_TOKENS, N_TOKENS)
        assert float(t.float().pow(2).mean().sqrt()) == pytest.approx(1.0, rel=1e-2)
    assert np.frombuffer(out.read_bytes()[:8], "<u8")[0] % 8 == 0
