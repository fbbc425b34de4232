"""NVIDIA Nemotron-H hybrids (Mamba-2, attention, MLP and MoE blocks): nemotron_h.

Each block holds one mixer (`layers.N.mixer`) behind one norm (`layers.N.norm`); the config's
`layers_block_type` (legacy `hybrid_override_pattern`) says which. Attention blocks have terms;
Mamba-2 blocks, recurrences with nothing that pairs two tokens, do not.
Quirks:
- An attention block has no FFN of its own: its FFN term is read from the MLP or MoE block
  right after it (in NVIDIA's patterns attention is always followed by one); an attention
  block followed by anything else is refused.
- The MLP and experts are not gated (squared ReLU): `up_proj` and `down_proj` only. Experts are
  stored one module each or fused 3-D (`mixer.experts.up_proj` E x F x d). With a latent MoE
  (`fc1_latent_proj` / `fc2_latent_proj`) the routed experts work in the latent width, so each
  is read through the projections (up @ fc1, fc2 @ down); the shared expert works at full width.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first
from ._moe import check_count, expert_list, fused, shared_ffn, with_shared
from ._parts import gains, layers_of_kind, self_attn

FAMILIES = ("nemotron_h",)
EMBEDDING = "embeddings.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)
_FFN = ("mlp", "moe")


def attention_layers(cfg, n):
    return layers_of_kind(cfg, n, "layers_block_type", ("full_attention",), ("linear_attention",) + _FFN)


def layer(cfg, i, get):
    p, f = LAYER.format(i=i), LAYER.format(i=i + 1)
    kinds = cfg["layers_block_type"]
    if i + 1 >= len(kinds) or kinds[i + 1] not in _FFN:
        raise FingerprintError(f"attention block {i} is not followed by an MLP or MoE block, whose FFN its terms would use")
    gain, fgain = gains(get, p), gains(get, f)
    ffn = _moe(cfg, get, f + "mixer.") if kinds[i + 1] == "moe" else \
        dict(up=get(f + "mixer.up_proj.weight"), down=get(f + "mixer.down_proj.weight"))
    return Layer(**self_attn(cfg, get, p, gain, prefix="mixer."), **ffn, attn_gain=gain("norm"), ffn_gain=fgain("norm"))


def _moe(cfg, get, m):
    """Routed experts, read through the latent projections where there are some (their width is the
    latent one), then the shared expert, at full width."""
    e, s, where = m + "experts.", m + "shared_experts.", m.rstrip(".")
    latent = get.has(m + "fc1_latent_proj.weight")
    if get.has(e + "up_proj"):
        d = get.shape(m + "fc1_latent_proj.weight")[0] if latent else first(cfg, "hidden_size")
        routed, n = fused(get, e + "up_proj", e + "down_proj", d, where, orient="out_in", gated=False)
    else:
        routed, n = expert_list(get, e)
    check_count(cfg, n, where, ("n_routed_experts",))

    def each():
        fc1, fc2 = (get(m + "fc1_latent_proj.weight"), get(m + "fc2_latent_proj.weight")) if latent else (None, None)
        for up, down in routed():
            yield (up @ fc1, fc2 @ down) if latent else (up, down)
    each, n = with_shared(each, n, [shared_ffn(get, s)] if get.has(s + "up_proj.weight") else [])
    return dict(up=None, down=None, experts=each, n_experts=n)
