"""IBM Granite mixtures of experts: granitemoe, granitemoeshared, granitemoe_swa.

Names: attention as llama; experts fused in 3-D, out x in: `block_sparse_moe.input_linear.weight`
(experts, 2F, d; gate rows then up rows) and `block_sparse_moe.output_linear.weight`
(experts, d, F), or the same under transformers' names `block_sparse_moe.experts.gate_up_proj` /
`down_proj`; router `block_sparse_moe.router` (left out).
Quirks:
- GraniteMoeShared and the SWA variant add `shared_mlp` when `shared_intermediate_size` > 0: a
  dense FFN with gate and up fused in `input_linear` (gate rows first), read as one more expert.
- Embedding, attention, residual and logits multipliers are scalars, and the SWA variant's
  attention sinks a softmax term: none enter.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first
from ._moe import check_count, fused, shared_fused, with_shared
from ._parts import gains, self_attn

FAMILIES = ("granitemoe", "granitemoeshared", "granitemoe_swa")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def _experts(cfg, get, b: str, where: str):
    d = first(cfg, "hidden_size")
    if get.has(b + "input_linear.weight"):
        each, n = fused(get, b + "input_linear.weight", b + "output_linear.weight", d, where, orient="out_in")
    else:
        each, n = fused(get, b + "experts.gate_up_proj", b + "experts.down_proj", d, where, orient="out_in")
    check_count(cfg, n, where)
    return each, n


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    where = f"layer {i}"
    routed, n = _experts(cfg, get, p + "block_sparse_moe.", where)
    shared = p + "shared_mlp."
    has_shared = bool(cfg.get("shared_intermediate_size"))
    if has_shared != get.has(shared + "input_linear.weight"):
        raise FingerprintError(f"{where}: shared_intermediate_size is {cfg.get('shared_intermediate_size')} but "
                               f"'{shared}input_linear' is {'missing' if has_shared else 'present'}")
    each, n = with_shared(routed, n, [shared_fused(get, shared + "input_linear.weight",
                                                   shared + "output_linear.weight")] if has_shared else [])
    return Layer(**self_attn(cfg, get, p, gain), up=None, down=None, experts=each, n_experts=n,
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
