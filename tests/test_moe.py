"""Mixtures of experts: the FFN term survives permuting the experts (with the router's rows),
and an MoE upcycled from a dense model (experts initialised as copies of its FFN, as Mixtral
was from Mistral) compares as the same base as that dense model.

Each attacked model's logits are checked equal to the original's in transformers first.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import readable_fp

import tiny_models

N_TOKENS = 256
_EXPERT = re.compile(r"(.*\.block_sparse_moe\.experts\.)(\d+)(\..*)")


def _copy_with(src: Path, dst: Path, sd: dict) -> Path:
    shutil.copytree(src, dst)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


@pytest.fixture(scope="module")
def mixtral(tmp_path_factory) -> Path:
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    d = tmp_path_factory.mktemp("moe") / "mixtral"
    tiny_models.build("mixtral", d, seed=3)
    return d


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    return torch.randint(2, tiny_models.VOCAB, (2, 10), generator=torch.Generator().manual_seed(5))


def _permute_experts(sd: dict, gen: torch.Generator) -> dict:
    """Experts renumbered by a random permutation per layer, router rows moved with them, and
    inside each expert its neurons permuted and rescaled (w1, w3 rows by c, w2 columns by 1/c
    would not preserve SiLU(w1 x): only w3 (up) and w2 (down) are rescaled)."""
    out = dict(sd)
    layers = {m.group(1) for k in sd if (m := _EXPERT.match(k))}
    for prefix in layers:
        n = 1 + max(int(m.group(2)) for k in sd if (m := _EXPERT.match(k)) and m.group(1) == prefix)
        perm = torch.randperm(n, generator=gen)  # new expert perm[e] is old expert e
        gate = prefix.replace("experts.", "gate.weight")
        out[gate] = torch.empty_like(sd[gate])
        out[gate][perm] = sd[gate]
        for e in range(n):
            w1, w2, w3 = (sd[f"{prefix}{e}.{w}.weight"] for w in ("w1", "w2", "w3"))
            p = torch.randperm(w1.shape[0], generator=gen)
            c = torch.rand(w1.shape[0], generator=gen) + 0.5
            new = int(perm[e])
            out[f"{prefix}{new}.w1.weight"] = w1[p]
            out[f"{prefix}{new}.w3.weight"] = w3[p] * c[:, None]
            out[f"{prefix}{new}.w2.weight"] = w2[:, p] / c[None, :]
    return out


def test_expert_permutation_keeps_logits_and_fingerprint(mixtral, ids, tmp_path):
    sd = load_file(str(mixtral / "model.safetensors"))
    attacked = _copy_with(mixtral, tmp_path / "permuted", _permute_experts(sd, torch.Generator().manual_seed(0)))
    assert not torch.equal(load_file(str(attacked / "model.safetensors"))[
        "model.layers.0.block_sparse_moe.gate.weight"], sd["model.layers.0.block_sparse_moe.gate.weight"])
    tiny_models.assert_attack_survived("mixtral", mixtral, attacked, ids, "its expert-permuted copy", N_TOKENS)


def _upcycle(dense: Path, dst: Path, noise: float, gen: torch.Generator) -> Path:
    """A Mixtral whose experts start as copies of the dense model's FFN, each moved a little
    (as expert training moves them apart), with a fresh router; everything else is the dense model's."""
    cfg = json.loads((dense / "config.json").read_text())
    cfg.update(model_type="mixtral", architectures=["MixtralForCausalLM"], num_local_experts=4, num_experts_per_tok=2)
    sd = load_file(str(dense / "model.safetensors"))
    out = {}
    for k, v in sd.items():
        m = re.match(r"(.*\.layers\.\d+\.)mlp\.(gate|up|down)_proj\.weight", k)
        if not m:
            out[k] = v
            continue
        w = {"gate": "w1", "up": "w3", "down": "w2"}[m.group(2)]
        for e in range(4):
            out[f"{m.group(1)}block_sparse_moe.experts.{e}.{w}.weight"] = v + noise * v.std() * torch.randn(v.shape, generator=gen)
        out[f"{m.group(1)}block_sparse_moe.gate.weight"] = 0.02 * torch.randn(4, cfg["hidden_size"], generator=gen)
    dst.mkdir()
    (dst / "config.json").write_text(json.dumps(cfg))
    shutil.copy(dense / "tokenizer.json", dst)
    save_file(out, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


def test_upcycled_moe_is_the_same_base_as_its_dense_model(tmp_path, ids):
    dense = tmp_path / "mistral"
    tiny_models.build("mistral", dense, seed=4)
    moe = _upcycle(dense, tmp_path / "upcycled", noise=0.3, gen=torch.Generator().manual_seed(1))
    tiny_models.logits(moe, ids)  # transformers loads it as a Mixtral
    c = readable_fp.compare(dense, moe, n_tokens=N_TOKENS, progress=False)
    print(f"\n[ICS] mistral vs a Mixtral upcycled from it (experts = its FFN + 30% noise): {c.ics:.2f} "
          f"({' '.join(f'{t.term}@{t.layer_a}={t.ics:.1f}' for t in c.terms)}); verdict {c.verdict}")
    assert c.verdict == "same base"
    other = tmp_path / "other"
    tiny_models.build("mistral", other, seed=9)
    u = readable_fp.compare(other, moe, n_tokens=N_TOKENS, progress=False)
    print(f"[ICS] an unrelated mistral vs the upcycled Mixtral: {u.ics:.2f}; verdict {u.verdict}")
    assert u.verdict != "same base"
