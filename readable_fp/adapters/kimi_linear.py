"""Kimi Linear (kimi_linear): linear-attention (KDA) layers with a multi-head latent attention layer every few.

Only the MLA layers (`layer_types` "full_attention") have attention terms; they are read as
DeepSeek's (see `deepseek.mla`): Kimi Linear's MLA applies no rotary embedding, but its keys
still end in the shared k_pe part of `kv_a_proj_with_mqa`, matched dim by dim with q's last
dims, which the terms read exactly as DeepSeek's.
Quirks:
- The MoE keeps the original names: routed experts `block_sparse_moe.experts.E.{w1,w3,w2}`
  (gate, up, down), shared experts `block_sparse_moe.shared_experts.{gate,up,down}_proj`;
  the first layers' dense FFN is `mlp.{gate,up,down}_proj`.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer
from ._moe import check_count, expert_list, shared_ffn, with_shared
from ._parts import gains, layers_of_kind
from .deepseek import mla

FAMILIES = ("kimi_linear",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def attention_layers(cfg, n):
    return layers_of_kind(cfg, n, "layer_types", ("full_attention",), ("linear_attention",))


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    return Layer(**mla(cfg, get, p + "self_attn."), **_ffn(cfg, get, p, i),
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))


def _ffn(cfg, get, p: str, i: int) -> dict:
    if get.has(p + "mlp.up_proj.weight"):
        return dict(up=get(p + "mlp.up_proj.weight"), down=get(p + "mlp.down_proj.weight"))
    m = p + "block_sparse_moe."
    routed, n = expert_list(get, m + "experts.", up="w3", down="w2")
    check_count(cfg, n, f"layer {i}", ("num_experts",))
    shared = get.has(m + "shared_experts.up_proj.weight")
    if bool(cfg.get("num_shared_experts")) != shared:
        raise FingerprintError(f"layer {i}: the config says {cfg.get('num_shared_experts')} shared experts, "
                               f"the checkpoint {'has' if shared else 'has none'}")
    each, n = with_shared(routed, n, [shared_ffn(get, m + "shared_experts.")] if shared else [])
    return dict(up=None, down=None, experts=each, n_experts=n)
