"""Layouts a Hugging Face user holds besides the standard one read to the same invariants.

- Mistral's native layout (params.json + consolidated.safetensors + tekken.json or
  tokenizer.model.v3), written from a tiny random Mistral the way transformers'
  convert_mistral_weights_to_hf.py reads it back (q/k rows in Meta's rotary order), dense and MoE;
  where a folder holds both layouts the Hugging Face one is read.
- sentence-transformers folders: the legacy one (modules.json naming 0_Transformer/) and the
  current one (the transformer at the top level, 1_Pooling/ beside it).
- google/gemma-3-4b-it's config.json, whose text_config leaves the head counts to the defaults.
"""
from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import readable_fp
from readable_fp.errors import FingerprintError
from readable_fp.model_config import language_config
from readable_fp.model_terms import Invariants, language_model

from helpers import LLAMA_TINY, save_tiny, write_tokenizer

N_TOKENS = 128
H, KV, HD = LLAMA_TINY["num_attention_heads"], LLAMA_TINY["num_key_value_heads"], LLAMA_TINY["head_dim"]


def inv(ref) -> Invariants:
    return readable_fp.invariants(ref, n_tokens=N_TOKENS, progress=False)


def assert_equal_terms(a: Invariants, b: Invariants) -> None:
    assert a.probes == b.probes and len(a.probes) == N_TOKENS
    assert a.layers == b.layers and a.n_layers == b.n_layers
    assert set(a.terms) == set(b.terms)
    for k in a.terms:
        assert torch.equal(a.terms[k], b.terms[k]), k


