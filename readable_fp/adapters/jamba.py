"""Jamba-layout hybrids (Mamba + attention): jamba (AI21, with experts), bamba (IBM, Mamba-2).

Jamba's layer i has attention when i % attn_layer_period == attn_layer_offset, Bamba's when i
is in attn_layer_indices (the configs store these; the per-layer lists are derived from them);
the others are Mamba mixers, recurrences with nothing that pairs two tokens. Names: `self_attn.{q,k,v,o}_proj`, norms
`input_layernorm` and `pre_ff_layernorm`, FFN `feed_forward` (a SwiGLU, or on layers with
i % expert_layer_period == expert_layer_offset, routed experts, each read as a SwiGLU).
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first
from ._moe import ffn_or_experts
from ._parts import gains, self_attn

FAMILIES = ("jamba", "bamba")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def attention_layers(cfg, n):
    if cfg["model_type"] == "bamba":
        idx = cfg.get("attn_layer_indices") or []
        if not isinstance(idx, list) or any(type(i) is not int or not 0 <= i < n for i in idx):
            raise FingerprintError(f"config: attn_layer_indices is {str(idx)[:40]!r}, not a list of layers below {n}")
        return sorted(set(idx))
    period, offset = first(cfg, "attn_layer_period"), cfg.get("attn_layer_offset")
    if type(offset) is not int or not 0 <= offset < period:
        raise FingerprintError(f"config: attn_layer_offset is {str(offset)[:40]!r}, not a whole number below "
                               f"attn_layer_period ({period})")
    return [i for i in range(n) if i % period == offset]


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    return Layer(**self_attn(cfg, get, p, gain), **ffn_or_experts(cfg, get, p + "feed_forward."),
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("pre_ff_layernorm"))
