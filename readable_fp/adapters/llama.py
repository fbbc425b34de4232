"""Llama-style decoders: llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3.

Names: `layers.N.self_attn.{q,k,v,o}_proj`, `layers.N.mlp.{gate,up,down}_proj`, RMSNorm gains
`input_layernorm` (before attention) and, for the FFN, `post_attention_layernorm`.
Quirks:
- Gemma's RMSNorm multiplies by (1 + weight), so the stored weight is gain - 1.
- Gemma 2/3 add post-norms on the attention and FFN outputs; there `post_attention_layernorm`
  is the attention *output* norm and `pre_feedforward_layernorm` reads the stream for the FFN.
- Qwen3 and Gemma 3 normalise q and k per head (`q_norm`, `k_norm`, head_dim gains).
- Gemma 3 multimodal checkpoints nest the text model (config `text_config`, whose type is
  `gemma3_text`; tensors under `model.language_model.`).
"""
from __future__ import annotations

from . import Layer
from ._parts import gains, self_attn

FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text")
_GEMMA = ("gemma", "gemma2", "gemma3_text")
_POST_NORMS = ("gemma2", "gemma3_text")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p, plus_one=cfg["model_type"] in _GEMMA)
    post = cfg["model_type"] in _POST_NORMS
    return Layer(**self_attn(cfg, get, p, gain),
                 up=get(p + "mlp.up_proj.weight"), down=get(p + "mlp.down_proj.weight"),
                 attn_gain=gain("input_layernorm"),
                 ffn_gain=gain("pre_feedforward_layernorm" if post else "post_attention_layernorm"),
                 o_gain=gain("post_attention_layernorm") if post else None,
                 down_gain=gain("post_feedforward_layernorm") if post else None)
