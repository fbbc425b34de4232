"""Multi-head latent attention (DeepSeek-V3): the terms survive rearrangements that MLA's own
structure allows and that leave the model's function unchanged, which a reading of the stored
matrices one by one would not.

- heads permuted: q_b_proj's and kv_b_proj's rows per head and o_proj's columns per head, together;
- the kv latent (c_kv) rotated by an orthogonal matrix, once kv_a_layernorm's gain is folded into
  kv_b_proj (an RMSNorm commutes with a rotation, not with a gain); the q latent likewise;
- experts renumbered, with the router's rows and score-correction biases moved with them.

Every stored attention matrix changes; the per-head products the adapter builds do not. Each
attacked model's logits are checked equal to the original's in transformers first.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file


import tiny_models

N_TOKENS = 128


@pytest.fixture(scope="module")
def deepseek(tmp_path_factory) -> Path:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    d = tmp_path_factory.mktemp("mla") / "deepseek_v3"
    tiny_models.build("deepseek_v3", d, seed=3)
    return d


def _orthogonal(n: int, gen: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


def _heads(W: torch.Tensor, H: int, perm: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """W with its per-head blocks of rows (dim 0) or columns (dim 1) reordered by perm."""
    if dim == 0:
        return W.reshape(H, -1, W.shape[1])[perm].reshape(W.shape)
    return W.reshape(W.shape[0], H, -1)[:, perm].reshape(W.shape)


def _rotate_latent(sd: dict, a: str, norm: str, down: str, rows: int, up: str, gen: torch.Generator) -> None:
    """Fold `norm`'s gain g into `up`'s columns, rotate the first `rows` outputs of `down` (the latent
    c) by an orthogonal R and `up`'s inputs by R^T: rms(R c) = rms(c), so the new model computes
    up diag(g) R^T R c / rms(c), the old value."""
    g = sd[a + norm + ".weight"]
    R = _orthogonal(g.shape[0], gen)
    Wd = sd[a + down + ".weight"].clone()
    Wd[:rows] = R @ Wd[:rows]
    sd[a + down + ".weight"] = Wd
    sd[a + up + ".weight"] = (sd[a + up + ".weight"] * g) @ R.T
    sd[a + norm + ".weight"] = torch.ones_like(g)


def _attack(sd: dict, cfg: dict, gen: torch.Generator) -> dict:
    out = dict(sd)
    H, r = cfg["num_attention_heads"], cfg["kv_lora_rank"]
    for i in range(cfg["num_hidden_layers"]):
        a = f"model.layers.{i}.self_attn."
        perm = torch.randperm(H, generator=gen)
        for name in ("q_b_proj", "kv_b_proj"):
            out[a + name + ".weight"] = _heads(out[a + name + ".weight"], H, perm)
        out[a + "o_proj.weight"] = _heads(out[a + "o_proj.weight"], H, perm, dim=1)
        _rotate_latent(out, a, "kv_a_layernorm", "kv_a_proj_with_mqa", r, "kv_b_proj", gen)  # k_pe rows untouched
        _rotate_latent(out, a, "q_a_layernorm", "q_a_proj", cfg["q_lora_rank"], "q_b_proj", gen)
    experts = re.compile(r"(model\.layers\.\d+\.mlp\.experts\.)(\d+)(\..*)")
    for prefix in {m.group(1) for k in sd if (m := experts.match(k))}:
        n = cfg["n_routed_experts"]
        perm = torch.randperm(n, generator=gen)  # new expert perm[e] is old expert e
        for router in ("gate.weight", "gate.e_score_correction_bias"):
            k = prefix.replace("experts.", router)
            out[k] = torch.empty_like(sd[k])
            out[k][perm] = sd[k]
        for k in sd:
            if (m := experts.match(k)) and m.group(1) == prefix:
                out[f"{prefix}{int(perm[int(m.group(2))])}{m.group(3)}"] = sd[k]
    return out


def test_mla_rearrangements_keep_logits_and_fingerprint(deepseek, tmp_path):
    cfg = json.loads((deepseek / "config.json").read_text())
    sd = load_file(str(deepseek / "model.safetensors"))
    attacked = tmp_path / "attacked"
    shutil.copytree(deepseek, attacked)
    new = _attack(sd, cfg, torch.Generator().manual_seed(0))
    save_file({k: v.contiguous() for k, v in new.items()}, str(attacked / "model.safetensors"), metadata={"format": "pt"})
    for name in ("self_attn.kv_b_proj.weight", "self_attn.q_b_proj.weight", "self_attn.o_proj.weight",
                 "mlp.gate.weight"):
        k = f"model.layers.3.{name}"
        assert (new[k] - sd[k]).abs().max() > 1e-3, k

    ids = torch.randint(2, tiny_models.VOCAB, (2, 8), generator=torch.Generator().manual_seed(5))
    tiny_models.assert_attack_survived("deepseek_v3", deepseek, attacked, ids, "heads permuted, latents rotated, "
                                       "experts renumbered", N_TOKENS, atol=1e-4)
