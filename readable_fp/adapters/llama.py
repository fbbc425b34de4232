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

from . import Layer, first

FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text")
_GEMMA = ("gemma", "gemma2", "gemma3_text")
_POST_NORMS = ("gemma2", "gemma3_text")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    c = cfg
    gemma = c["model_type"] in _GEMMA
    p = LAYER.format(i=i)

    def gain(name):
        if not get.has(p + name + ".weight"):
            return None
        g = get(p + name + ".weight")
        return g + 1.0 if gemma else g

    post = c["model_type"] in _POST_NORMS
    return Layer(
        q=get(p + "self_attn.q_proj.weight"), k=get(p + "self_attn.k_proj.weight"),
        v=get(p + "self_attn.v_proj.weight"), o=get(p + "self_attn.o_proj.weight"),
        up=get(p + "mlp.up_proj.weight"), down=get(p + "mlp.down_proj.weight"),
        n_heads=first(c, "num_attention_heads"),
        n_kv=first(c, "num_key_value_heads", "num_attention_heads"),
        attn_gain=gain("input_layernorm"),
        ffn_gain=gain("pre_feedforward_layernorm" if post else "post_attention_layernorm"),
        q_gain=gain("self_attn.q_norm"), k_gain=gain("self_attn.k_norm"),
        o_gain=gain("post_attention_layernorm") if post else None,
        down_gain=gain("post_feedforward_layernorm") if post else None,
    )
