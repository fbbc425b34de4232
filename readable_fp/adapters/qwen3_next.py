"""Qwen3-Next and Qwen3.5 hybrids (gated DeltaNet + gated attention): qwen3_next, qwen3_5_text, qwen3_5_moe_text.

Only the `full_attention` layers of the config's `layer_types` have terms; the others are
gated DeltaNet (`linear_attn`), a recurrence with no q.k over the probe tokens.
Quirks:
- The attention is output-gated: `q_proj` yields 2 x head_dim rows per head, [q_h ; gate_h]
  (transformers views it as (heads, 2 * head_dim) and chunks), and the gate is a sigmoid on the
  output, which the terms leave out as they leave out activations. So q is every head's first half.
- Every RMSNorm (input, post-attention, per-head q/k) multiplies by (1 + weight).
- Qwen3.5 ships as a vision-language model (`qwen3_5`, `qwen3_5_moe`; MiniCPM-V 4.6/4.7 and
  MiniCPM-o OCR wrap the same text model); the text model is found under its own prefix.
- MoE layers sum all routed experts and the shared expert; the shared expert's sigmoid gate is
  a router-like weight and is left out. Experts may be stored one module each or fused 3-D.
"""
from __future__ import annotations

from . import Layer, first
from ._moe import ffn_or_experts
from ._parts import gains, layers_of_kind, self_attn

FAMILIES = ("qwen3_next", "qwen3_5_text", "qwen3_5_moe_text")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def attention_layers(cfg, n):
    return layers_of_kind(cfg, n, "layer_types", ("full_attention",), ("linear_attention",))


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p, plus_one=True)
    attn = self_attn(cfg, get, p, gain)
    hd = first(cfg, "head_dim")
    attn["q"] = attn["q"].reshape(attn["n_heads"], 2, hd, -1)[:, 0].reshape(attn["n_heads"] * hd, -1)
    mlp = ffn_or_experts(cfg, get, p + "mlp.", shared="shared_expert")
    return Layer(**attn, **mlp, attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
