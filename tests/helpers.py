"""Builders shared by the tests: tiny random Hugging Face models with a real tokenizer.json."""
from __future__ import annotations

import json
from pathlib import Path

import torch


def word(i: int) -> str:
    """Distinct, word-like token strings (byte-level BPE style: Ġ marks a leading space)."""
    return "Ġ" + "".join("abcdefghijklmnopqrstuvwxyz"[(i // 26 ** k) % 26] for k in range(3)) + f"{i % 7}"


def write_tokenizer(directory: str | Path, vocab_size: int, specials: int = 2, tokens: list[str] | None = None) -> list[str]:
    """A WordLevel tokenizer.json whose first `specials` ids are special tokens."""
    if tokens is None:
        tokens = [f"<s{i}>" for i in range(specials)] + [word(i) for i in range(vocab_size - specials)]
    vocab = {t: i for i, t in enumerate(tokens)}
    tj = {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": tokens[i], "special": True, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False} for i in range(specials)],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": tokens[0]},
    }
    Path(directory, "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False))
    return tokens


def tiny_config(model_type: str, **overrides):
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type, **overrides)


def save_tiny(model_type: str, directory: str | Path, seed: int = 0, vocab_size: int = 512, tokenizer: bool = True,
              auto_class: str = "AutoModelForCausalLM", **overrides):
    """Random-init a tiny model of `model_type`, save it (safetensors) with a tokenizer; return the model."""
    import transformers

    torch.manual_seed(seed)
    cfg = tiny_config(model_type, vocab_size=vocab_size, **overrides)
    model = getattr(transformers, auto_class).from_config(cfg).eval()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    if tokenizer:
        write_tokenizer(directory, vocab_size)
    return model


LLAMA_TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=8,
                  num_key_value_heads=2, head_dim=8, max_position_embeddings=128, tie_word_embeddings=False)


def perturbed_copy(src: str | Path, dst: str | Path, scale: float, seed: int = 3) -> Path:
    """A related model: `src`'s config, tokenizer and weights plus N(0, scale^2) noise."""
    from safetensors.torch import load_file, save_file

    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True)
    for f in ("config.json", "tokenizer.json"):
        (dst / f).write_bytes((src / f).read_bytes())
    g = torch.Generator().manual_seed(seed)
    sd = {k: v + scale * torch.randn(v.shape, generator=g) for k, v in load_file(str(src / "model.safetensors")).items()}
    save_file(sd, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst
