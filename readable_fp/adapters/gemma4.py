"""Gemma 4 decoders (gemma4_text, gemma4_unified_text, and the gemma4 / gemma4_unified wrappers): Gemma 3's layer with per-layer head sizes, shared K/V and an optional MoE beside the MLP.

Names are Gemma 3's: `layers.N.self_attn.{q,k,v,o}_proj` with per-head `q_norm` / `k_norm`,
`mlp.{gate,up,down}_proj`, norms `input_layernorm` (attention input), `post_attention_layernorm`
(attention output), `pre_feedforward_layernorm` (FFN input), `post_feedforward_layernorm` (FFN output).
Quirks:
- Gemma 4's RMSNorm multiplies by the weight itself, not Gemma 1-3's (1 + weight).
- Layers differ: full-attention layers have their own head_dim and (with `attention_k_eq_v`) kv-head
  count, kept in the config's `per_layer_config` (layer -> overrides); each layer is read with its own.
- `attention_k_eq_v`: full-attention layers have no `v_proj`; the values are the k projection's output
  before `k_norm` (their `v_norm` has no weight), so v is k_proj with no gain.
- KV sharing (`num_kv_shared_layers`, E2B/E4B): the last layers have no k/v projections and attend to the
  keys and values the last unshared layer of the same type computed from *its* input. Their k and v
  are that layer's, each projection with the input norm of the layer it reads, folded in. An assistant
  (drafter) shares every layer with its target model's cache, so it has no keys of its own: refused.
- MoE (26B-A4B, `enable_moe_block`): experts run beside the dense MLP, each branch with its own input
  norm and output norm before the shared `post_feedforward_layernorm`; the MLP is read as a shared
  expert, and each branch's gains are folded into its up / down. Experts are fused, (E, 2F, d) gate
  then up, and (E, d, F), out x in as transformers defines them.
- Left out by the terms: per-layer inputs (PLE: a gated branch after the FFN that adds a projection of
  a per-token, per-layer embedding to the same single stream), `layer_scalar`, `v_norm`'s
  normalisation, the router and its scales, sliding windows, proportional rotary.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first
from ._moe import check_count, fused
from ._parts import gains

FAMILIES = ("gemma4_text", "gemma4_unified_text")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def _setting(cfg, i: int, key: str):
    """`key` for layer i: its `per_layer_config` override (keys are layer indices, zero-padded strings
    as transformers saves them), else the global value."""
    overrides = {int(k): v for k, v in (cfg.get("per_layer_config") or {}).items()}
    return first(overrides.get(i, {}), key) if key in overrides.get(i, {}) else first(cfg, key)


def _kv_source(cfg, i: int, n: int) -> int:
    """The layer whose k/v projections layer i's attention uses: itself, or for a KV-shared layer the
    last unshared layer of the same type (transformers' `kv_sharing_modes`)."""
    shared = cfg.get("num_kv_shared_layers") or 0
    if shared >= n:
        raise FingerprintError(f"every layer of this '{cfg.get('wrapper_type') or cfg['model_type']}' model reads "
                               "the keys and values of another model's cache (a Gemma 4 assistant): it has no key or "
                               "value projections for the attention terms")
    if i < n - shared:
        return i
    types = cfg.get("layer_types") or []
    kind = types[i] if i < len(types) else None
    src = [j for j in range(n - shared) if j < len(types) and types[j] == kind]
    if not src:
        raise FingerprintError(f"layer {i} shares keys and values, but no earlier layer of type '{kind}' has them")
    return src[-1]


def _attention(cfg, get, i: int, n: int) -> dict:
    p, a = LAYER.format(i=i), LAYER.format(i=i) + "self_attn."
    j = _kv_source(cfg, i, n)
    s = LAYER.format(i=j) + "self_attn."
    hd, n_heads, n_kv = _setting(cfg, i, "head_dim"), first(cfg, "num_attention_heads"), _setting(cfg, j, "num_key_value_heads")
    q, k = get(a + "q_proj.weight"), get(s + "k_proj.weight")
    full = (cfg.get("layer_types") or [None] * n)[j] != "sliding_attention"
    v = k if cfg.get("attention_k_eq_v") and full else get(s + "v_proj.weight")
    if q.shape[0] != n_heads * hd or k.shape[0] != n_kv * hd:
        raise FingerprintError(f"layer {i}: q {tuple(q.shape)} / k {tuple(k.shape)} do not fit {n_heads} heads and "
                               f"{n_kv} kv heads of head_dim {hd}, as the config says for this layer")
    gain, src_gain = gains(get, p), gains(get, LAYER.format(i=j))
    out = dict(q=q, k=k, v=v, o=get(a + "o_proj.weight"), n_heads=n_heads, n_kv=n_kv,
               q_gain=gain("self_attn.q_norm"), k_gain=src_gain("self_attn.k_norm"),
               attn_gain=gain("input_layernorm"), o_gain=gain("post_attention_layernorm"))
    if j != i:  # q reads this layer's input, k and v the source layer's: fold each norm into its projection
        g, gs = out.pop("attn_gain"), src_gain("input_layernorm")
        out.update(q=q * g[None, :] if g is not None else q,
                   k=k * gs[None, :] if gs is not None else k, v=v * gs[None, :] if gs is not None else v)
    return out


def _scaled(up, down, g_in, g_out):
    return (up if g_in is None else up * g_in[None, :]), (down if g_out is None else down * g_out[:, None])


def _times(a, b):
    return a if b is None else b if a is None else a * b


def _moe(cfg, get, p: str, gain, where: str) -> dict:
    """The dense MLP as a shared expert beside the routed ones, each branch's gains folded in."""
    post = gain("post_feedforward_layernorm")
    dense = _scaled(get(p + "mlp.up_proj.weight"), get(p + "mlp.down_proj.weight"),
                    gain("pre_feedforward_layernorm"), _times(gain("post_feedforward_layernorm_1"), post))
    routed, n = fused(get, p + "experts.gate_up_proj", p + "experts.down_proj", first(cfg, "hidden_size"), where,
                      orient="out_in")
    check_count(cfg, n, where, keys=("num_experts",))
    g_in, g_out = gain("pre_feedforward_layernorm_2"), _times(gain("post_feedforward_layernorm_2"), post)

    def each():
        for up, down in routed():
            yield _scaled(up, down, g_in, g_out)
        yield dense
    return dict(up=None, down=None, experts=each, n_experts=n + 1)


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    n = first(cfg, *LAYER_COUNT)
    gain = gains(get, p)
    attn = _attention(cfg, get, i, n)
    if cfg.get("enable_moe_block"):
        return Layer(**attn, **_moe(cfg, get, p, gain, f"layer {i}"))
    return Layer(**attn, up=get(p + "mlp.up_proj.weight"), down=get(p + "mlp.down_proj.weight"),
                 ffn_gain=gain("pre_feedforward_layernorm"), down_gain=gain("post_feedforward_layernorm"))
