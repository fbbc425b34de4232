"""StableLM (2, 3B-4E1T): stablelm - llama names with LayerNorms, optionally a parallel block.

Quirks:
- With `use_parallel_residual` there is no `post_attention_layernorm`: `input_layernorm` feeds
  both attention and the MLP, so its gain is folded into both.
- With `qk_layernorm`, every head has its own LayerNorm (`q_layernorm.norms.H`, head_dim
  each): a different gain per head, folded into that head's rows of q_proj / k_proj.
"""
from __future__ import annotations

import torch

from . import Layer
from ._parts import gains, scale_rows, self_attn

FAMILIES = ("stablelm",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def _per_head_norm(get, name: str, n: int):
    if not get.has(name + ".norms.0.weight"):
        return None
    return torch.stack([get(f"{name}.norms.{h}.weight") for h in range(n)])


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    a = self_attn(cfg, get, p, lambda name: None)
    a["q"] = scale_rows(a["q"], _per_head_norm(get, p + "self_attn.q_layernorm", a["n_heads"]), f"layer {i} q_layernorm")
    a["k"] = scale_rows(a["k"], _per_head_norm(get, p + "self_attn.k_layernorm", a["n_kv"]), f"layer {i} k_layernorm")
    ln = gain("input_layernorm")
    parallel = cfg.get("use_parallel_residual")
    return Layer(**a, up=get(p + "mlp.up_proj.weight"), down=get(p + "mlp.down_proj.weight"),
                 attn_gain=ln, ffn_gain=ln if parallel else gain("post_attention_layernorm"))
