"""GLM / GLM-4 (dense): glm, glm4 - llama names, but gate and up fused in `mlp.gate_up_proj`.

Quirks:
- `gate_up_proj` stacks [gate; up] on its rows (the output is chunked in two, gate first), so
  the up half is the second half.
- GLM-4 adds post-norms on the sublayer outputs: `post_self_attn_layernorm` (attention) and
  `post_mlp_layernorm` (MLP); `post_attention_layernorm` still reads the stream for the MLP.
"""
from __future__ import annotations

from . import Layer
from ._parts import gains, self_attn

FAMILIES = ("glm", "glm4")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    gate_up = get(p + "mlp.gate_up_proj.weight")
    post = cfg["model_type"] == "glm4"
    return Layer(**self_attn(cfg, get, p, gain), up=gate_up[gate_up.shape[0] // 2:],
                 down=get(p + "mlp.down_proj.weight"),
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"),
                 o_gain=gain("post_self_attn_layernorm") if post else None,
                 down_gain=gain("post_mlp_layernorm") if post else None)
