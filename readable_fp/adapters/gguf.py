"""GGUF checkpoints converted by llama.cpp (llama and Mixtral-as-llama, qwen2/3 and their MoEs, gpt-oss,
deepseek2, olmo2, phi2, phi3, starcoder2, gemma 1-3): one naming scheme, one adapter with a few quirks.

llama.cpp names every family alike (`token_embd`, `blk.N.attn_q`, `blk.N.ffn_up`, ...); what differs:
- llama (also Mistral and Mixtral, converted as llama): the converter permuted the rows of q and k
  per head for its RoPE layout; undone here (with the kv head count for k), so the tensors are
  Hugging Face's again. The other archs here are written unpermuted.
- experts are stacked into 3-D `ffn_{gate,up,down}_exps` (expert first), or with gate and up fused
  as `ffn_gate_up_exps` = [gate; up] per expert; shared experts are `ffn_{up,down}_shexp`. Read one
  expert at a time. gpt-oss's interleaved gate_up was split by the converter, so it is plain here.
- norms: `post_attention_norm` / `post_ffw_norm` are output post-norms (gemma2/3, olmo2), except in
  gpt-oss, whose `post_attention_norm` is HF's post_attention_layernorm, the FFN's input norm.
  phi2's FFN runs in parallel with attention on the same `attn_norm`. gemma norm gains are stored
  as 1 + weight already. `attn_q_norm` / `attn_k_norm` are per head (qwen3, gemma3), or over all
  of q / k at once (olmo2), and are folded in accordingly.
- phi3: fused `attn_qkv`, and `ffn_up` holds [gate; up].
- deepseek2 (multi-head latent attention): q = q_b(q_a_norm(q_a x)) (or attn_q), and per head
  k = [k_b(kv_a_norm(c)); k_rope], v = v_b(kv_a_norm(c)) with [c; k_rope] = kv_a_mqa x, the rope
  part shared by all heads. `attn_kv_b` (older converters) holds [k_b; v_b] per head; newer ones
  split it into `attn_k_b` (stored transposed, rank x nope) and `attn_v_b`. The low-rank paths and
  the norms between them are multiplied out into full q, k, v, one kv head per query head.
"""
from __future__ import annotations

import torch

from . import Layer, first
from ..errors import FingerprintError

FAMILIES = ("gguf:llama", "gguf:mistral", "gguf:qwen2", "gguf:qwen3", "gguf:qwen2moe", "gguf:qwen3moe",
            "gguf:gpt-oss", "gguf:deepseek2", "gguf:olmo2", "gguf:phi2", "gguf:starcoder2", "gguf:gemma",
            "gguf:gemma2", "gguf:gemma3", "gguf:phi3")
EMBEDDING = "token_embd.weight"
LAYER = "blk.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins

_PERMUTED = ("llama", "mistral")


