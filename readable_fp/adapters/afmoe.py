"""Arcee AFMoE (Trinity): afmoe, llama-style gated attention, leading dense layers then experts
with shared experts, and norms on both sides of the attention and the FFN.

Names: attention `self_attn.{q,k,v,o}_proj` with per-head `q_norm` / `k_norm`; experts
`mlp.experts.E.{gate,up,down}_proj`, shared experts one dense FFN `mlp.shared_experts`, router
`mlp.router` (left out); the first `num_dense_layers` layers have `mlp.{gate,up,down}_proj`.
Quirks:
- Four norms per layer: `input_layernorm` reads the stream for attention and
  `post_attention_layernorm` normalises its output; `pre_mlp_layernorm` reads the stream for the
  FFN and `post_mlp_layernorm` normalises its output.
- `self_attn.gate_proj` is a sigmoid output gate on the attention, which never enters.
"""
from __future__ import annotations

from . import Layer
from ._moe import dense, moe
from ._parts import gains, self_attn

FAMILIES = ("afmoe",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    if i >= (cfg.get("num_dense_layers") or 0):
        ffn = moe(cfg, get, p + "mlp.", f"layer {i}", shared="shared_experts" if cfg.get("num_shared_experts") else None)
    else:
        ffn = dense(get, p + "mlp.")
    return Layer(**self_attn(cfg, get, p, gain), **ffn,
                 attn_gain=gain("input_layernorm"), o_gain=gain("post_attention_layernorm"),
                 ffn_gain=gain("pre_mlp_layernorm"), down_gain=gain("post_mlp_layernorm"))
