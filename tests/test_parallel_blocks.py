"""Parallel attention + FFN blocks (Phi: one LayerNorm with bias feeds both, partial rotary;
Cohere: the same with a bias-free LayerNorm and a gated FFN): a chain of rearrangements that keeps
the logits equal (checked in transformers) leaves the fingerprint at 100.

The chain: a residual-stream permutation (every weight reading the stream permuted by columns,
every weight writing it by rows, LayerNorm gains and biases with them), a kv-group permutation
(q, k, v rows and o columns moved a whole group at a time), and an FFN neuron permutation
(with up/down rescaling where the FFN is gated, which keeps act(gate) * up * down equal).
"""
from __future__ import annotations

import re
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file


import tiny_models

READS = re.compile(r"(embed_tokens|lm_head|q_proj|k_proj|v_proj|fc1|gate_proj|up_proj)\.weight$")
WRITES = re.compile(r"(self_attn\.dense|o_proj|fc2|down_proj)\.(weight|bias)$")
NORMS = re.compile(r"(layernorm|norm)\.(weight|bias)$")


def _blocks(order: torch.Tensor, size: int) -> torch.Tensor:
    return (order[:, None] * size + torch.arange(size)).reshape(-1)


def _attack(sd: dict, cfg, gen: torch.Generator) -> dict:
    d, H, KV = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads
    hd = d // H if getattr(cfg, "head_dim", None) is None else cfg.head_dim
    P = torch.randperm(d, generator=gen)
    out = {}
    for k, v in sd.items():
        if READS.search(k):
            v = v[:, P]
        elif WRITES.search(k):
            v = v[P] if v.dim() == 1 else v[P, :]
        elif NORMS.search(k) and v.shape == (d,):
            v = v[P]
        out[k] = v
    layers = sorted({m.group(1) for k in out if (m := re.match(r"(.*\.layers\.\d+\.)", k))})
    for p in layers:
        g = torch.randperm(KV, generator=gen)
        q_rows, kv_rows = _blocks(g, H // KV * hd), _blocks(g, hd)
        a = p + "self_attn."
        out[a + "q_proj.weight"] = out[a + "q_proj.weight"][q_rows]
        for n in ("k_proj", "v_proj"):
            out[a + n + ".weight"] = out[a + n + ".weight"][kv_rows]
        for n in ("q_proj", "k_proj", "v_proj"):
            if a + n + ".bias" in out:
                out[a + n + ".bias"] = out[a + n + ".bias"][q_rows if n == "q_proj" else kv_rows]
        o = a + ("dense.weight" if a + "dense.weight" in out else "o_proj.weight")
        out[o] = out[o][:, q_rows]
        gated = p + "mlp.gate_proj.weight" in out
        up, down = (p + "mlp.up_proj.weight", p + "mlp.down_proj.weight") if gated else \
                   (p + "mlp.fc1.weight", p + "mlp.fc2.weight")
        F = out[up].shape[0]
        n = torch.randperm(F, generator=gen)
        c = torch.rand(F, generator=gen) + 0.5 if gated else torch.ones(F)
        out[up] = out[up][n] * c[:, None]
        out[down] = out[down][:, n] / c[None, :]
        if gated:
            out[p + "mlp.gate_proj.weight"] = out[p + "mlp.gate_proj.weight"][n]
        elif p + "mlp.fc1.bias" in out:
            out[p + "mlp.fc1.bias"] = out[p + "mlp.fc1.bias"][n]
    return out


@pytest.mark.parametrize("model_type", ["phi", "cohere"])
def test_parallel_block_attacks_keep_the_fingerprint(model_type, tmp_path):
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    src = tmp_path / model_type
    model = tiny_models.build(model_type, src, seed=2)
    sd = load_file(str(src / "model.safetensors"))
    dst = tmp_path / "attacked"
    shutil.copytree(src, dst)
    save_file({k: v.contiguous() for k, v in _attack(sd, model.config, torch.Generator().manual_seed(0)).items()},
              str(dst / "model.safetensors"), metadata={"format": "pt"})
    ids = torch.randint(2, tiny_models.VOCAB, (2, 10), generator=torch.Generator().manual_seed(1))
    tiny_models.assert_attack_survived(model_type, src, dst, ids, "its residual/kv-group/FFN-permuted copy", 256)
