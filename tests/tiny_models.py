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
    # Gemma 3n: the default's per-layer lists (intermediate_size, activation_sparsity_pattern) name 35 layers and its
    # PLE table is 262144 x layers x 256; shrink them, with per-layer FFN widths, sparsity on the first two layers
    # (as the first 10 of E2B/E4B) and K/V shared by the last two (num_kv_shared_layers, default 15)
    "gemma3n_text": {"intermediate_size": [96, 128, 96, 128], "activation_sparsity_pattern": [0.95, 0.95, 0.0, 0.0],
                     "layer_types": ["sliding_attention", "full_attention"] * 2, "num_kv_shared_layers": 2,
                     "vocab_size_per_layer_input": 512, "hidden_size_per_layer_input": 16, "laurel_rank": 8},
    "gemma3n": {"text_config.intermediate_size": 96, "text_config.activation_sparsity_pattern": [0.0] * 4,  # as above
                "text_config.num_kv_shared_layers": 2, "text_config.vocab_size_per_layer_input": 512,
                "text_config.hidden_size_per_layer_input": 16, "text_config.laurel_rank": 8},
    "git": {"vision_config.num_hidden_layers": 2},  # a 4-layer vision encoder would be a second list of 4 blocks
    # Gemma 4: the default per_layer_config names layers 5..29 (head_dim 512 on full-attention layers) and the
    # per-layer-input (PLE) table is 262144 x layers x 256; shrink both. gemma4_text also shares K/V in its last two
    # layers (as E2B/E4B do), gemma4_unified_text ties v to k on full layers (attention_k_eq_v, as the 31B does),
    # gemma4 has the 26B-A4B's MoE block beside the dense MLP
    "gemma4_text": {"layer_types": ["sliding_attention", "full_attention"] * 2, "num_kv_shared_layers": 2,
                    "per_layer_config": {1: {"head_dim": 32}, 3: {"head_dim": 32}},
                    "vocab_size_per_layer_input": 512, "hidden_size_per_layer_input": 16},
    "gemma4": {"text_config.per_layer_config": {3: {"head_dim": 32}}, "text_config.vocab_size_per_layer_input": 512,
               "text_config.hidden_size_per_layer_input": 16, "text_config.enable_moe_block": True,
               "text_config.num_experts": 4, "text_config.top_k_experts": 2, "text_config.moe_intermediate_size": 32},
    "gemma4_unified_text": {"attention_k_eq_v": True, "per_layer_config": {3: {"head_dim": 32, "num_key_value_heads": 1}}},
    "gemma4_unified": {"text_config.per_layer_config": {3: {"head_dim": 32}}},  # see above
    "gemma4_unified_assistant": {"text_config.per_layer_config": {3: {"head_dim": 32}},  # see above; every layer
                                 "text_config.num_kv_shared_layers": 4},  # shares K/V (the default's 30 is stale)
    "phi4_multimodal": {"vision_config.num_hidden_layers": 2},  # a 4-layer vision encoder would be a second list of 4 blocks
    "codegen": {"rotary_dim": 8},  # default 64 must fit in head_dim 16
    "ministral": {"head_dim": 16},  # default None, and the attention computes head_dim ** -0.5
    "hunyuan_v1_dense": {"head_dim": 16},  # same
    "gpt_neo": {"attention_types": [[["global", "local"], 2]], "attention_layers": ["global", "local"] * 2},  # default: 24 layers
    "nemotron": {"num_key_value_heads": 2},  # default None is not shrunk, and head counts must divide
    "cohere": {"use_qk_norm": True},  # exercise the per-head (heads x head_dim) q/k LayerNorms
    "phi": {"qk_layernorm": True},  # exercise the q/k LayerNorms
    "stablelm": {"qk_layernorm": True, "use_parallel_residual": True},  # per-head norms; parallel block
    "qwen2_vl": {"text_config.rope_parameters.mrope_section": [2, 3, 3]},  # default [16, 24, 24] needs head_dim 128
    "qwen2_5_vl": {"text_config.rope_parameters.mrope_section": [2, 3, 3]},  # same
    "qwen2_5_omni_thinker": {"text_config.rope_parameters.mrope_section": [2, 3, 3]},  # same
    "qwen2_5_omni": {"thinker_config.text_config.rope_parameters.mrope_section": [2, 3, 3]},  # same
    "paddleocr_vl": {"text_config.rope_parameters.mrope_section": [2, 3, 3]},  # same
    "glm4v": {"text_config.rope_parameters.mrope_section": [2, 3, 3]},
    "glm46v": {"text_config.rope_parameters.mrope_section": [2, 3, 3]},  # as glm4v
    "glmga": {"text_config.rope_parameters.mrope_section": [2, 3, 3]},  # as glm4v  # default [8, 12, 12]: head_dim 128, half rotary
    "glm_ocr": {"text_config.rope_parameters.mrope_section": [2, 3, 3]},  # same
    # mixtures of experts (add below)
    "sarvam_moe": {"initializer_range": 0.02},  # default 0.006: the FFN branch is too small for the reference's linearity test
    "granitemoeshared": {"shared_intermediate_size": 48},  # default 0: no shared MLP to check
    "granitemoe_swa": {"shared_intermediate_size": 48},  # same
    "glm4v_moe": {"text_config.rope_parameters.mrope_section": [1, 1, 2]},  # must sum to half the rotary dims (8)
    "ernie4_5_moe": {"moe_k": 2},  # top-k 6 of 4 experts fails
    "qwen3_vl_moe": {"text_config.moe_intermediate_size": 48},  # default 2F == d: square fused experts, orientation unreadable
    "llama4_text": {"interleave_moe_layer_step": 2, "intermediate_size_mlp": 128},  # dense layers too; dense width unshrunk
    "llama4": {"text_config.interleave_moe_layer_step": 2, "text_config.intermediate_size_mlp": 128},  # same
    "hunyuan_v1_moe": {"head_dim": 16},  # default None breaks the attention
    "dots1": {"n_routed_experts": 4, "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1},  # defaults None
    "dbrx": {"n_heads": 4, "attn_config.kv_n_heads": 2, "attn_config.rope_theta": 10000.0,  # n_heads unshrunk; attention reads rope_theta
             "attn_config.clip_qkv": 8.0},  # default None crashes its clamp (DBRX ships 8)
    # multi-head latent attention (add below)
    # MLA: qk_head_dim (nope 16 + rope 8) and head_dim (rope 8) are derived but saved, so the defaults' stay stale;
    # one kv head per head, as in every MLA checkpoint (fewer makes transformers repeat kv heads past the query's)
    "deepseek_v3": {"qk_head_dim": 24, "head_dim": 8, "num_key_value_heads": 4},  # see above
    "deepseek_v2": {"qk_head_dim": 24, "num_key_value_heads": 4, "num_experts_per_tok": 2},  # default None: no routing
    "sarvam_mla": {"qk_head_dim": 24, "head_dim": 8, "num_key_value_heads": 4,  # and its initializer_range 0.006
                   "initializer_range": 0.02},  # leaves an FFN too small for the reference's linearity test
    "mistral4": {"qk_head_dim": 24, "num_key_value_heads": 4},  # see above
    "glm4_moe_lite": {"qk_head_dim": 24, "num_key_value_heads": 4},  # see above
    "minicpm3": {"qk_head_dim": 24, "num_key_value_heads": 4},  # see above
    "longcat_flash": {"qk_head_dim": 24, "head_dim": 8, "num_key_value_heads": 4},  # see above
    "kimi_k25": {"text_config.qk_head_dim": 24, "text_config.head_dim": 8,  # see above, inside the wrapper
                 "text_config.num_key_value_heads": 4},
    "deepseek_v32": {"qk_head_dim": 24, "head_dim": 8, "num_key_value_heads": 4,  # see above; and one MLP kind
                     "mlp_layer_types": ["dense", "sparse", "sparse", "sparse"]},  # per layer (the default lists 61)
    "glm_moe_dsa": {"qk_head_dim": 24, "head_dim": 8, "num_key_value_heads": 4,  # same (the default lists 78)
                    "mlp_layer_types": ["dense", "sparse", "sparse", "sparse"]},
    "kimi_linear": {"qk_head_dim": 24, "head_dim": 8, "num_key_value_heads": 4,  # same (the default lists 27);
                    "mlp_layer_types": ["dense", "sparse", "sparse", "sparse"],  # MLA in layers 1 and 3 (the
                    "layer_types": ["linear_attention", "full_attention"] * 2,  # default, derived, has none)
                    "linear_num_heads": 4, "linear_head_dim": 16, "num_experts_per_token": 2},  # sizes not shrunk
    # encoders (add below)
    "distilbert": {"n_heads": 4, "hidden_dim": 96},  # its own names for heads and FFN width
    # hybrids (add below)
    "mamba2": {"num_heads": 8},  # heads x head_dim 16 must be expand (2) x hidden_size
    "zamba": {"layers_block_type": ["mamba", "hybrid", "mamba", "hybrid"],  # default: one shared-attention layer in 4
              "attention_hidden_size": 128},  # the shared block reads [stream; embeddings]: 2 x hidden_size
    "zamba2": {"layers_block_type": ["mamba", "hybrid", "mamba", "hybrid"],  # default: a 54-layer list
               "attention_hidden_size": 128},  # as zamba
    "nemotron_h": {"layers_block_type": ["full_attention", "moe", "full_attention", "mlp"],  # default: one attention block
                   "mamba_num_heads": 8, "mamba_head_dim": 16, "moe_shared_expert_intermediate_size": 48},  # shrink
    "olmo_hybrid": {"layer_types": ["linear_attention", "full_attention"] * 2},  # default: one attention layer in 4
    "bamba": {"mamba_n_heads": 8, "mamba_d_head": 16, "attn_layer_indices": [1, 3]},  # heads x size = 2 x hidden; default: no attention
    "jamba": {"attn_layer_period": 2, "attn_layer_offset": 1,  # default 8/4: no attention in 4 layers
              "expert_layer_period": 4, "expert_layer_offset": 1},  # attention layers with experts (1) and without (3)
    "granitemoehybrid": {"mamba_n_heads": 8, "mamba_d_head": 16,  # heads x head size = 2 x hidden_size
                         "layer_types": ["mamba", "attention", "mamba", "attention"]},  # default: all mamba
    "qwen3_5_text": {"full_attention_interval": 2},  # default 4: one attention layer in 4; two wanted
    "qwen3_5": {"text_config.full_attention_interval": 2},  # same, inside the vision-language wrapper
    "qwen3_5_moe_text": {"full_attention_interval": 2},  # same
    "qwen3_5_moe": {"text_config.full_attention_interval": 2},  # same
    "qwen3_next": {"full_attention_interval": 2},  # same
    "minicpmv4_6": {"text_config.full_attention_interval": 2},  # wraps qwen3_5_text: as qwen3_5
    "minicpmv4_7": {"text_config.full_attention_interval": 2},  # same
    "minicpm_ocr": {"text_config.full_attention_interval": 2},  # same
    "lfm2": {"layer_types": ["conv", "full_attention", "conv", "full_attention"]},  # default: all attention
    "lfm2_vl": {"text_config.layer_types": ["conv", "full_attention", "conv", "full_attention"]},  # same
    "lfm2_moe": {"layer_types": ["conv", "full_attention", "conv", "full_attention"]},  # no default: None fails
    "lfm3": {"layer_types": ["conv", "full_attention", "conv", "sliding_attention"]},  # default: one of 4
    "lfm3_vl": {"text_config.layer_types": ["conv", "full_attention", "conv", "sliding_attention"]},  # same
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


# types whose Auto mapping builds a model that transformers then cannot load back from its own save
_CLASS = {"shieldgemma2": "ShieldGemma2ForImageClassification", "mllama": "MllamaForConditionalGeneration"}


def auto_class(model_type: str) -> str:
    from transformers.models.auto import modeling_auto as ma

    if model_type in _CLASS:
        return _CLASS[model_type]
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
    cls = getattr(transformers, auto_class(model_type))
    model = (cls.from_config(cfg) if hasattr(cls, "from_config") else cls._from_config(cfg)).eval()
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


def logits(directory: str | Path, ids: torch.Tensor) -> torch.Tensor:
    """transformers' own logits for `ids`: the proof that an attack preserved the function."""
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    with torch.no_grad():
        return m(ids).logits


def assert_attack_survived(model_type: str, src: Path, attacked: Path, ids: torch.Tensor, label: str,
                           n_tokens: int, atol: float = 1e-5) -> None:
    """Same logits, ICS >= 99.9 against the original, and an unrelated seed of the type < 20."""
    import readable_fp

    torch.testing.assert_close(logits(attacked, ids), logits(src, ids), rtol=1e-4, atol=atol)
    c = readable_fp.compare(src, attacked, n_tokens=n_tokens, layers="all", progress=False)
    print(f"\n[ICS] {model_type} vs {label}: {c.ics:.4f}")
    assert c.ics >= 99.9
    other = Path(attacked).parent / f"{model_type}-unrelated"
    build(model_type, other, seed=11)
    u = readable_fp.compare(src, other, n_tokens=n_tokens, layers="all", progress=False)
    print(f"[ICS] {model_type} vs an unrelated seed: {u.ics:.2f}")
    assert u.ics < 20
