"""gpt-oss: llama-style attention with sinks, every layer a mixture of experts fused in 3-D tensors.

Names: `mlp.experts.gate_up_proj` (experts, d, 2F) and `mlp.experts.down_proj` (experts, F, d),
stored in x out, router `mlp.router` (left out).
Quirks:
- gate and up are interleaved on the last axis (even columns gate, odd up), not stacked halves.
- The up half is clamped and offset by 1 before the product, and the attention has learnt
  sinks: a clamp, a bias and a softmax term, none of which enter.
"""
from __future__ import annotations

from . import Layer, first
from ._moe import check_count, fused
from ._parts import gains, self_attn

FAMILIES = ("gpt_oss",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    where = f"layer {i}"
    e = p + "mlp.experts."
    each, n = fused(get, e + "gate_up_proj", e + "down_proj", first(cfg, "hidden_size"), where,
                     orient="in_out", interleaved=True)
    check_count(cfg, n, where)
    return Layer(**self_attn(cfg, get, p, gain), up=None, down=None, experts=each, n_experts=n,
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