# ---- Mistral's native layout ----------------------------------------------------------------------
def to_meta_rope(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """The inverse of transformers' `permute_for_rope`: Hugging Face's rotary halves -> Meta's pairs."""
    return w.reshape(n_heads, 2, w.shape[0] // n_heads // 2, -1).transpose(1, 2).reshape(w.shape)


_NATIVE = {"self_attn.q_proj": "attention.wq", "self_attn.k_proj": "attention.wk", "self_attn.v_proj": "attention.wv",
           "self_attn.o_proj": "attention.wo", "mlp.gate_proj": "feed_forward.w1", "mlp.down_proj": "feed_forward.w2",
           "mlp.up_proj": "feed_forward.w3", "input_layernorm": "attention_norm",
           "post_attention_layernorm": "ffn_norm"}
_NATIVE_TOP = {"model.embed_tokens.weight": "tok_embeddings.weight", "model.norm.weight": "norm.weight",
               "lm_head.weight": "output.weight"}


def native_state_dict(sd: dict, n_heads=H, n_kv=KV) -> dict:
    out = {}
    for name, t in sd.items():
        if name in _NATIVE_TOP:
            out[_NATIVE_TOP[name]] = t
            continue
        _, _, i, rest = name.split(".", 3)
        module = rest.rsplit(".", 1)[0]
        if module == "self_attn.q_proj":
            t = to_meta_rope(t, n_heads)
        elif module == "self_attn.k_proj":
            t = to_meta_rope(t, n_kv)
        out[f"layers.{i}.{_NATIVE[module]}.weight"] = t.contiguous()
    return out


def params(cfg: dict, **extra) -> dict:
    return {"dim": cfg["hidden_size"], "n_layers": cfg["num_hidden_layers"], "head_dim": cfg["head_dim"],
            "hidden_dim": cfg["intermediate_size"], "n_heads": cfg["num_attention_heads"],
            "n_kv_heads": cfg["num_key_value_heads"], "norm_eps": cfg["rms_norm_eps"],
            "vocab_size": cfg["vocab_size"], "rope_theta": 1000000.0, **extra}


def write_tekken(hf_dir: Path, out: Path, specials: int = 2) -> None:
    """tekken.json of the tiny tokenizer.json: special tokens first, then byte-level ranks."""
    from readable_fp.vocab import _byte_decoder

    dec = _byte_decoder()
    vocab = json.loads((hf_dir / "tokenizer.json").read_text())["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    ranks = [{"rank": r, "token_bytes": base64.b64encode(bytes(dec[c] for c in t)).decode(),
              "token_str": bytes(dec[c] for c in t).decode("utf-8", "replace")}
             for r, t in enumerate(tokens[specials:])]
    ranks += [{"rank": len(ranks), "token_bytes": base64.b64encode(b" unused").decode(), "token_str": " unused"}]
    tj = {"config": {"pattern": r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+", "num_vocab_tokens": len(ranks),
                     "default_vocab_size": len(tokens), "default_num_special_tokens": specials, "version": "v7"},
          "vocab": ranks,  # one more rank than the model uses, as real files list 150k for 131k
          "special_tokens": [{"rank": i, "token_str": tokens[i], "is_control": True} for i in range(specials)]}
    (out / "tekken.json").write_text(json.dumps(tj))


def write_native(hf_dir: Path, out: Path, tokenizer: str = "tekken", moe: dict | None = None) -> Path:
    out.mkdir(parents=True)
    cfg = json.loads((hf_dir / "config.json").read_text())
    sd = native_state_dict(load_file(str(hf_dir / "model.safetensors")))
    (out / "params.json").write_text(json.dumps(params(cfg, **({"moe": moe} if moe else {}))))
    save_file(sd, str(out / "consolidated.safetensors"))
    if tokenizer == "tekken":
        write_tekken(hf_dir, out)
    else:
        shutil.copy(hf_dir / tokenizer, out / tokenizer)
    return out


@pytest.fixture(scope="module")
def mistral(tmp_path_factory):
    root = tmp_path_factory.mktemp("mistral")
    save_tiny("mistral", root / "hf", **LLAMA_TINY)
    return root


@pytest.fixture(scope="module")
def mistral_ref(mistral) -> Invariants:
    return inv(mistral / "hf")


@pytest.mark.parametrize("tokenizer", ["tekken", "tokenizer.json"])
def test_mistral_native_layout_gives_the_same_terms(mistral, mistral_ref, tokenizer):
    d = write_native(mistral / "hf", mistral / f"native-{tokenizer}", tokenizer)
    assert not (d / "config.json").exists()
    got = inv(d)
    assert got.info["architecture"] == "mistral_native" and got.info["format"] == "safetensors"
    assert_equal_terms(mistral_ref, got)
    assert readable_fp.compare(mistral / "hf", d, n_tokens=N_TOKENS, progress=False, null=False).ics == pytest.approx(100, abs=5e-3)
    assert_equal_terms(mistral_ref, inv(d / "consolidated.safetensors"))  # the weights file named directly


def test_mistral_native_q_k_come_back_in_hugging_face_order(mistral):
    """Equal terms do not prove the rotary reorder (the terms sum over a head's rows, which it only
    permutes): the canonical tensors themselves are Hugging Face's."""
    d = mistral / "native-tekken"
    if not d.exists():
        write_native(mistral / "hf", d)
    ckpt = readable_fp.load(d)
    sd = load_file(str(mistral / "hf" / "model.safetensors"))
    for i in range(LLAMA_TINY["num_hidden_layers"]):
        L = language_model(ckpt).layer(i)
        p = f"model.layers.{i}."
        for got, name in ((L.q, "self_attn.q_proj"), (L.k, "self_attn.k_proj"), (L.v, "self_attn.v_proj"),
                          (L.o, "self_attn.o_proj"), (L.up, "mlp.up_proj"), (L.down, "mlp.down_proj"),
                          (L.attn_gain, "input_layernorm"), (L.ffn_gain, "post_attention_layernorm")):
            assert torch.equal(got, sd[p + name + ".weight"]), (i, name)
        assert not torch.equal(ckpt.get(f"layers.{i}.attention.wq.weight"), sd[p + "self_attn.q_proj.weight"])


def test_tekken_vocabulary_is_the_converted_tokenizers(mistral):
    """The token strings read from tekken.json are those transformers' tekken converter writes."""
    from transformers.integrations.mistral.tokenizer import MistralConverter

    from readable_fp.formats.mistral_native import tekken_vocab

    d = mistral / "tekken-only"
    d.mkdir()
    write_tekken(mistral / "hf", d)
    v = tekken_vocab(d / "tekken.json")
    conv = MistralConverter(str(d / "tekken.json"))._precomputed_vocab
    assert {t: i for i, t in enumerate(v.tokens)} == conv
    hf = readable_fp.load(mistral / "hf").vocab
    assert v.tokens == hf.tokens and v.style == hf.style == "byte_bpe"
    assert v.normal == [i >= 2 for i in range(len(v.tokens))]


def test_mistral_native_tokenizer_model_v3(mistral, tmp_path):
    """A SentencePiece tokenizer.model.v3 (Mistral 7B v0.3's) is read like the HF folder's tokenizer.model."""
    spm = pytest.importorskip("sentencepiece")
    words = [f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{i % 10}" for i in range(800)]
    (tmp_path / "corpus.txt").write_text("\n".join(" ".join(words[i:i + 12]) for i in range(0, 800, 3)))
    spm.SentencePieceTrainer.train(input=str(tmp_path / "corpus.txt"), model_prefix=str(tmp_path / "sp"),
                                   vocab_size=400, model_type="bpe", minloglevel=2)
    hf = tmp_path / "hf"
    hf.mkdir()
    for f in ("config.json", "model.safetensors"):
        shutil.copy(mistral / "hf" / f, hf / f)
    shutil.copy(tmp_path / "sp.model", hf / "tokenizer.model")
    native = write_native(hf, tmp_path / "native", tokenizer="tokenizer.model")
    (native / "tokenizer.model").rename(native / "tokenizer.model.v3")
    a, b = inv(hf), inv(native)
    assert_equal_terms(a, b)
    assert readable_fp.load(native).vocab.style == "sentencepiece"


def test_both_layouts_in_one_folder_read_the_hugging_face_one(mistral, mistral_ref, tmp_path):
    """Many Mistral repos ship both; the Hugging Face files win. Here the native weights are another
    model's, so reading them would show. Without Hugging Face weights the native ones are read."""
    other = save_tiny("mistral", tmp_path / "other", seed=5, **LLAMA_TINY)
    del other
    both = write_native(tmp_path / "other", tmp_path / "both")
    for f in ("config.json", "model.safetensors", "tokenizer.json"):
        shutil.copy(mistral / "hf" / f, both / f)
    got = inv(both)
    assert got.info["architecture"] == "mistral"
    assert_equal_terms(mistral_ref, got)
    (both / "model.safetensors").unlink()  # config.json but only Mistral's own weights: those are read
    got = inv(both)
    assert got.info["architecture"] == "mistral_native"
    assert_equal_terms(inv(tmp_path / "other"), got)


def test_mistral_native_mixture_of_experts(mistral, tmp_path):
    """A native MoE (`feed_forward.experts.E.w1/w2/w3`, router `feed_forward.gate`, params.json `moe`)
    reads as one wide FFN of all its experts: the terms of a dense Mistral whose FFN is the experts'
    neurons side by side."""
    E, F = 4, LLAMA_TINY["intermediate_size"]
    wide = tmp_path / "wide"
    save_tiny("mistral", wide, seed=7, **{**LLAMA_TINY, "intermediate_size": E * F})
    cfg = json.loads((wide / "config.json").read_text())
    sd = load_file(str(wide / "model.safetensors"))
    native = {}
    for name, t in native_state_dict(sd).items():
        if ".feed_forward.w" not in name:
            native[name] = t
            continue
        p, w = name.rsplit(".feed_forward.", 1)
        w = w.split(".")[0]
        for e in range(E):
            part = t[:, e * F:(e + 1) * F] if w == "w2" else t[e * F:(e + 1) * F]
            native[f"{p}.feed_forward.experts.{e}.{w}.weight"] = part.contiguous()
        native[f"{p}.feed_forward.gate.weight"] = torch.randn(E, cfg["hidden_size"])
    moe = tmp_path / "moe"
    moe.mkdir()
    (moe / "params.json").write_text(json.dumps(params({**cfg, "intermediate_size": F},
                                                       moe={"num_experts": E, "num_experts_per_tok": 2})))
    save_file(native, str(moe / "consolidated.safetensors"))
    write_tekken(wide, moe)
    a, b = inv(wide), inv(moe)
    assert b.info["experts"] == E
    assert a.probes == b.probes and set(a.terms) == set(b.terms)
    for k in a.terms:
        if k.startswith("ffn"):  # summed expert by expert: the same numbers, added in another order
            torch.testing.assert_close(b.terms[k], a.terms[k], rtol=1e-5, atol=1e-6 * float(a.terms[k].abs().max()))
        else:
            assert torch.equal(a.terms[k], b.terms[k]), k
    assert readable_fp.compare(wide, moe, n_tokens=N_TOKENS, progress=False, null=False).ics == pytest.approx(100, abs=5e-3)
    (moe / "params.json").write_text(json.dumps(params({**cfg, "intermediate_size": F}, moe={"num_experts": 8})))
    with pytest.raises(FingerprintError, match="4 experts in the checkpoint, params.json says 8"):
        inv(moe)


@pytest.mark.parametrize("change, says", [
    (lambda p: p.pop("n_layers"), "params.json has no n_layers"),
    (lambda p: p.update(kv_lora_rank=512), "latent"),
    (lambda p: p.update(n_heads=7), "heads"),
])
def test_bad_params_json_is_refused_in_one_line(mistral, tmp_path, change, says):
    d = tmp_path / "bad"
    shutil.copytree(mistral / "hf", tmp_path / "hf")
    write_native(tmp_path / "hf", d)
    p = json.loads((d / "params.json").read_text())
    change(p)
    (d / "params.json").write_text(json.dumps(p))
    with pytest.raises(FingerprintError, match=says):
        inv(d)


# ---- sentence-transformers --------------------------------------------------------------------------
BERT_TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
_MODULES = [{"idx": 0, "name": "0", "path": "{path}", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]


def sentence_transformer(src: Path, out: Path, legacy: bool) -> Path:
    """`src` (a plain Hugging Face BertModel folder) as sentence-transformers saves it."""
    inner = out / "0_Transformer" if legacy else out
    shutil.copytree(src, inner)
    modules = json.loads(json.dumps(_MODULES).replace("{path}", "0_Transformer" if legacy else ""))
    (out / "modules.json").write_text(json.dumps(modules))
    (out / "config_sentence_transformers.json").write_text(json.dumps({"__version__": {"sentence_transformers": "2.0.0"}}))
    (inner / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128, "do_lower_case": False}))
    (out / "1_Pooling").mkdir()
    (out / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 64,
                                                                "pooling_mode_mean_tokens": True}))
    (out / "2_Normalize").mkdir()
    return out


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    root = tmp_path_factory.mktemp("st")
    save_tiny("bert", root / "hf", auto_class="AutoModel", **BERT_TINY)
    return root


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy-0_Transformer", "current"])
def test_sentence_transformers_layouts_give_the_same_terms(bert, legacy):
    d = sentence_transformer(bert / "hf", bert / ("legacy" if legacy else "current"), legacy)
    assert (d / "config.json").exists() != legacy
    got = inv(d)
    assert got.info["architecture"] == "bert"
    assert_equal_terms(inv(bert / "hf"), got)


