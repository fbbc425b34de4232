"""Width and depth pruning of a Llama-layout model directory, by weight magnitude.

Pruning is not function-preserving: it is what people do to make a smaller model from a big one
(Llama-3.2-1B from Llama-3.1-8B, Minitron, ...), usually followed by a healing fine-tune. The
published method's weakest pairs were of this kind (method.md section 6). These edits are plain
and unhealed, so they are harder than the real thing, not easier.

- `prune_ffn`: in every layer keep the FFN neurons j with the largest ||gate_j|| ||up_j|| ||down_:,j||.
- `prune_hidden`: keep the residual channels c with the largest embedding-column norm times the
  mean input-norm gain (as many as leaves a multiple of the head count, which transformers
  requires of hidden_size); every weight reading the stream loses those columns, every weight
  writing it loses those rows, norm gains lose those entries (the RMS is then taken over fewer
  channels, which the model was not trained for: an unhealed prune).
- `drop_layer`: remove one decoder layer and renumber the rest.
"""
from __future__ import annotations

import re

import torch

from readable_fp.attacks import ModelState

_LAYER = re.compile(r"^(.*\blayers\.)(\d+)(\..*)$")


def _layers(sd: dict) -> list[int]:
    return sorted({int(m.group(2)) for k in sd if (m := _LAYER.match(k))})


def _key(sd: dict, i: int, suffix: str) -> str:
    hits = [k for k in sd if (m := _LAYER.match(k)) and int(m.group(2)) == i and m.group(3) == "." + suffix]
    assert len(hits) == 1, (i, suffix, hits)
    return hits[0]


def _keep(score: torch.Tensor, fraction: float, multiple: int = 1) -> torch.Tensor:
    n_keep = int((1 - fraction) * score.numel()) // multiple * multiple
    return torch.sort(torch.topk(score.double(), n_keep).indices).values


def prune_ffn(state: ModelState, fraction: float) -> ModelState:
    sd = dict(state.tensors)
    for i in _layers(sd):
        g, u, d = (_key(sd, i, f"mlp.{m}_proj.weight") for m in ("gate", "up", "down"))
        score = sd[g].double().norm(dim=1) * sd[u].double().norm(dim=1) * sd[d].double().norm(dim=0)
        keep = _keep(score, fraction)
        sd[g], sd[u], sd[d] = sd[g][keep].clone(), sd[u][keep].clone(), sd[d][:, keep].clone()
        n = keep.numel()
    cfg = {**state.config, "intermediate_size": n}
    return ModelState(sd, cfg, state.tokenizer, state.side)


_READERS = ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
            "mlp.gate_proj.weight", "mlp.up_proj.weight")
_WRITERS = ("self_attn.o_proj.weight", "mlp.down_proj.weight")
_GAINS = ("input_layernorm.weight", "post_attention_layernorm.weight")


def prune_hidden(state: ModelState, fraction: float) -> ModelState:
    sd = dict(state.tensors)
    emb = next(k for k in sd if k.endswith("embed_tokens.weight"))
    layers = _layers(sd)
    gain = torch.stack([sd[_key(sd, i, "input_layernorm.weight")].double().abs() for i in layers]).mean(0)
    keep = _keep(sd[emb].double().norm(dim=0) * gain, fraction, state.config["num_attention_heads"])
    sd[emb] = sd[emb][:, keep].clone()
    for k in [k for k in sd if k.endswith("lm_head.weight")]:
        sd[k] = sd[k][:, keep].clone()
    for k in [k for k in sd if k.endswith("norm.weight") and not _LAYER.match(k)]:  # the final norm
        sd[k] = sd[k][keep].clone()
    for i in layers:
        for s in _READERS:
            sd[_key(sd, i, s)] = sd[_key(sd, i, s)][:, keep].clone()
        for s in _WRITERS:
            sd[_key(sd, i, s)] = sd[_key(sd, i, s)][keep].clone()
        for s in _GAINS:
            sd[_key(sd, i, s)] = sd[_key(sd, i, s)][keep].clone()
    cfg = dict(state.config)
    # head_dim must stay what it was: without it transformers would derive hidden_size / heads
    cfg["head_dim"] = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    cfg["hidden_size"] = keep.numel()
    return ModelState(sd, cfg, state.tokenizer, state.side)


def drop_layer(state: ModelState, index: int) -> ModelState:
    sd: dict = {}
    layers = _layers(state.tensors)
    index = layers[index]  # negative counts from the end
    for k, v in state.tensors.items():
        m = _LAYER.match(k)
        if m is None:
            sd[k] = v
        elif int(m.group(2)) != index:
            j = int(m.group(2))
            sd[f"{m.group(1)}{j - 1 if j > index else j}{m.group(3)}"] = v
    cfg = {**state.config, "num_hidden_layers": len(layers) - 1}
    if isinstance(cfg.get("layer_types"), list):
        cfg["layer_types"] = [t for j, t in enumerate(cfg["layer_types"]) if j != index]
    return ModelState(sd, cfg, state.tokenizer, state.side)
