"""Gemma 3n decoders (gemma3n_text, inside the gemma3n wrapper): Gemma 3's layer on the active AltUp stream, with shared K/V and per-layer FFN widths.

Names are Gemma 3's: `layers.N.self_attn.{q,k,v,o}_proj` with per-head `q_norm` / `k_norm`,
`mlp.{gate,up,down}_proj`, norms `input_layernorm` (attention input), `post_attention_layernorm`
(attention output), `pre_feedforward_layernorm` (FFN input), `post_feedforward_layernorm` (FFN output).
Quirks:
- AltUp keeps `altup_num_inputs` copies of the stream, but each layer's attention and FFN read and
  add to one of them, the active one (`altup_active_idx`, the embeddings' own), exactly as a Gemma 3
  block does; the others are linear mixtures carried beside it. The predict / correct mixing (its
  coefficients computed from each token by a router), the Laurel branch (a low-rank map of the
  normalised input added beside the attention), the per-layer-input gate (which writes the other
  streams only) and the 1/sqrt(2) that scales the stream after attention are side branches and
  scalars, which the terms leave out, as they leave out Gemma 4's per-layer inputs.
- The RMSNorm multiplies by the weight itself, not Gemma 1-3's (1 + weight); `v_norm` has no weight.
- KV sharing (`num_kv_shared_layers`): the last layers have no k/v projections and attend to the keys
  and values the last unshared layer of the same type computed from its own input; read as Gemma 4's
  (`gemma4._attention`), which folds each norm into the projection that reads it.
- `intermediate_size` is a list, one FFN width per layer (E2B/E4B's are equal; the config allows any).
- Activation sparsity (the first layers' Gaussian top-k) acts on the gate only, outside the up/down term.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first
from ._parts import gains
from .gemma4 import _attention

FAMILIES = ("gemma3n_text",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def _ffn_width(cfg, i: int):
    """The config's FFN width for layer i (a per-layer list, or one value for all), or None if it sets none."""
    w = cfg.get("intermediate_size")
    if isinstance(w, (list, tuple)):
        if len(w) != first(cfg, *LAYER_COUNT):
            raise FingerprintError(f"config: intermediate_size lists {len(w)} widths for {first(cfg, *LAYER_COUNT)} layers")
        return first({"intermediate_size": w[i]}, "intermediate_size")
    return first(cfg, "intermediate_size") if w is not None else None


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    up, down = get(p + "mlp.up_proj.weight"), get(p + "mlp.down_proj.weight")
    width = _ffn_width(cfg, i)
    if width is not None and up.shape[0] != width:
        raise FingerprintError(f"layer {i}: up_proj has {up.shape[0]} rows, but the config's FFN width for it is {width}")
    return Layer(**_attention(cfg, get, i, first(cfg, *LAYER_COUNT)), up=up, down=down,
                 ffn_gain=gain("pre_feedforward_layernorm"), down_gain=gain("post_feedforward_layernorm"))
