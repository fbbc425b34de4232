"""Function-preserving attacks (readable_fp.attacks): each is proven real by comparing the
logits of the original and attacked models in transformers, then the fingerprint must not move.

Run with `pytest -s` to see the ICS and per-term values of every attack.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import readable_fp
from readable_fp import attacks
from readable_fp.adapters import llama as llama_adapter
from tests.helpers import LLAMA_TINY, save_tiny

VOCAB = 512


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Tiny GQA llama (8 heads, 2 kv groups), untied, float32, with random norm gains so that
    folding matters, and weights large enough that attention and FFN shape the logits."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    d = tmp_path_factory.mktemp("attacks") / "base"
    model = save_tiny("llama", d, vocab_size=VOCAB, initializer_range=0.1, dtype="float32", **LLAMA_TINY)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("norm.weight"):
                p.copy_(torch.exp(0.6 * torch.randn(p.shape, generator=g)))
    model.save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def input_ids() -> torch.Tensor:
    return torch.randint(2, VOCAB, (2, 12), generator=torch.Generator().manual_seed(7))


_CACHE: dict = {}


def _logits(directory: Path, ids: torch.Tensor) -> torch.Tensor:
    key = (str(directory), tuple(ids.flatten().tolist()))
    if key not in _CACHE:
        _CACHE[key] = _run(directory, ids)
    return _CACHE[key]


def _run(directory: Path, ids: torch.Tensor) -> torch.Tensor:
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    m = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
    with torch.no_grad():
        return m(ids).logits.double()


def _token_ids(directory: Path) -> dict[str, int]:
    tj = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8"))
    ids = dict(tj["model"]["vocab"])
    ids.update({a["content"]: a["id"] for a in tj["added_tokens"]})
    return ids


def _id_map(orig: Path, attacked: Path) -> torch.Tensor:
    """new id of every old id, through the token strings of both tokenizer.json files."""
    old, new = _token_ids(orig), _token_ids(attacked)
    m = torch.empty(VOCAB, dtype=torch.long)
    for tok, i in old.items():
        m[i] = new[tok]
    return m


def _check_tokenizer(orig: Path, attacked: Path) -> None:
    """The rewritten tokenizer.json loads in `tokenizers` and maps every old string consistently."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(attacked / "tokenizer.json"))
    new = _token_ids(attacked)
    for s in list(_token_ids(orig))[:: 37]:
        assert tok.token_to_id(s) == new[s] and tok.id_to_token(new[s]) == s


def _assert_same_function(orig: Path, attacked: Path, ids: torch.Tensor, rtol: float = 1e-4) -> float:
    """The attacked model computes the original's logits (old ids mapped through the tokenizers;
    columns of appended tokens ignored). Returns the largest relative deviation."""
    m = _id_map(orig, attacked)
    a = _logits(orig, ids)
    b = _logits(attacked, m[ids])[..., m]
    scale = float(a.abs().max())
    dev = float((a - b).abs().max()) / scale
    assert torch.allclose(a, b, rtol=rtol, atol=rtol * scale), f"logits differ: max relative deviation {dev:.2e}"
    return dev


def _weights_moved(orig: Path, attacked: Path) -> float:
    """Relative change of the raw parameter vector (shared tensor names, common rows): a real
    attack moves it far, so raw-weight cosine fingerprints would fail."""
    from safetensors.torch import load_file

    a, b = load_file(str(orig / "model.safetensors")), load_file(str(attacked / "model.safetensors"))
    num = den = 0.0
    for k, x in a.items():
        y = b[k][: x.shape[0]].float()
        num += float((x.float() - y).pow(2).sum())
        den += float(x.float().pow(2).sum())
    return (num / den) ** 0.5


def _ics(orig: Path, attacked: Path, label: str) -> float:
    c = readable_fp.compare(orig, attacked, n_tokens=256, progress=False)
    per = "  ".join(f"{t.term}@{t.layer_a}={t.ics:.5f}" for t in c.terms)
    print(f"\n[{label}] ICS {c.ics:.5f} ({c.n_tokens} probes)  {per}")
    return c.ics


@pytest.mark.parametrize("name", attacks.EXACT)
def test_exact_attack_preserves_function_and_fingerprint(base, input_ids, tmp_path, name):
    dst = attacks.save_attacked(base, tmp_path / name, name, seed=3)
    dev = _assert_same_function(base, dst, input_ids)
    moved = _weights_moved(base, dst)
    print(f"\n[{name}] logits max rel. deviation {dev:.1e}, raw weights moved {moved:.2f} (relative)")
    if name == "extend_vocab":
        assert json.loads((dst / "config.json").read_text())["vocab_size"] > VOCAB
    else:
        assert moved > (0.05 if name == "fold_norms" else 0.1)
    if name in ("permute_tokens", "extend_vocab"):
        _check_tokenizer(base, dst)
    assert _ics(base, dst, name) >= 99.9


