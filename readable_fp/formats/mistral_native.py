"""Mistral's native layout, as mistral-inference reads it and as many of Mistral's Hub repos ship it
(beside the Hugging Face files, or instead of them): `params.json` + `consolidated.safetensors`
+ `tekken.json` or `tokenizer.model.v3` (or `.v7`, or plain `tokenizer.model`).

The weights are read by the Hugging Face directory reader (`HFDirCheckpoint`) given a config
built here from params.json, under Hugging Face's key names and `model_type` "mistral_native";
the adapter `readable_fp.adapters.mistral_native` maps the native tensor names (and undoes the
rotary row order, see there). Where a folder holds both layouts the Hugging Face one is read.

tekken.json (Mistral's tiktoken-style byte-level BPE, Nemo and later) is read here: ids 0 to
`default_num_special_tokens - 1` are the special tokens, then the ranks of `vocab` in order,
each token's bytes written the GPT-2 byte-level way, which is exactly what transformers'
tekken converter puts in the tokenizer.json it writes, so both layouts pick the same probes.
"""
from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path

from ..checkpoint import Vocab
from ..errors import FingerprintError
from ..paths import model_file, read_json, read_text

MODEL_TYPE = "mistral_native"

# params.json key -> Hugging Face config key (transformers' convert_mistral_weights_to_hf.py)
_KEYS = {"dim": "hidden_size", "n_layers": "num_hidden_layers", "hidden_dim": "intermediate_size",
         "n_heads": "num_attention_heads", "n_kv_heads": "num_key_value_heads", "head_dim": "head_dim",
         "norm_eps": "rms_norm_eps", "vocab_size": "vocab_size", "rope_theta": "rope_theta",
         "sliding_window": "sliding_window"}
_MLA = ("q_lora_rank", "kv_lora_rank", "qk_rope_head_dim")  # DeepSeek-style latent attention


def weight_files(directory: Path) -> list[str]:
    return sorted(p.name for p in Path(directory).glob("consolidated*.safetensors"))


def is_native(directory: Path) -> bool:
    """params.json and consolidated*.safetensors: Mistral's own layout."""
    d = Path(directory)
    return (d / "params.json").is_file() and bool(weight_files(d))


def has_hf_weights(directory: Path) -> bool:
    """Weights under any name but Mistral's own (the Hugging Face files of a folder with both)."""
    d = Path(directory)
    return (any(not p.name.startswith("consolidated") for p in d.glob("*.safetensors"))
            or any(d.glob("pytorch_model*.bin"))
            or any(not p.name.startswith("consolidated") for p in d.glob("*.index.json")))


def config_from_params(params, source: str) -> dict:
    """params.json -> a config dict under Hugging Face's key names (model_type "mistral_native")."""
    if not isinstance(params, dict):
        raise FingerprintError(f"{source}: params.json is not a JSON object")
    missing = [k for k in ("dim", "n_layers", "n_heads") if k not in params]
    if missing:
        raise FingerprintError(f"{source}: params.json has no {', '.join(missing)} (Mistral's native layout needs them)")
    if any(k in params for k in _MLA):
        raise FingerprintError(f"{source}: params.json describes latent (MLA) attention, which Mistral's native "
                               "layout is not read for; use the repo's Hugging Face files (config.json)")
    cfg = {hf: params[k] for k, hf in _KEYS.items() if params.get(k) is not None}
    cfg.setdefault("num_key_value_heads", cfg["num_attention_heads"])
    if "head_dim" not in cfg and type(cfg["hidden_size"]) is int and type(cfg["num_attention_heads"]) is int \
            and cfg["num_attention_heads"] > 0:
        cfg["head_dim"] = cfg["hidden_size"] // cfg["num_attention_heads"]
    moe = params.get("moe")
    if isinstance(moe, dict):
        if moe.get("num_experts") is not None:
            cfg["num_local_experts"] = moe["num_experts"]
        if moe.get("num_experts_per_tok") is not None:
            cfg["num_experts_per_tok"] = moe["num_experts_per_tok"]
    cfg["tie_word_embeddings"] = bool(params.get("tied_embeddings", False))
    cfg["model_type"] = MODEL_TYPE
    cfg["architectures"] = ["MistralNative"]
    return cfg


def open_native(directory: Path, files: list[str] | None = None, open_file=None, source: str | None = None):
    """`files`/`open_file`/`source`: the Hub reader's (weights read by range), else the folder's own."""
    from .safetensors_dir import HFDirCheckpoint

    d = Path(directory)
    params = read_json(d, "params.json", "config")
    cfg = config_from_params(params, source or str(d))
    if files is None:
        files = weight_files(d)
        for f in files:
            model_file(d, f)  # a regular file inside the folder
    ckpt = HFDirCheckpoint(d, open_file=open_file, source=source, config=cfg, weight_files=files)
    vocab = native_vocab(d)
    if vocab is not None:
        ckpt.vocab = vocab
    return ckpt


def native_vocab(directory: Path) -> Vocab | None:
    """tekken.json, else tokenizer.model.v* (SentencePiece); None if neither (the Hugging Face
    reader's own tokenizer.json / tokenizer.model then stands)."""
    d = Path(directory)
    if (p := model_file(d, "tekken.json")) is not None:
        return tekken_vocab(p)
    for name in sorted((q.name for q in d.glob("tokenizer.model.v*")), reverse=True):
        if (p := model_file(d, name)) is not None:
            from ..vocab import _from_sentencepiece
            return _from_sentencepiece(p)
    return None


def tekken_vocab(path: Path) -> Vocab:
    from ..vocab import _byte_decoder

    encode = {b: ch for ch, b in _byte_decoder().items()}
    try:
        tj = json.loads(read_text(path, "tokenizer"))
        config, ranks = tj["config"], tj["vocab"]
        specials = sorted(tj.get("special_tokens") or [], key=lambda s: s["rank"])
        n_special = config.get("default_num_special_tokens")
        if n_special is None:
            n_special = len(specials)
        size = config.get("default_vocab_size")
        if type(n_special) is not int or n_special < 0 or (size is not None and (type(size) is not int or size < n_special)):
            raise FingerprintError(f"{path}: tekken.json's config gives no valid vocabulary size")
        if size is not None:
            ranks = ranks[:size - n_special]  # the file lists more ranks than the model uses
        names = {s["rank"]: str(s["token_str"]) for s in specials}
        tokens = [names.get(i, f"<SPECIAL_{i}>") for i in range(n_special)]
        tokens += ["".join(encode[b] for b in base64.b64decode(r["token_bytes"], validate=True)) for r in ranks]
    except (json.JSONDecodeError, RecursionError, KeyError, TypeError, AttributeError, binascii.Error, ValueError):
        raise FingerprintError(f"{path}: not a valid tekken.json") from None
    return Vocab(tokens, [i >= n_special for i in range(len(tokens))], "byte_bpe")