def test_sentence_transformers_module_outside_the_folder_is_refused(bert, tmp_path):
    d = sentence_transformer(bert / "hf", tmp_path / "st", legacy=True)
    for path in ("../hf", "", "1_Pooling/../..", "/tmp"):
        modules = json.loads((d / "modules.json").read_text())
        modules[0]["path"] = path
        (d / "modules.json").write_text(json.dumps(modules))
        with pytest.raises(FingerprintError, match="transformer module"):
            readable_fp.load(d)


# ---- google/gemma-3-4b-it's config.json -----------------------------------------------------------
# The released file (transformers 4.50.0.dev0): text_config spells out only what differs from
# Gemma3TextConfig's defaults, so num_attention_heads (8), num_key_value_heads (4), head_dim (256)
# and vocab_size (262208) are absent.
GEMMA3_4B_IT = {
    "architectures": ["Gemma3ForConditionalGeneration"],
    "boi_token_index": 255999,
    "eoi_token_index": 256000,
    "eos_token_id": [1, 106],
    "image_token_index": 262144,
    "initializer_range": 0.02,
    "mm_tokens_per_image": 256,
    "model_type": "gemma3",
    "text_config": {
        "hidden_size": 2560,
        "intermediate_size": 10240,
        "model_type": "gemma3_text",
        "num_hidden_layers": 34,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "sliding_window": 1024,
    },
    "torch_dtype": "bfloat16",
    "transformers_version": "4.50.0.dev0",
    "vision_config": {
        "hidden_size": 1152,
        "image_size": 896,
        "intermediate_size": 4304,
        "model_type": "siglip_vision_model",
        "num_attention_heads": 16,
        "num_hidden_layers": 27,
        "patch_size": 14,
        "vision_use_head": False,
    },
}


