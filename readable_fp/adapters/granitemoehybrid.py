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

from . import Layer, first
from ._moe import check_count, fused, shared_fused, with_shared
from ._parts import gains, layers_of_kind, self_attn

FAMILIES = ("granitemoehybrid",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def attention_layers(cfg, n):
    return layers_of_kind(cfg, n, "layer_types", ("full_attention", "attention"), ("linear_attention", "mamba"))


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    shared = shared_fused(get, p + "shared_mlp.input_linear.weight", p + "shared_mlp.output_linear.weight")
    e, where = p + "block_sparse_moe.", f"layer {i}"
    if get.has(e + "input_linear.weight"):
        each, n = fused(get, e + "input_linear.weight", e + "output_linear.weight", first(cfg, "hidden_size"), where,
                        orient="out_in")
        check_count(cfg, n, where, ("num_local_experts",))
        each, n = with_shared(each, n, [shared])
        ffn = dict(up=None, down=None, experts=each, n_experts=n)
    else:
        up, down = shared()
        ffn = dict(up=up, down=down)
    return Layer(**self_attn(cfg, get, p, gain), **ffn,
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
