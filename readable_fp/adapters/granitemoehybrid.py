"""IBM Granite 4.0 hybrids (Mamba-2 + attention, mixture of experts plus a shared MLP): granitemoehybrid.

Only the config's attention layers (`layer_types`, legacy `layers_block_type`) have terms; the
others are Mamba-2 mixers, recurrences with nothing that pairs two tokens.
Quirks:
- Every layer's FFN is the experts (`block_sparse_moe`, fused 3-D: `input_linear` E x 2F x d,
  gate rows first, and `output_linear` E x d x F) plus `shared_mlp`, a dense FFN of the same
  fused form added to their output: read as one more expert. With no experts
  (`num_local_experts` 0) the shared MLP alone is the FFN.
- Embedding, attention, residual and logits multipliers are scalars: they scale terms
  without changing them, and are left out.
"""
from __future__ import annotations

from . import Layer
from ._hybrid import dense_fused, fused_experts, layers_of_kind, moe
from ._parts import gains, self_attn

FAMILIES = ("granitemoehybrid",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def attention_layers(cfg, n):
    return layers_of_kind(cfg, n, "layer_types", ("full_attention", "attention"), ("linear_attention", "mamba"))


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    shared = dense_fused(get, p + "shared_mlp.input_linear.weight", p + "shared_mlp.output_linear.weight")
    e = p + "block_sparse_moe."
    if get.has(e + "input_linear.weight"):
        each, n = fused_experts(get, e + "input_linear.weight", e + "output_linear.weight", (shared,))
        ffn = moe(cfg, each, n, 1, e, ("num_local_experts",))
    else:
        up, down = shared()
        ffn = dict(up=up, down=down)
    return Layer(**self_attn(cfg, get, p, gain), **ffn,
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
