"""EXAONE 3 / 3.5 (exaone): the llama block under GPT-2-like names.

Names: `transformer.wte`, `transformer.h.N.attn.attention.{q,k,v,out}_proj`, RMSNorm gains `ln_1`
(before attention) and `ln_2` (before the FFN), FFN `mlp.c_fc_0` (gate), `mlp.c_fc_1` (up) and
`mlp.c_proj` (down). transformers runs it as llama, renaming these on load (its conversion
mapping for "exaone": c_fc_0 -> gate_proj, c_fc_1 -> up_proj) and back on save, so checkpoints
keep these names; the up half the terms read is `c_fc_1`.
"""
from __future__ import annotations

from . import Layer
from ._parts import gains, self_attn

FAMILIES = ("exaone",)
EMBEDDING = "wte.weight"
LAYER = "h.{i}."
LAYER_COUNT = ("num_hidden_layers", "num_layers")


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    return Layer(**self_attn(cfg, get, p, gain, prefix="attn.attention.", o_name="out_proj"),
                 up=get(p + "mlp.c_fc_1.weight"), down=get(p + "mlp.c_proj.weight"),
                 attn_gain=gain("ln_1"), ffn_gain=gain("ln_2"))
