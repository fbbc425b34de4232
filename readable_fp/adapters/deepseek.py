"""Multi-head latent attention (MLA): deepseek_v2, deepseek_v3 (Kimi K2/K2.5), deepseek_v32, glm4_moe_lite, glm_moe_dsa, minicpm3, sarvam_mla, mistral4.

Names: `layers.N.self_attn.{q_a_proj, q_a_layernorm, q_b_proj}` (or one `q_proj` when
`q_lora_rank` is None), `kv_a_proj_with_mqa`, `kv_a_layernorm`, `kv_b_proj`, `o_proj`; the FFN
is `mlp.{gate,up,down}_proj` in the first dense layers and experts (`mlp.experts.E.*`, or fused
3-D) plus `mlp.shared_experts` after them.
Quirks:
- Keys and values come from a shared low-rank latent: `kv_a_proj_with_mqa` writes
  [c_kv (kv_lora_rank); k_pe (qk_rope_head_dim)], c_kv is normalised and `kv_b_proj` expands it
  into each head's [k_nope; v]. The canonical layout needs per-head matrices on the stream, so
  they are the products, with the latent norms read as their gains (the normalisation itself,
  like every other, is left out): Wq_h = Wqb_h diag(g_qa) Wqa, Wk_h = [Wkb_nope_h diag(g_kv) Wc;
  Wpe], Wv_h = Wkb_v_h diag(g_kv) Wc, with as many kv heads as heads. Rotating the latent by an
  orthogonal matrix (after folding its gain) changes every stored matrix but none of these.
- A query head is [q_nope; q_pe] and a key head [k_nope; k_pe], matched dim by dim. The rope part
  of the key, k_pe, is one vector shared by all heads and taken from the stream *before*
  kv_a_layernorm, so it repeats in every key head and carries no latent gain. The terms sum q.k
  over a head's dims, so the order of dims inside the rope part (V3's interleaved layout) does
  not matter, as long as q and k use the same one, which they do.
- DeepSeek-V3.2 and GLM-5 (glm_moe_dsa) add a "lightning indexer" with its own projections. It
  only picks which past tokens each query may attend to (a sparsity mask, like the router of an
  MoE); the scores that weigh the values are still q.k of the MLA above, so it is left out.
- DeepSeek-V3 checkpoints carry a multi-token-prediction layer after the last one
  (`layers.61` for 61 layers, `num_nextn_predict_layers`); it is not part of the model that
  makes the next token and lies past `num_hidden_layers`, so it is never read.
- LongCat-Flash and DeepSeek-V4 are refused with the reason (`adapters._REFUSED`).
- Kimi K2 uses deepseek_v3's type as it is; Kimi K2.5 wraps it with a vision tower
  (`language_model.model.`), found by the root search.
"""
from __future__ import annotations

import torch

from ..errors import FingerprintError
from . import Layer, first
from ._moe import ffn_or_experts
from ._parts import gains

FAMILIES = ("deepseek_v2", "deepseek_v3", "deepseek_v32", "glm4_moe_lite", "glm_moe_dsa", "minicpm3",
            "sarvam_mla", "mistral4")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    return Layer(**mla(cfg, get, p + "self_attn."), **ffn(cfg, get, p, i),
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))


def _shape(get, name: str, want: tuple[int, ...]) -> torch.Tensor:
    W = get(name)
    if tuple(W.shape) != want:
        raise FingerprintError(f"'{name}' has shape {tuple(W.shape)}, but the config's MLA sizes say {want}")
    return W


def mla(cfg, get, a: str) -> dict:
    """q, k, v, o of one MLA block at prefix `a` as per-head matrices on the stream (see the docstring)."""
    H, nope, rope = first(cfg, "num_attention_heads"), first(cfg, "qk_nope_head_dim"), first(cfg, "qk_rope_head_dim")
    vd, r = first(cfg, "v_head_dim"), first(cfg, "kv_lora_rank")
    d, gain = get.shape(a + "kv_a_proj_with_mqa.weight")[-1], gains(get, a)
    if get.has(a + "q_proj.weight"):
        q = _shape(get, a + "q_proj.weight", (H * (nope + rope), d))
    else:
        qa = get(a + "q_a_proj.weight")
        g = gain("q_a_layernorm")
        qb = _shape(get, a + "q_b_proj.weight", (H * (nope + rope), qa.shape[0]))
        q = qb @ (qa if g is None else qa * g[:, None])
        del qa, qb
    kva = _shape(get, a + "kv_a_proj_with_mqa.weight", (r + rope, d))
    c, pe = kva[:r], kva[r:]
    kvb = _shape(get, a + "kv_b_proj.weight", (H * (nope + vd), r)).view(H, nope + vd, r)
    g = gain("kv_a_layernorm")
    if g is not None:
        kvb = kvb * g
    k = torch.cat([kvb[:, :nope] @ c, pe.expand(H, rope, d)], dim=1).reshape(H * (nope + rope), d)
    v = (kvb[:, nope:] @ c).reshape(H * vd, d)
    return dict(q=q, k=k, v=v, o=get(a + "o_proj.weight"), n_heads=H, n_kv=H)


def _sparse(cfg, i: int) -> bool | None:
    """Whether the config makes layer i a mixture (None where it cannot tell)."""
    kinds = cfg.get("mlp_layer_types")
    if isinstance(kinds, (list, tuple)) and i < len(kinds):
        return kinds[i] == "sparse"
    k = cfg.get("first_k_dense_replace")
    return i >= k if isinstance(k, int) and cfg.get("n_routed_experts") else None


def ffn(cfg, get, p: str, i: int) -> dict:
    """Dense FFN or routed + shared experts, as the checkpoint holds them, checked against the config."""
    shared = "shared_experts" if get.has(p + "mlp.shared_experts.up_proj.weight") else None
    out = ffn_or_experts(cfg, get, p + "mlp.", shared=shared, count=("n_routed_experts",))
    want = _sparse(cfg, i)
    if want is not None and want != (out["up"] is None):
        raise FingerprintError(f"layer {i}: the config makes its FFN {'a mixture' if want else 'dense'}, "
                               f"but the checkpoint holds {'experts' if out['up'] is None else 'a dense FFN'}")
    if out["up"] is None and bool(cfg.get("n_shared_experts")) != bool(shared):
        raise FingerprintError(f"layer {i}: the config says {cfg.get('n_shared_experts')} shared experts, "
                               f"the checkpoint {'has' if shared else 'has none'}")
    return out
