"""GGUF checkpoints converted by llama.cpp: one naming scheme for every family
(`token_embd`, `blk.N.attn_q`, `blk.N.ffn_up`, ...), so one adapter with a few quirks:
- llama (also Mistral, converted as llama): the converter permuted the rows of q and k per
  head for its RoPE layout; undone here (with the kv head count for k), so the tensors are
  Hugging Face's again.
- gemma*: norm gains are already stored as 1 + weight, so they are used as they are.
- gemma2/3: `post_attention_norm` / `post_ffw_norm` are output post-norms, `ffn_norm` reads
  the stream for the FFN; gemma3 and qwen3 have per-head `attn_q_norm` / `attn_k_norm`.
- phi3: fused `attn_qkv`, and `ffn_up` holds [gate; up].
"""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("gguf:llama", "gguf:mistral", "gguf:qwen2", "gguf:qwen3", "gguf:gemma", "gguf:gemma2",
            "gguf:gemma3", "gguf:phi3")
EMBEDDING = "token_embd.weight"
LAYER = "blk.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def _unpermute(w, n_head):
    out = w.shape[0]
    return w.reshape(n_head, out // n_head // 2, 2, -1).swapaxes(1, 2).reshape(w.shape)


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads")
    kv = first(cfg, "num_key_value_heads", "num_attention_heads")
    d = first(cfg, "hidden_size")
    hd = cfg.get("head_dim") or d // h

    def opt(name):
        return get(p + name + ".weight") if get.has(p + name + ".weight") else None

    if get.has(p + "attn_qkv.weight"):
        q, k, v = get(p + "attn_qkv.weight").split([h * hd, kv * hd, kv * hd], dim=0)
    else:
        q, k, v = get(p + "attn_q.weight"), get(p + "attn_k.weight"), get(p + "attn_v.weight")
    if cfg["gguf_arch"] in ("llama", "mistral"):
        q, k = _unpermute(q, h), _unpermute(k, kv)
    up, down = get(p + "ffn_up.weight"), get(p + "ffn_down.weight")
    if not get.has(p + "ffn_gate.weight") and up.shape[0] == 2 * down.shape[1]:
        up = up[up.shape[0] // 2:]
    return Layer(q=q, k=k, v=v, o=get(p + "attn_output.weight"), up=up, down=down,
                 n_heads=h, n_kv=kv, attn_gain=opt("attn_norm"), ffn_gain=opt("ffn_norm"),
                 q_gain=opt("attn_q_norm"), k_gain=opt("attn_k_norm"),
                 o_gain=opt("post_attention_norm"), down_gain=opt("post_ffw_norm"))