@pytest.mark.parametrize("name", ["cast_bf16", "cast_fp16", "cast_fp32"])
def test_dtype_casts(base, input_ids, tmp_path, name):
    dst = attacks.save_attacked(base, tmp_path / name, name)
    want = attacks.DTYPES[name.split("_")[1]]
    from safetensors import safe_open

    with safe_open(str(dst / "model.safetensors"), framework="pt") as f:
        assert all(f.get_tensor(k).dtype == want for k in f.keys())
    assert json.loads((dst / "config.json").read_text())["dtype"] == str(want).replace("torch.", "")
    _assert_same_function(base, dst, input_ids, rtol=1e-4 if name == "cast_fp32" else 5e-2)
    assert _ics(base, dst, name) >= 99.9


def test_attacks_in_sequence(base, input_ids, tmp_path):
    chain = ("permute_tokens,transfer_norm_gains,permute_residual,rotate_residual,permute_heads,"
             "rescale_attention,permute_ffn,extend_vocab")
    dst = attacks.save_attacked(base, tmp_path / "chain", chain, seed=11)
    dev = _assert_same_function(base, dst, input_ids)
    print(f"\n[chain] logits max rel. deviation {dev:.1e}")
    _check_tokenizer(base, dst)
    assert _ics(base, dst, "chain: " + chain) >= 99.9
    dst16 = attacks.save_attacked(dst, tmp_path / "chain_bf16", "cast_bf16")
    assert _ics(base, dst16, "chain + bf16") >= 99.9


def test_rotation_without_norm_folding_breaks_the_fingerprint(base, tmp_path, monkeypatch):
    """Why folding matters: the published method ignores the norm gains. A rotation (which must
    fold them into the weights first) then changes its terms, while readable-fp's stay put."""
    dst = attacks.save_attacked(base, tmp_path / "rot", "rotate_residual", seed=5)
    folded = _ics(base, dst, "rotation, gains folded (readable-fp)")
    real = llama_adapter.layer

    def no_gains(cfg, i, get):
        L = real(cfg, i, get)
        L.attn_gain = L.ffn_gain = None
        return L

    monkeypatch.setattr(llama_adapter, "layer", no_gains)
    unfolded = _ics(base, dst, "rotation, gains ignored (published method)")
    assert folded >= 99.9
    assert unfolded < 99, unfolded


def test_tied_embeddings_and_biases(tmp_path):
    """qwen2 with tied embeddings and q/k/v biases: biases follow their rows, and the embedding is
    untied only where an attack needs lm_head to differ from it."""
    src = tmp_path / "qwen2"
    cfg = dict(LLAMA_TINY, tie_word_embeddings=True, num_hidden_layers=2)
    model = save_tiny("qwen2", src, vocab_size=VOCAB, initializer_range=0.1, dtype="float32", **cfg)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("norm.weight") or n.endswith("bias"):
                p.copy_(torch.exp(0.5 * torch.randn(p.shape, generator=g)) if n.endswith("norm.weight")
                        else 0.3 * torch.randn(p.shape, generator=g))
    model.save_pretrained(src)
    ids = torch.randint(2, VOCAB, (1, 10), generator=torch.Generator().manual_seed(3))
    dst = attacks.save_attacked(src, tmp_path / "perm", "permute_tokens,permute_residual,permute_heads,"
                                "rescale_attention,permute_ffn,extend_vocab", seed=1)
    assert json.loads((dst / "config.json").read_text())["tie_word_embeddings"] is True
    _assert_same_function(src, dst, ids)
    dst = attacks.save_attacked(src, tmp_path / "rot", "rotate_residual,permute_heads,rescale_attention", seed=2)
    assert json.loads((dst / "config.json").read_text())["tie_word_embeddings"] is False
    _assert_same_function(src, dst, ids)
    assert _ics(src, dst, "qwen2 tied + biases, rotated") >= 99.9


def test_sharded_output(base, input_ids, tmp_path):
    """Large models are written as safetensors shards with an index, readable by both sides."""
    state = attacks.apply(attacks.load_model_dir(base), "permute_ffn", seed=4)
    dst = attacks.save_model_dir(state, tmp_path / "sharded", base, max_shard_bytes=100_000)
    assert (dst / "model.safetensors.index.json").is_file() and len(list(dst.glob("model-*.safetensors"))) > 1
    _assert_same_function(base, dst, input_ids)
    assert _ics(base, dst, "sharded permute_ffn") >= 99.9


def test_unsupported_and_unknown(base, tmp_path):
    with pytest.raises(readable_fp.errors.FingerprintError, match="unknown attack"):
        attacks.save_attacked(base, tmp_path / "x", "shuffle_everything")
    state = attacks.load_model_dir(base)
    state.config = dict(state.config, model_type="gemma")
    with pytest.raises(readable_fp.errors.FingerprintError, match="attacks support"):
        attacks.apply(state, "permute_residual")
