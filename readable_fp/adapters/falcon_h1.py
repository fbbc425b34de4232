"""TII Falcon-H1 (Mamba-2 and attention side by side in every layer): falcon_h1.

Every layer runs a Mamba-2 mixer and attention in parallel on the same normalised stream and
adds both outputs, so every layer has attention terms; the mixer, a recurrence with nothing
that pairs two tokens, is left out. Names are Llama's (`self_attn.{q,k,v,o}_proj`,
`feed_forward.{gate,up,down}_proj`), norms `input_layernorm` (read by both mixers) and
`pre_ff_layernorm`.
Quirks: the µP multipliers (embedding, attention in/out, key, MLP gate/down, SSM) are scalars:
they scale terms without changing them, and are left out.
"""
from __future__ import annotations

from . import Layer
from ._parts import gains, self_attn

FAMILIES = ("falcon_h1",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    return Layer(**self_attn(cfg, get, p, gain),
                 up=get(p + "feed_forward.up_proj.weight"), down=get(p + "feed_forward.down_proj.weight"),
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("pre_ff_layernorm"))
