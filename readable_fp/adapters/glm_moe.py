"""Mixtures of experts with shared experts and leading dense layers: glm4_moe, glm4v_moe_text,
dots1, ernie4_5_moe, minicpm5_moe, hunyuan_v1_moe.

Names: attention as llama, experts `mlp.experts.E.{gate,up,down}_proj`, the shared experts as
one dense FFN `mlp.shared_experts` (`mlp.shared_mlp` in Hunyuan), router `mlp.gate` (left out).
Quirks:
- Which layers are dense (`mlp.{gate,up,down}_proj`) each family says its own way: the first
  `first_k_dense_replace` (GLM-4.5, dots1), a start/end/interval window (ERNIE 4.5),
  `mlp_layer_types` (MiniCPM5), none (Hunyuan).
- MiniCPM5 fuses an attention output gate into q: `q_proj` holds, per head, head_dim rows of q
  then head_dim rows of the gate (a sigmoid output gate, which never enters).
- Hunyuan names its per-head q/k norms `query_layernorm` / `key_layernorm`.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first
from ._moe import dense, moe
from ._parts import gains, self_attn

FAMILIES = ("glm4_moe", "glm4v_moe_text", "dots1", "ernie4_5_moe", "minicpm5_moe", "hunyuan_v1_moe")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def _sparse(cfg, i) -> bool:
    mt = cfg["model_type"]
    if mt == "ernie4_5_moe":
        end = cfg.get("moe_layer_end_index")
        end = cfg["num_hidden_layers"] - 1 if end in (None, -1) else end
        return (i + 1) % first(cfg, "moe_layer_interval", default=1) == 0 and cfg.get("moe_layer_start_index", 0) <= i <= end
    if mt == "minicpm5_moe":
        return cfg["mlp_layer_types"][i] == "sparse"
    if mt == "hunyuan_v1_moe":
        return True
    return i >= (cfg.get("first_k_dense_replace") or 0)


def _shared(cfg) -> str | None:
    mt = cfg["model_type"]
    if mt == "hunyuan_v1_moe":
        return "shared_mlp"
    n = cfg.get("moe_num_shared_experts" if mt == "ernie4_5_moe" else "n_shared_experts")
    return "shared_experts" if n else None


def _attention(cfg, get, p, gain) -> dict:
    attn = self_attn(cfg, get, p, gain)
    if cfg["model_type"] == "hunyuan_v1_moe":
        attn.update(q_gain=gain("self_attn.query_layernorm"), k_gain=gain("self_attn.key_layernorm"))
    if cfg["model_type"] == "minicpm5_moe":
        q, h, d = attn["q"], attn["n_heads"], attn["q"].shape[1]
        hd = first(cfg, "head_dim", default=first(cfg, "hidden_size") // h)
        if q.shape[0] != 2 * h * hd:
            raise FingerprintError(f"{p}self_attn.q_proj has {q.shape[0]} rows; MiniCPM5 fuses q and its gate, "
                                   f"so {2 * h * hd} were expected")
        attn["q"] = q.view(h, 2, hd, d)[:, 0].reshape(h * hd, d)
    return attn


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    ffn = moe(cfg, get, p + "mlp.", f"layer {i}", shared=_shared(cfg)) if _sparse(cfg, i) else dense(get, p + "mlp.")
    return Layer(**_attention(cfg, get, p, gain), **ffn,
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
