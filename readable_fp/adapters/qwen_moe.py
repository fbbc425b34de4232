"""Qwen-style mixtures of experts: qwen2_moe, qwen3_moe, qwen3_vl_moe_text, qwen3_omni_moe_text, olmoe, flint.

Names: attention as llama (`self_attn.{q,k,v,o}_proj`), experts `mlp.experts.E.{gate,up,down}_proj`
(or fused `mlp.experts.gate_up_proj` / `down_proj`, as Qwen3-VL-MoE ships them), router
`mlp.gate` (left out). Quirks:
- Qwen2-MoE adds one shared expert (`mlp.shared_expert`) whose output is scaled by a sigmoid
  gate; the gate is an output gate, so the shared expert enters the sum with weight 1. Flint's
  shared expert (same name) has no gate at all; its attention sinks never enter the terms.
- Layers in `mlp_only_layers`, or off the `decoder_sparse_step` grid, have a dense FFN `mlp.*_proj`.
- Qwen3 variants normalise q and k per head; OLMoE normalises q and k over all heads at once
  (gains of width heads x head_dim), which is folded into q and k directly.
"""
from __future__ import annotations

from . import Layer, first
from ._moe import dense, full_width_norms, moe
from ._parts import gains, self_attn

FAMILIES = ("qwen2_moe", "qwen3_moe", "qwen3_vl_moe_text", "qwen3_omni_moe_text", "olmoe", "flint")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def _sparse(cfg, i) -> bool:
    if cfg["model_type"] == "olmoe":
        return True
    step = first(cfg, "decoder_sparse_step", default=1)
    return i not in (cfg.get("mlp_only_layers") or []) and (i + 1) % step == 0


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    where = f"layer {i}"
    shared = "shared_expert" if cfg["model_type"] in ("qwen2_moe", "flint") else None
    ffn = moe(cfg, get, p + "mlp.", where, shared=shared) if _sparse(cfg, i) else dense(get, p + "mlp.")
    return Layer(**full_width_norms(self_attn(cfg, get, p, gain)), **ffn,
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
