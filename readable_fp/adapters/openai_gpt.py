"""GPT-1: openai-gpt - GPT-2's names and Conv1D weights (`in x out`, transposed here), but post-LN.

Each block normalises *after* the residual add (n = ln_1(x + attn(x)); h = ln_2(n + mlp(n))),
as BERT does: no gain reads the stream before attention (the previous block's `ln_2` is
already in it), and the MLP reads `ln_1`'s output, whose gain is folded into `mlp.c_fc`.
`attn.c_attn` stacks q, k, v in thirds."""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("openai-gpt",)
EMBEDDING = "tokens_embed.weight"
LAYER = "h.{i}."
LAYER_COUNT = ("n_layer", "num_hidden_layers")  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "n_head", "num_attention_heads")
    q, k, v = get(p + "attn.c_attn.weight").T.chunk(3, dim=0)
    return Layer(q=q, k=k, v=v, o=get(p + "attn.c_proj.weight").T,
                 up=get(p + "mlp.c_fc.weight").T, down=get(p + "mlp.c_proj.weight").T,
                 n_heads=h, n_kv=h, ffn_gain=get(p + "ln_1.weight"))
