"""Mixtral-style mixtures of experts: mixtral, phimoe, minimax_m2.

Names: attention as llama, experts `block_sparse_moe.experts.E.{w1,w2,w3}` where w1 is the gate,
w3 the up projection and w2 down (the original Mixtral names, which transformers still writes;
in memory it renames them to `mlp.experts.gate_up_proj` / `down_proj`, also read).
Quirks:
- PhiMoE uses LayerNorm; its gains fold in like RMSNorm gains (means and biases never enter).
- MiniMax-M2 normalises q and k over all heads at once (gains of width heads x head_dim),
  folded into q and k directly.
"""
from __future__ import annotations

from . import Layer
from ._moe import check_count, expert_list, full_width_norms, moe
from ._parts import gains, self_attn

FAMILIES = ("mixtral", "phimoe", "minimax_m2")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    where = f"layer {i}"
    each, n = expert_list(get, p + "block_sparse_moe.experts.", up="w3", down="w2")
    if n:
        check_count(cfg, n, where)
        ffn = dict(up=None, down=None, experts=each, n_experts=n)
    else:
        ffn = moe(cfg, get, p + "mlp.", where)
    return Layer(**full_width_norms(self_attn(cfg, get, p, gain)), **ffn,
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
