"""The language model's settings, read from config.json through transformers' own config classes.

A config.json leaves out every key whose value is the default (the real google/gemma-3-4b-it
`text_config` has no `num_attention_heads`), so reading it as a plain dict gets those wrong or
not at all. The config class of the checkpoint's `model_type` fills the defaults in (nothing is
instantiated but the config object), and `get_text_config(decoder=True)` finds the language model
inside a wrapper (`text_config`, `llm_config`, ...), whose own `model_type` then picks the adapter.

Configs of types transformers does not know (the remote-code `RefinedWeb`, GGUF and ONNX
readers' own) are used as they are, with a nested `text_config` merged over the outer keys.
"""
from __future__ import annotations

from .errors import FingerprintError

MAX_COUNT = 1 << 20  # heads, layers, widths: no real model comes near


def first(cfg: dict, *keys: str, default=None):
    """The first of `keys` the config sets: a count or a width, so a whole number from 1 to MAX_COUNT."""
    for k in keys:
        v = cfg.get(k)
        if v is not None:
            if type(v) is not int or not 1 <= v <= MAX_COUNT:
                raise FingerprintError(f"config: {k} is {str(v)[:40]!r}, not a whole number from 1 to {MAX_COUNT}")
            return v
    if default is not None:
        return default
    raise FingerprintError(f"config has none of {', '.join(keys)}")


_COUNTS = ("num_attention_heads", "num_key_value_heads", "num_hidden_layers", "hidden_size", "head_dim",
           "intermediate_size", "vocab_size", "n_head", "n_layer", "n_embd")


def language_config(raw: dict, source: str) -> dict:
    """config.json (as a dict) -> the language model's settings as a plain dict, defaults filled in.

    The result's `model_type` is the language model's own type; `wrapper_type` is the outer
    type where the language model sits inside another (a vision-language model, say)."""
    mt = raw.get("model_type")
    for part in (raw, raw.get("text_config")):
        if isinstance(part, dict):  # before the config class, which divides by some of these
            for key in _COUNTS:
                value = part.get(key)
                # a per-layer list (Gemma 3n's intermediate_size): each entry must be a count
                for each in value if isinstance(value, list) else [value]:
                    if each is not None:
                        first({key: each}, key)
    cls = _config_class(mt)
    if cls is None:
        return _merged(raw)
    try:
        # transformers writes inf / nan as {"__float__": "Infinity"} and decodes them when it reads
        cfg = cls.from_dict(cls._decode_special_floats(dict(raw)))
        text = cfg.get_text_config(decoder=True)
        out = text.to_dict()
        for key in ("num_hidden_layers",):  # derived by some classes (Nemotron-H: from layers_block_type)
            if out.get(key) is None and isinstance(getattr(text, key, None), int):
                out[key] = getattr(text, key)
    except Exception as e:  # the config class validates: a config it rejects describes no buildable model
        why = str(e).strip().splitlines()
        why = why[-1] if why else type(e).__name__
        raise FingerprintError(f"{source}: config.json is not a valid '{mt}' config ({why[:200]})") from None
    out["model_type"] = getattr(text, "model_type", None) or mt
    if out["model_type"] != mt:
        out["wrapper_type"] = mt
    return out


def _config_class(model_type):
    if not isinstance(model_type, str) or ":" in model_type or model_type == "mistral_native":
        return None  # the GGUF reader's "gguf:<arch>" and our own layouts: importing transformers costs ~3 s
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    if model_type not in CONFIG_MAPPING_NAMES:  # checked first: importing a config module costs seconds
        return None
    from transformers import CONFIG_MAPPING
    return CONFIG_MAPPING[model_type]


def _merged(cfg: dict) -> dict:
    if isinstance(cfg.get("text_config"), dict):
        merged = dict(cfg)
        merged.update(cfg["text_config"])
        merged["model_type"] = cfg["text_config"].get("model_type") or cfg.get("model_type")
        return merged
    return dict(cfg)
