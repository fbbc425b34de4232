"""Every supported family: the adapters' terms equal an independent reference.

Each case builds a tiny random model with transformers (all 1-D parameters, i.e. every norm
gain and bias, randomised so a folding error shows), reads it through readable-fp, and checks
the terms against a straightforward reimplementation of method.md section 3 that takes its
weights from the nn.Module attributes of the model loaded back with `from_pretrained`:
an explicit loop over query heads, with query head h paired with kv group h // (H / KV) (or
with transformers' own split where a fused layout broadcasts kv heads itself), gains read off
each norm module by running it, and everything in float64.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import readable_fp
from readable_fp.errors import FingerprintError

from helpers import LLAMA_TINY, save_tiny

N_TOKENS = 64
_TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=8,
             num_key_value_heads=2, head_dim=8, max_position_embeddings=128)
_GPT = dict(n_embd=64, n_layer=2, n_head=8, n_inner=128, n_positions=128)

# case id -> (model_type, config overrides, auto class)
CASES = {
    "llama": ("llama", dict(LLAMA_TINY, num_hidden_layers=2), "AutoModelForCausalLM"),
    "mistral": ("mistral", dict(_TINY, sliding_window=None), "AutoModelForCausalLM"),
    "qwen2": ("qwen2", _TINY, "AutoModelForCausalLM"),
    "qwen3": ("qwen3", _TINY, "AutoModelForCausalLM"),
    "gemma": ("gemma", _TINY, "AutoModelForCausalLM"),
    "gemma2": ("gemma2", dict(_TINY, query_pre_attn_scalar=8, sliding_window=16), "AutoModelForCausalLM"),
    "gemma3_text": ("gemma3_text", dict(_TINY, query_pre_attn_scalar=8, sliding_window=16), "AutoModelForCausalLM"),
    "phi3": ("phi3", dict(_TINY, pad_token_id=0, bos_token_id=1, eos_token_id=1, original_max_position_embeddings=128),
             "AutoModelForCausalLM"),
    "gpt2": ("gpt2", _GPT, "AutoModelForCausalLM"),
    "gpt_neox": ("gpt_neox", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=8,
                                  max_position_embeddings=128), "AutoModelForCausalLM"),
    "gpt_neox-sequential": ("gpt_neox", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                             num_attention_heads=8, max_position_embeddings=128,
                                             use_parallel_residual=False), "AutoModelForCausalLM"),
    "gptj": ("gptj", dict(_GPT, rotary_dim=4), "AutoModelForCausalLM"),
    "opt": ("opt", dict(hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=8,
                        max_position_embeddings=128), "AutoModelForCausalLM"),
    # OPT-350m's shape: post-LN and a narrower embedding projected into the stream
    "opt-postln-project_in": ("opt", dict(hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=8,
                                          max_position_embeddings=128, do_layer_norm_before=False,
                                          word_embed_proj_dim=32), "AutoModelForCausalLM"),
    "opt-no_affine": ("opt", dict(hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=8,
                                  max_position_embeddings=128, layer_norm_elementwise_affine=False),
                      "AutoModelForCausalLM"),
    # Falcon-40B/180B layout: kv groups [q.., k, v], two norms in parallel
    "falcon-new_arch_gqa": ("falcon", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=8, num_kv_heads=2,
                                           new_decoder_architecture=True, ffn_hidden_size=128),
                            "AutoModelForCausalLM"),
    "falcon-new_arch_one_ln": ("falcon", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=8,
                                              num_kv_heads=2, new_decoder_architecture=True,
                                              num_ln_in_parallel_attn=1, ffn_hidden_size=128),
                               "AutoModelForCausalLM"),
    # Falcon-7B layout: multi-query [all q, k, v], one norm feeding both branches
    "falcon-multi_query": ("falcon", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=8,
                                          multi_query=True, parallel_attn=True, ffn_hidden_size=128),
                           "AutoModelForCausalLM"),
    # Falcon-RW layout: per-head [q, k, v], sequential block, ALiBi, biases
    "falcon-rw": ("falcon", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=8, multi_query=False,
                                 parallel_attn=False, alibi=True, bias=True, ffn_hidden_size=128),
                  "AutoModelForCausalLM"),
    "bloom": ("bloom", dict(hidden_size=64, n_layer=2, n_head=8), "AutoModelForCausalLM"),
    "bert": ("bert", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=8,
                          max_position_embeddings=128), "AutoModel"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """case id -> directory holding the saved tiny model (built once per module)."""
    cache: dict[str, Path] = {}

    def build(case: str) -> Path:
        if case not in cache:
            model_type, overrides, auto = CASES[case]
            d = tmp_path_factory.mktemp(case)
            model = save_tiny(model_type, d, seed=1, auto_class=auto, **overrides)
            g = torch.Generator().manual_seed(2)
            with torch.no_grad():
                for p in model.parameters():
                    if p.dim() == 1:  # norm gains (and biases): far from their init of 1 / 0
                        p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            model.save_pretrained(d)
            cache[case] = d
        return cache[case]

    return build


def _load(d: Path, auto: str):
    import transformers

    return getattr(transformers, auto).from_pretrained(d, dtype=torch.float32).eval()


def _probe_ids(d: Path, probes: list[str]) -> list[int]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    ids = [tok.token_to_id("Ġ" + s[1:] if s.startswith(" ") else s) for s in probes]
    assert None not in ids
    return ids


def _gain(norm, width: int) -> torch.Tensor:
    """A norm module's effective gain, found by running it on a zero-mean, unit-RMS input."""
    x = torch.tensor([1.0, -1.0] * (width // 2))
    with torch.no_grad():
        out = norm(x[None])[0]
    if getattr(norm, "bias", None) is not None:
        out = out - norm.bias
    return (out / x).double()


def _heads(w_t: torch.Tensor, n: int) -> list[torch.Tensor]:
    """Columns of a (d x n*hd) read matrix, split into n heads."""
    return list(w_t.double().chunk(n, dim=1))


def _falcon_split(att, W: torch.Tensor):
    """q, k, v (d, heads, hd) of Falcon's fused projection W (d x out), in the three layouts of
    transformers' FalconAttention.forward (its private _split_heads is gone since transformers 5)."""
    d, hd, H = W.shape[0], att.head_dim, att.num_heads
    fused = W.reshape(d, -1, hd)
    if att.new_decoder_architecture:  # per kv group: its queries, then its key, then its value
        g = fused.reshape(d, att.num_kv_heads, -1, hd)
        return g[:, :, :-2].flatten(1, 2), g[:, :, -2], g[:, :, -1]
    if att.multi_query:
        return fused.split([H, 1, 1], dim=1)
    return fused.unflatten(1, (H, 3)).unbind(2)  # per head: q, k, v


def _linear_t(lin) -> torch.Tensor:
    """(in x out): what the layer does to each standard basis vector, bias excluded."""
    return lin.weight.double().T


def _grouped(k_groups, n_heads):
    rep = n_heads // len(k_groups)
    return [k_groups[h // rep] for h in range(n_heads)]


@torch.no_grad()
def reference_layer(case: str, model, i: int) -> dict:
    """Per query head h: A[h] = W_q,h^T, B[h] = W_k,g(h)^T, V[h] = W_v,g(h)^T (d x hd),
    O[h] = W_o,h^T (hd x d); Up = W_up^T, Down = W_down^T; gains (or None)."""
    c = model.config
    mt = CASES[case][0]
    r: dict = dict(ga=None, gf=None, gq=None, gk=None, go=None, gd=None)
    if mt in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3"):
        L = model.model.layers[i]
        H, KV, hd, d = c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.hidden_size
        if mt == "phi3":
            qkv = _linear_t(L.self_attn.qkv_proj)  # transformers slices q | k | v along the output
            qw, kw, vw = qkv[:, :H * hd], qkv[:, H * hd:H * hd + KV * hd], qkv[:, H * hd + KV * hd:]
            up = _linear_t(L.mlp.gate_up_proj).chunk(2, dim=1)[1]
        else:
            qw, kw, vw = (_linear_t(getattr(L.self_attn, n)) for n in ("q_proj", "k_proj", "v_proj"))
            up = _linear_t(L.mlp.up_proj)
        r.update(A=_heads(qw, H), B=_grouped(_heads(kw, KV), H), V=_grouped(_heads(vw, KV), H),
                 O=[o.T for o in _heads(L.self_attn.o_proj.weight, H)], Up=up, Down=_linear_t(L.mlp.down_proj))
        r["ga"] = _gain(L.input_layernorm, d)
        if mt in ("gemma2", "gemma3_text"):
            r.update(gf=_gain(L.pre_feedforward_layernorm, d), go=_gain(L.post_attention_layernorm, d),
                     gd=_gain(L.post_feedforward_layernorm, d))
        else:
            r["gf"] = _gain(L.post_attention_layernorm, d)
        if hasattr(L.self_attn, "q_norm"):
            r.update(gq=_gain(L.self_attn.q_norm, hd), gk=_gain(L.self_attn.k_norm, hd))
        r["n_kv"] = KV
    elif mt == "gpt2":
        L = model.transformer.h[i]
        H, d = c.n_head, c.n_embd
        qw, kw, vw = L.attn.c_attn.weight.double().split(d, dim=1)  # Conv1D: already in x out
        r.update(A=_heads(qw, H), B=_heads(kw, H), V=_heads(vw, H), O=list(L.attn.c_proj.weight.double().chunk(H, 0)),
                 Up=L.mlp.c_fc.weight.double(), Down=L.mlp.c_proj.weight.double(),
                 ga=_gain(L.ln_1, d), gf=_gain(L.ln_2, d))
    elif mt == "gpt_neox":
        L = model.gpt_neox.layers[i]
        H, d = c.num_attention_heads, c.hidden_size
        # as GPTNeoXAttention.forward: view(..., heads, 3 * head_dim), then chunk(3)
        q, k, v = _linear_t(L.attention.query_key_value).view(d, H, -1).chunk(3, dim=-1)
        r.update(A=list(q.unbind(1)), B=list(k.unbind(1)), V=list(v.unbind(1)),
                 O=[o.T for o in _heads(L.attention.dense.weight, H)],
                 Up=_linear_t(L.mlp.dense_h_to_4h), Down=_linear_t(L.mlp.dense_4h_to_h),
                 ga=_gain(L.input_layernorm, d), gf=_gain(L.post_attention_layernorm, d))
    elif mt == "gptj":
        L = model.transformer.h[i]
        H, d = c.n_head, c.n_embd
        r.update(A=_heads(_linear_t(L.attn.q_proj), H), B=_heads(_linear_t(L.attn.k_proj), H),
                 V=_heads(_linear_t(L.attn.v_proj), H), O=[o.T for o in _heads(L.attn.out_proj.weight, H)],
                 Up=_linear_t(L.mlp.fc_in), Down=_linear_t(L.mlp.fc_out))
        r["ga"] = r["gf"] = _gain(L.ln_1, d)  # parallel block: one norm feeds both
    elif mt == "opt":
        L = model.model.decoder.layers[i]
        H, d = c.num_attention_heads, c.hidden_size
        r.update(A=_heads(_linear_t(L.self_attn.q_proj), H), B=_heads(_linear_t(L.self_attn.k_proj), H),
                 V=_heads(_linear_t(L.self_attn.v_proj), H), O=[o.T for o in _heads(L.self_attn.out_proj.weight, H)],
                 Up=_linear_t(L.fc1), Down=_linear_t(L.fc2))
        if c.do_layer_norm_before:
            r.update(ga=_gain(L.self_attn_layer_norm, d), gf=_gain(L.final_layer_norm, d))
        else:  # post-LN: the attention reads the raw stream; the MLP reads self_attn_layer_norm
            r["gf"] = _gain(L.self_attn_layer_norm, d)
    elif mt == "falcon":
        L = model.transformer.h[i]
        H, d = c.num_attention_heads, c.hidden_size
        q, k, v = _falcon_split(L.self_attention, _linear_t(L.self_attention.query_key_value))
        kv = k.shape[1]  # query head h reads kv group h // (H / kv)
        r.update(A=list(q.unbind(1)), B=[k[:, h * kv // H] for h in range(H)], V=[v[:, h * kv // H] for h in range(H)],
                 O=[o.T for o in _heads(L.self_attention.dense.weight, H)],
                 Up=_linear_t(L.mlp.dense_h_to_4h), Down=_linear_t(L.mlp.dense_4h_to_h))
        if c.new_decoder_architecture and c.num_ln_in_parallel_attn == 2:
            r.update(ga=_gain(L.ln_attn, d), gf=_gain(L.ln_mlp, d))
        elif c.new_decoder_architecture or c.parallel_attn:
            r["ga"] = r["gf"] = _gain(L.input_layernorm, d)
        else:
            r.update(ga=_gain(L.input_layernorm, d), gf=_gain(L.post_attention_layernorm, d))
    elif mt == "bloom":
        L = model.transformer.h[i]
        H, d = c.n_head, c.hidden_size
        q, k, v = L.self_attention._reshape(_linear_t(L.self_attention.query_key_value)[None].float())
        r.update(A=[x.double() for x in q[0].unbind(0)], B=[x.double() for x in k[0].unbind(0)],
                 V=[x.double() for x in v[0].unbind(0)], O=[o.T for o in _heads(L.self_attention.dense.weight, H)],
                 Up=_linear_t(L.mlp.dense_h_to_4h), Down=_linear_t(L.mlp.dense_4h_to_h),
                 ga=_gain(L.input_layernorm, d), gf=_gain(L.post_attention_layernorm, d))
    elif mt == "bert":
        L = model.encoder.layer[i]
        H, d = c.num_attention_heads, c.hidden_size
        a = L.attention
        r.update(A=_heads(_linear_t(a.self.query), H), B=_heads(_linear_t(a.self.key), H),
                 V=_heads(_linear_t(a.self.value), H), O=[o.T for o in _heads(a.output.dense.weight, H)],
                 Up=_linear_t(L.intermediate.dense), Down=_linear_t(L.output.dense),
                 gf=_gain(a.output.LayerNorm, d))  # post-LN: nothing normalises the stream before attention
    else:
        raise AssertionError(mt)
    return r


def reference_embedding(case: str, model, ids: list[int]) -> torch.Tensor:
    mt = CASES[case][0]
    with torch.no_grad():
        X = model.get_input_embeddings().weight[ids]
        if mt == "opt" and model.model.decoder.project_in is not None:
            X = model.model.decoder.project_in(X)
        if mt == "bloom":  # the embedding LayerNorm, bias left out
            ln = model.transformer.word_embeddings_layernorm
            X = ln(X) - ln.bias
    return X.double()


@torch.no_grad()
def reference_terms(X: torch.Tensor, r: dict, pair=None) -> dict[str, torch.Tensor]:
    """Straight from method.md section 3, one query head at a time, gains as diagonal matrices."""
    d = X.shape[1]

    def diag(g, n=d):
        return torch.diag(g) if g is not None else torch.eye(n, dtype=torch.float64)

    Ga, Gf, Go, Gd = diag(r["ga"]), diag(r["gf"]), diag(r["go"]), diag(r["gd"])
    hd = r["A"][0].shape[1]
    Gq, Gk = diag(r["gq"], hd), diag(r["gk"], hd)
    B = r["B"] if pair is None else [r["B"][pair(h)] for h in range(len(r["A"]))]
    m_a = sum(X @ Ga @ A @ Gq @ (X @ Ga @ Bh @ Gk).T for A, Bh in zip(r["A"], B))
    m_b = sum(X @ Ga @ V @ O @ Go @ X.T for V, O in zip(r["V"], r["O"]))
    m_f = X @ Gf @ r["Up"] @ r["Down"] @ Gd @ X.T
    return {"attn": m_a, "ov": m_b, "ffn": m_f}


def assert_close(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    scale = float(want.abs().max())
    assert scale > 0, what
    ok = torch.allclose(got.double(), want, rtol=1e-4, atol=1e-5 * scale)
    err = float((got.double() - want).abs().max()) / scale
    assert ok, f"{what}: max error {err:.2e} of the largest entry"


@pytest.mark.parametrize("case", list(CASES))
def test_terms_match_reference(case, built):
    d = built(case)
    inv = readable_fp.invariants(d, n_tokens=N_TOKENS, layers="all", progress=False)
    model = _load(d, CASES[case][2])
    n = model.config.num_hidden_layers
    assert inv.layers == list(range(n)) and len(inv.probes) == N_TOKENS
    assert inv.info["architecture"] == CASES[case][0]
    X = reference_embedding(case, model, _probe_ids(d, inv.probes))
    for i in range(n):
        ref = reference_terms(X, reference_layer(case, model, i))
        for t, want in ref.items():
            assert_close(inv.terms[f"{t}@{i}"], want, f"{case} {t}@{i}")


def test_gqa_pairing_is_checked(built):
    """Tiling kv heads (head h -> group h % KV) instead of repeat_interleave changes the attention
    term, so the reference above would catch an adapter or term that paired heads that way."""
    case = "llama"
    d = built(case)
    inv = readable_fp.invariants(d, n_tokens=N_TOKENS, layers="all", progress=False)
    model = _load(d, CASES[case][2])
    X = reference_embedding(case, model, _probe_ids(d, inv.probes))
    r = reference_layer(case, model, 0)
    H, KV = model.config.num_attention_heads, model.config.num_key_value_heads
    assert KV < H
    kv = _heads(_linear_t(model.model.layers[0].self_attn.k_proj), KV)
    r_tiled = dict(r, B=[kv[h % KV] for h in range(H)])
    tiled = reference_terms(X, r_tiled)["attn"]
    got = inv.terms["attn@0"].double()
    assert_close(got, reference_terms(X, r)["attn"], "repeat_interleave")
    assert float((got - tiled).abs().max()) > 0.1 * float(tiled.abs().max())


@pytest.mark.parametrize("model_type,says", [("my_new_arch", "unsupported architecture 'my_new_arch'"),
                                             ("mamba", "state-space model with no attention layers")])
def test_unknown_architecture_lists_supported(model_type, says, built, tmp_path):
    src = built("llama")
    d = tmp_path / model_type
    d.mkdir()
    for f in src.iterdir():
        (d / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_type"] = model_type
    cfg["architectures"] = ["SomethingForCausalLM"]
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(FingerprintError) as e:
        readable_fp.invariants(d, n_tokens=N_TOKENS, progress=False)
    msg = str(e.value)
    assert says in msg and "\n" not in msg
    if "supported:" in msg:
        for fam in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "gpt2", "gpt_neox",
                    "gptj", "opt", "falcon", "bloom", "bert"):
            assert fam in msg.split("supported:", 1)[1].replace(",", " ").split(), fam


@pytest.mark.parametrize("case,legacy", [("falcon-new_arch_gqa", "RefinedWeb"), ("falcon-multi_query", "RefinedWebModel")])
def test_falcon_remote_code_configs(case, legacy, built, tmp_path):
    """Falcon checkpoints made for the remote-code model keep `RefinedWeb*` configs with the old
    key names (n_head, n_layer, n_head_kv); the tensors are the same, and so must be the terms."""
    src = built(case)
    for f in src.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((src / "config.json").read_text())
    old = {"model_type": legacy, "n_embed": cfg["hidden_size"], "n_head": cfg["num_attention_heads"],
           "n_layer": cfg["num_hidden_layers"], "vocab_size": cfg["vocab_size"]}
    if legacy == "RefinedWeb":
        old["n_head_kv"] = cfg["num_kv_heads"]
    else:
        old.update(multi_query=True, parallel_attn=True)
    (tmp_path / "config.json").write_text(json.dumps(old))
    a = readable_fp.invariants(src, n_tokens=N_TOKENS, layers="all", progress=False)
    b = readable_fp.invariants(tmp_path, n_tokens=N_TOKENS, layers="all", progress=False)
    assert a.keys() == b.keys()
    for k in a.keys():
        assert torch.equal(a.terms[k], b.terms[k]), k
