"""Tiny random models of every type the installed transformers can build with a text model inside.

`tiny_config(model_type)` takes the type's default config (transformers' own config class) and
shrinks every size it recognises, in the text model and in every other tower, so each model has
a few thousand parameters per layer and builds in well under a second. `build(model_type, dir)`
saves it with `save_pretrained` and a tokenizer.json, as a user's fine-tune would be saved.
Types that need more than a config to build (remote code, a backbone download) raise.
"""
from __future__ import annotations

from pathlib import Path

import torch

VOCAB = 512
LAYERS = 4  # hybrids need some of each kind of layer; the last two attention layers are read

# size key -> tiny value, applied to every (sub-)config that has the key
_SIZES = {
    "hidden_size": 64, "d_model": 64, "n_embd": 64, "n_embed": 64, "dim": 64, "embed_dim": 64, "width": 64,
    "intermediate_size": 96, "ffn_dim": 96, "n_inner": 96, "d_ff": 96, "ffn_hidden_size": 96,
    "encoder_ffn_dim": 96, "decoder_ffn_dim": 96, "mlp_dim": 96,
    "moe_intermediate_size": 32, "shared_expert_intermediate_size": 48, "expert_intermediate_size": 32,
    "num_attention_heads": 4, "n_head": 4, "num_heads": 4, "encoder_attention_heads": 4,
    "decoder_attention_heads": 4, "attention_heads": 4,
    "num_key_value_heads": 2, "num_kv_heads": 2, "n_head_kv": 2, "multi_query_group_num": 2,
    "head_dim": 16, "kv_channels": 16, "attention_head_dim": 16,
    "num_hidden_layers": LAYERS, "n_layer": LAYERS, "n_layers": LAYERS, "num_layers": LAYERS,
    "encoder_layers": 2, "decoder_layers": LAYERS, "depth": 2,
    "vocab_size": VOCAB,
    "num_local_experts": 4, "num_experts": 4, "n_routed_experts": 4, "moe_num_experts": 4,
    "num_experts_per_tok": 2, "moe_topk": 2, "top_k": 2, "n_group": 1, "topk_group": 1,
    "kv_lora_rank": 32, "q_lora_rank": 48, "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 16,
    "max_position_embeddings": 256, "n_positions": 256, "max_seq_len": 256,
    "linear_key_head_dim": 16, "linear_value_head_dim": 16, "linear_num_key_heads": 2, "linear_num_value_heads": 4,
    "projection_dim": 64, "image_size": 32, "patch_size": 8, "num_channels": 3,
}


# model type -> config keys that the shrinking above gets wrong for it (one line each, with why)
_OVERRIDES: dict[str, dict] = {
    "gptj": {"rotary_dim": 8},  # rotary dims must fit in head_dim 16
    # dense decoders (add below)
    # mixtures of experts (add below)
    # multi-head latent attention (add below)
    # encoders (add below)
    # hybrids (add below)
}

# per-layer lists and the like: derived from the sizes above, so dropped and left to the config class
_DERIVED = ("layer_types", "layers_block_type", "block_types", "layer_type", "hybrid_override_pattern",
            "attn_layer_indices", "mlp_only_layers", "no_rope_layers", "swa_layers", "moe_layers",
            "full_attn_idxs", "attn_layer_offset", "attn_layer_period")


def _shrink(d: dict) -> dict:
    out = {}
    for key, value in d.items():
        if key in _DERIVED:
            continue
        if isinstance(value, dict) and ("model_type" in value or key.endswith("_config")):
            out[key] = _shrink(value)
        elif isinstance(value, bool) or not isinstance(value, int):
            out[key] = value
        elif key in _SIZES:
            out[key] = _SIZES[key]
        elif key.endswith(("_token_id", "_token_index", "_id")) and value >= VOCAB:
            out[key] = VOCAB - 1 - (sum(map(ord, key)) % 64)  # distinct ids inside the tiny vocabulary
        else:
            out[key] = value
    return out


def tiny_config(model_type: str):
    from transformers import AutoConfig

    cfg = AutoConfig.for_model(model_type)
    d = _shrink(cfg.to_dict())
    for key, value in _OVERRIDES.get(model_type, {}).items():
        *path, last = key.split(".")  # "text_config.head_dim" reaches into a sub-config
        target = d
        for part in path:
            target = target[part]
        target[last] = value
    return type(cfg).from_dict(d)


def auto_class(model_type: str) -> str:
    from transformers.models.auto import modeling_auto as ma

    for auto, names in (("AutoModelForCausalLM", ma.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES),
                        ("AutoModelForImageTextToText", ma.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES),
                        ("AutoModelForMultimodalLM", ma.MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES),
                        ("AutoModelForMaskedLM", ma.MODEL_FOR_MASKED_LM_MAPPING_NAMES)):
        if model_type in names:
            return auto
    raise KeyError(model_type)


def model_types() -> list[str]:
    from transformers.models.auto import modeling_auto as ma

    out = set(ma.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES) | set(ma.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES)
    out |= set(ma.MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES) | set(ma.MODEL_FOR_MASKED_LM_MAPPING_NAMES)
    return sorted(out)


def build(model_type: str, directory: str | Path, seed: int = 1):
    """Build, randomise the 1-D parameters (gains far from 1, biases far from 0), save; return the model."""
    import transformers

    from helpers import write_tokenizer

    torch.manual_seed(seed)
    cfg = tiny_config(model_type)
    model = getattr(transformers, auto_class(model_type)).from_config(cfg).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1 and p.is_floating_point():
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    write_tokenizer(directory, VOCAB)
    return model
