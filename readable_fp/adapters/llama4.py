"""Llama 4: llama-style attention; mixture-of-experts layers (fused experts plus one shared
expert) interleaved with dense ones; families llama4_text (also inside the llama4 wrapper).

Names: `feed_forward.experts.gate_up_proj` (experts, d, 2F, gate then up halves) and
`feed_forward.experts.down_proj` (experts, F, d), both in x out as Meta ships them;
`feed_forward.shared_expert.{gate,up,down}_proj`;
dense layers `feed_forward.{gate,up,down}_proj`, `intermediate_size_mlp` wide.
Quirks:
- Which layers are MoE is the config's `moe_layers` (derived from `interleave_moe_layer_step`).
- The q/k norm (on the layers with rotary) is an L2 norm without weights, a per-token scale
  that never enters; the no-rotary layers only differ in rotary and a temperature, neither of
  which enters.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first
from ._moe import check_count, fused, shared_ffn, with_shared
from ._parts import gains, self_attn

FAMILIES = ("llama4_text",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def _moe_layers(cfg) -> list:
    layers = cfg.get("moe_layers")
    if layers is None:
        step = first(cfg, "interleave_moe_layer_step", default=1)
        layers = list(range(step - 1, cfg["num_hidden_layers"], step))
    return layers


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    where, f = f"layer {i}", p + "feed_forward."
    if i in _moe_layers(cfg):
        if not get.has(f + "shared_expert.up_proj.weight"):
            raise FingerprintError(f"{where}: a Llama 4 MoE layer without '{f}shared_expert'")
        each, n = fused(get, f + "experts.gate_up_proj", f + "experts.down_proj", first(cfg, "hidden_size"), where,
                         orient="in_out")
        check_count(cfg, n, where)
        each, n = with_shared(each, n, [shared_ffn(get, f + "shared_expert.")])
        ffn = dict(up=None, down=None, experts=each, n_experts=n)
    else:
        ffn = dict(up=get(f + "up_proj.weight"), down=get(f + "down_proj.weight"))
    return Layer(**self_attn(cfg, get, p, gain), **ffn,
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
