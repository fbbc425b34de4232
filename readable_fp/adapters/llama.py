"""Llama-style decoders: llama, mistral, qwen2, qwen3, gemma 1-3, Granite, SmolLM3, Helium, Ministral, Seed-OSS, Arcee, VaultGemma, InternLM3, Apertus (1 and 1.5 text), EXAONE 4, ERNIE 4.5, Qwen2/2.5/3-VL and Qwen2.5-Omni text, GLM-4V/GLM-OCR text, PaddleOCR-VL text, nanochat, Jais 2, CWM, HyperCLOVA X, IQuest-Coder, Hunyuan dense, Llama 3.2 Vision text.

Names: `layers.N.self_attn.{q,k,v,o}_proj`, `layers.N.mlp.{gate,up,down}_proj`, RMSNorm gains
`input_layernorm` (before attention) and, for the FFN, `post_attention_layernorm`.
Quirks (none changes the block the terms read; see `_NORMS` for where each family keeps its norms):
- Gemma's (and VaultGemma's) RMSNorm multiplies by (1 + weight), so the stored weight is gain - 1.
- Post-norms on the attention / FFN outputs: Gemma 2/3 (`post_attention_layernorm` is then the
  attention *output* norm and `pre_feedforward_layernorm` reads the stream for the FFN),
  HyperCLOVA X (`post_norm1/2`), GLM-4V (`post_self_attn/post_mlp_layernorm`); EXAONE 4 has
  post-norms only, so its attention and FFN read the raw stream.
- Qwen3, Gemma 3, Apertus, EXAONE 4, Qwen3-VL normalise q and k per head (`q_norm`, `k_norm`);
  nanochat's norms (q/k included) have no weights at all. Hunyuan names them `query_layernorm` /
  `key_layernorm` and applies them after the rotary embedding, which the terms leave out.
- FFNs without a gate (Arcee, Apertus, Jais 2: relu^2 / xIELU / gelu on `up_proj`; nanochat
  `fc1/fc2`) are read the same way: up is the matrix that reads the stream. GLM-4V fuses
  gate and up into `gate_up_proj`, gate first (its forward chunks it in two halves).
- Left out by the terms, so nothing to undo: Granite's and HyperCLOVA X's scalar multipliers
  (embedding, attention, residual, logits), attention sinks (Granite SWA), sliding windows,
  NoPE layers (SmolLM3), partial or multimodal rotary (Qwen-VL mrope), biases (Jais 2's LayerNorms).
- Llama 3.2 Vision (mllama) interleaves cross-attention layers (`cross_attention_layers`), whose
  queries read text and keys read the image: they have no token-to-token term and are skipped
  like a hybrid's non-attention layers; its embedding has 8 extra rows (image tokens).
- Multimodal wrappers nest the text model (config `text_config`, type `*_text`; tensors under
  `model.language_model.`, `thinker.model.`, ...); the root is found from the names.
"""
from __future__ import annotations

from . import Layer
from ._parts import gains, self_attn

FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "vaultgemma",
            "granite", "granite_swa", "smollm3", "helium", "ministral", "ministral3", "seed_oss", "arcee",
            "internlm3", "apertus", "exaone4", "ernie4_5", "qwen2_vl_text", "qwen2_5_vl_text", "qwen3_vl_text",
            "qwen2_5_omni_text", "glm4v_text", "glm_ocr_text", "paddleocr_vl_text", "nanochat", "jais2", "cwm",
            "hyperclovax", "iquestcoder", "hunyuan_v1_dense", "apertus1p5_text", "mllama_text_model")
# Llama 3.2 Vision (mllama): its embedding holds 8 rows beyond vocab_size (image tokens)
EXTRA_ROWS = {"mllama_text_model": 8}
_PLUS_ONE = ("gemma", "gemma2", "gemma3_text", "vaultgemma")
# family -> norms (attention input, FFN input, attention output, FFN output); others: _LLAMA
_LLAMA = ("input_layernorm", "post_attention_layernorm", None, None)
_GEMMA2 = ("input_layernorm", "pre_feedforward_layernorm", "post_attention_layernorm", "post_feedforward_layernorm")
_GLM4V = ("input_layernorm", "post_attention_layernorm", "post_self_attn_layernorm", "post_mlp_layernorm")
_NORMS = {"gemma2": _GEMMA2, "gemma3_text": _GEMMA2, "glm4v_text": _GLM4V, "glm_ocr_text": _GLM4V,
          "vaultgemma": ("input_layernorm", "pre_feedforward_layernorm", None, None),
          "hyperclovax": ("input_layernorm", "post_attention_layernorm", "post_norm1", "post_norm2"),
          "exaone4": (None, None, "post_attention_layernorm", "post_feedforward_layernorm"),
          "apertus": ("attention_layernorm", "feedforward_layernorm", None, None),
          "apertus1p5_text": ("attention_layernorm", "feedforward_layernorm", None, None)}
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def attention_layers(cfg, n):
    """mllama interleaves cross-attention layers (text queries, image keys): no token-to-token term."""
    cross = set(cfg.get("cross_attention_layers") or ()) if cfg["model_type"] == "mllama_text_model" else set()
    return [i for i in range(n) if i not in cross]


def _ffn(get, p: str):
    """(up, down) of the FFN: plain `up_proj`, nanochat's `fc1`, or the up half of a fused `gate_up_proj`."""
    m = p + "mlp."
    if get.has(m + "fc1.weight"):
        return get(m + "fc1.weight"), get(m + "fc2.weight")
    if get.has(m + "gate_up_proj.weight"):
        gate_up = get(m + "gate_up_proj.weight")
        return gate_up[gate_up.shape[0] // 2:], get(m + "down_proj.weight")
    return get(m + "up_proj.weight"), get(m + "down_proj.weight")


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    mt = cfg["model_type"]
    gain = gains(get, p, plus_one=mt in _PLUS_ONE)
    attn, ffn, o, down = (gain(n) if n else None for n in _NORMS.get(mt, _LLAMA))
    up, down_w = _ffn(get, p)
    qkv = self_attn(cfg, get, p, gain)
    if mt == "hunyuan_v1_dense":
        qkv.update(q_gain=gain("self_attn.query_layernorm"), k_gain=gain("self_attn.key_layernorm"))
    return Layer(**qkv, up=up, down=down_w,
                 attn_gain=attn, ffn_gain=ffn, o_gain=o, down_gain=down)