def test_gemma3_4b_it_config_gets_transformers_defaults():
    cfg = language_config(json.loads(json.dumps(GEMMA3_4B_IT)), "gemma-3-4b-it")
    assert cfg["model_type"] == "gemma3_text" and cfg["wrapper_type"] == "gemma3"
    assert (cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]) == (8, 4, 256)
    assert (cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]) == (2560, 10240, 34)
    assert cfg["vocab_size"] == 262208 and cfg["sliding_window"] == 1024


def tiny_gemma3_config() -> dict:
    """gemma-3-4b-it's config.json, sizes shrunk; the head counts and head_dim still left to the defaults."""
    c = json.loads(json.dumps(GEMMA3_4B_IT))
    c.update(boi_token_index=500, eoi_token_index=501, image_token_index=502, mm_tokens_per_image=4)
    c["text_config"].update(hidden_size=64, intermediate_size=96, num_hidden_layers=2, vocab_size=512)
    c["vision_config"].update(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=1,
                              image_size=28)
    return c


def test_gemma3_with_default_heads_reads(tmp_path):
    import transformers

    sparse = tiny_gemma3_config()
    assert not {"num_attention_heads", "num_key_value_heads", "head_dim"} & set(sparse["text_config"])
    torch.manual_seed(0)
    model = transformers.Gemma3ForConditionalGeneration(transformers.Gemma3Config.from_dict(sparse)).eval()
    assert model.config.text_config.num_attention_heads == 8 and model.config.text_config.head_dim == 256
    full, short = tmp_path / "full", tmp_path / "sparse"
    for d in (full, short):
        model.save_pretrained(d)
        write_tokenizer(d, 512)
    (full / "config.json").write_text(model.config.to_json_string(use_diff=False))
    (short / "config.json").write_text(json.dumps(sparse))
    assert "num_attention_heads" in json.loads((full / "config.json").read_text())["text_config"]
    L = language_model(readable_fp.load(short)).layer(0)
    assert (L.n_heads, L.n_kv, tuple(L.q.shape), tuple(L.k.shape)) == (8, 4, (8 * 256, 64), (4 * 256, 64))
    a, b = inv(full), inv(short)
    assert b.info["architecture"] == "gemma3 (gemma3_text)"
    assert_equal_terms(a, b)