def _unpermute(w, n_head):
    out = w.shape[0]
    return w.reshape(n_head, out // n_head // 2, 2, -1).swapaxes(1, 2).reshape(w.shape)


def _hp(cfg, key, i):
    """A hyper-parameter of layer i: some archs store per-layer lists."""
    v = cfg.get("gguf_hp", {}).get(key)
    return v[i] if isinstance(v, list) else v


def _fold(w, g, n):
    """(w, per-head gain): a norm over all of q (or k) at once is folded into its rows here."""
    if g is not None and g.numel() == w.shape[0] and g.numel() != w.shape[0] // n:
        return w * g[:, None], None
    return w, g


def _attention(cfg, i, get, p, opt):
    h = first(cfg, "num_attention_heads")
    kv = _hp(cfg, "attention.head_count_kv", i) or h
    d = first(cfg, "hidden_size")
    hd = cfg.get("head_dim") or d // h
    if get.has(p + "attn_qkv.weight"):
        q, k, v = get(p + "attn_qkv.weight").split([h * hd, kv * hd, kv * hd], dim=0)
    else:
        q, k, v = get(p + "attn_q.weight"), get(p + "attn_k.weight"), get(p + "attn_v.weight")
    if cfg["gguf_arch"] in _PERMUTED:
        q, k = _unpermute(q, h), _unpermute(k, kv)
    q, qg = _fold(q, opt("attn_q_norm"), h)
    k, kg = _fold(k, opt("attn_k_norm"), kv)
    return dict(q=q, k=k, v=v, n_heads=h, n_kv=kv, q_gain=qg, k_gain=kg)


def _mla(cfg, i, get, p, opt):
    h = first(cfg, "num_attention_heads")
    rope = _hp(cfg, "rope.dimension_count", i)
    if not isinstance(rope, int) or rope < 0:
        raise FingerprintError(f"{p}: deepseek2 GGUF without {cfg['gguf_arch']}.rope.dimension_count; "
                               "cannot tell the latent from the rope part of attn_kv_a_mqa")
    kv_a = get(p + "attn_kv_a_mqa.weight")
    r = kv_a.shape[0] - rope
    if get.has(p + "attn_q_a.weight"):
        qa, qg = get(p + "attn_q_a.weight"), opt("attn_q_a_norm")
        q = get(p + "attn_q_b.weight") @ (qa if qg is None else qa * qg[:, None])
    else:
        q = get(p + "attn_q.weight")
    qd = q.shape[0] // h
    nope = qd - rope
    if get.has(p + "attn_kv_b.weight"):
        kv_b = get(p + "attn_kv_b.weight")
        kv_b = kv_b.reshape(h, kv_b.shape[0] // h, r)
        k_b, v_b = kv_b[:, :nope], kv_b[:, nope:]
    else:
        k_b, v_b = get(p + "attn_k_b.weight").transpose(1, 2), get(p + "attn_v_b.weight")
    want = _hp(cfg, "attention.key_length_mla", i)
    if q.shape[0] % h or nope < 1 or tuple(k_b.shape) != (h, nope, r) or v_b.shape[::2] != (h, r) or \
            (want is not None and want != qd):
        raise FingerprintError(f"{p}: deepseek2 attention shapes do not fit {h} heads, rope {rope}: q "
                               f"{tuple(q.shape)}, kv_a {tuple(kv_a.shape)}, k_b {tuple(k_b.shape)}, v_b {tuple(v_b.shape)}")
    g = opt("attn_kv_a_norm")
    c = kv_a[:r] if g is None else kv_a[:r] * g[:, None]
    k = torch.cat([k_b @ c, kv_a[r:].expand(h, rope, -1)], dim=1)
    return dict(q=q, k=k.reshape(h * qd, -1), v=(v_b @ c).reshape(-1, c.shape[1]), n_heads=h, n_kv=h)


def _ffn(cfg, get, p):
    if get.has(p + "ffn_down_exps.weight"):
        return _experts(get, p)
    up, down = get(p + "ffn_up.weight"), get(p + "ffn_down.weight")
    if cfg["gguf_arch"] == "phi3" and not get.has(p + "ffn_gate.weight") and up.shape[0] == 2 * down.shape[1]:
        up = up[up.shape[0] // 2:]
    return dict(up=up, down=down)


def _experts(get, p):
    fused = get.has(p + "ffn_gate_up_exps.weight")
    up_name = p + ("ffn_gate_up_exps.weight" if fused else "ffn_up_exps.weight")
    down_name = p + "ffn_down_exps.weight"
    n = get.shape(down_name)[0]
    if len(get.shape(up_name)) != 3 or get.shape(up_name)[0] != n:
        raise FingerprintError(f"{p}: expert stacks {up_name} {get.shape(up_name)} and {down_name} "
                               f"{get.shape(down_name)} do not hold the same experts")
    shared = get.has(p + "ffn_down_shexp.weight")

    def each():
        for e in range(n):
            up = get.rows(up_name, [e])[0]
            yield (up[up.shape[0] // 2:] if fused else up), get.rows(down_name, [e])[0]
        if shared:
            yield get(p + "ffn_up_shexp.weight"), get(p + "ffn_down_shexp.weight")
    return dict(up=None, down=None, experts=each, n_experts=n + shared)


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    arch = cfg["gguf_arch"]

    def opt(name):
        return get(p + name + ".weight") if get.has(p + name + ".weight") else None

    mla = get.has(p + "attn_kv_a_mqa.weight")
    parts = (_mla if mla else _attention)(cfg, i, get, p, opt)
    parts.update(_ffn(cfg, get, p))
    attn_gain, ffn_gain, o_gain = opt("attn_norm"), opt("ffn_norm"), opt("post_attention_norm")
    if arch == "gpt-oss":  # its post_attention_norm is the FFN's input norm
        ffn_gain, o_gain = o_gain, None
    elif arch == "phi2":  # attention and FFN read the same normalised stream
        ffn_gain = attn_gain
    return Layer(o=get(p + "attn_output.weight"), attn_gain=attn_gain, ffn_gain=ffn_gain,
                 o_gain=o_gain, down_gain=opt("post_ffw_norm"), **parts)
