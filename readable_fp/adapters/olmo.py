"""OLMo: olmo, olmo2, olmo3 (llama names; OLMo 2/3 norm the sublayer outputs instead of their inputs).

Quirks:
- OLMo (1) uses LayerNorms without parameters, so no gain exists to fold in.
- OLMo 2/3 have no input norms: `post_attention_layernorm` / `post_feedforward_layernorm` are
  RMSNorms on the attention and FFN *outputs* (post-norms), and `q_norm` / `k_norm` normalise
  the whole q (k) vector across all heads at once (width heads x head_dim), so their gains are
  folded into the rows of q_proj / k_proj rather than applied per head.
"""
from __future__ import annotations

from . import Layer
from ._parts import gains, scale_rows, self_attn

FAMILIES = ("olmo", "olmo2", "olmo3")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    up, down = get(p + "mlp.up_proj.weight"), get(p + "mlp.down_proj.weight")
    if cfg["model_type"] == "olmo":
        return Layer(**self_attn(cfg, get, p, lambda name: None), up=up, down=down)
    a = self_attn(cfg, get, p, lambda name: None)
    a["q"] = scale_rows(a["q"], gain("self_attn.q_norm"), f"layer {i} q_norm")
    a["k"] = scale_rows(a["k"], gain("self_attn.k_norm"), f"layer {i} k_norm")
    return Layer(**a, up=up, down=down, o_gain=gain("post_attention_layernorm"),
                 down_gain=gain("post_feedforward_layernorm"))
