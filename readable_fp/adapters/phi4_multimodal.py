"""Phi-4-multimodal (phi4_multimodal; the remote-code original, phi4mm): a Phi-3 language model (fused `qkv_proj`, fused `gate_up_proj`) read from its base weights.

The vision and speech towers sit under `embed_tokens_extend.` beside the language model, so the
root found from the embedding and the last layer never takes their tensors.
The released checkpoint's language model carries "Mixture of LoRAs" adapters injected by PEFT:
each adapted projection is `X.base_layer.weight` with `X.lora_A.{vision,speech}.weight` and
`X.lora_B.{vision,speech}.weight` beside it (transformers' conversion keeps `X.weight` and saves
the adapters apart). The adapters are modality-specific deltas switched on only for image or audio
inputs; the text model is the frozen base (Phi-4-mini), so the terms read `base_layer` and
never add a LoRA product.
"""
from __future__ import annotations

from . import phi3

FAMILIES = ("phi4_multimodal", "phi4mm")
EMBEDDING = phi3.EMBEDDING
LAYER = phi3.LAYER
LAYER_COUNT = phi3.LAYER_COUNT


def _base(get):
    """`get` that reads `X.base_layer.weight` where a checkpoint stores `X.weight` under PEFT's name."""
    def base(name: str):
        alt = name[:-len("weight")] + "base_layer.weight"
        return get(alt) if not get.has(name) and name.endswith(".weight") and get.has(alt) else get(name)
    base.has = lambda name: get.has(name) or (name.endswith(".weight") and get.has(name[:-6] + "base_layer.weight"))
    return base


def layer(cfg, i, get):
    return phi3.layer(cfg, i, _base(get))
