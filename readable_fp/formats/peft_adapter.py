"""A PEFT LoRA adapter directory, merged onto its base model tensor by tensor.

For each base weight W with LoRA factors A (r x in) and B (out x r), the merged weight is
W + s * B @ A with s = lora_alpha / r (lora_alpha / sqrt(r) with rsLoRA), exactly as PEFT's
`merge_and_unload`. Embedding LoRA (`lora_embedding_A/B`) merges as (B @ A)^T. Only tensors
the terms read are merged; the base is never loaded whole.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..checkpoint import Checkpoint
from ..errors import FingerprintError
from ..paths import model_file, read_json
from .safetensors_dir import load_torch_weights


class LoraCheckpoint(Checkpoint):
    def __init__(self, directory: str | Path, base: Checkpoint) -> None:
        super().__init__()
        d = Path(directory)
        self.source = str(d)
        self.base = base
        acfg = read_json(d, "adapter_config.json")
        if acfg is None:
            raise FingerprintError(f"{d}: no adapter_config.json")
        if acfg.get("peft_type", "LORA") != "LORA":
            raise FingerprintError(f"{d}: PEFT type {acfg.get('peft_type')} is not supported (LoRA only)")
        r = acfg.get("r", 8)
        alpha = acfg.get("lora_alpha", r)
        if type(r) is not int or r < 1 or type(alpha) not in (int, float) or not math.isfinite(alpha):
            raise FingerprintError(f"{d}/adapter_config.json: r must be a positive whole number and lora_alpha a "
                                   f"number (r is {str(r)[:20]!r}, lora_alpha {str(alpha)[:20]!r})")
        self.scale = alpha / math.sqrt(r) if acfg.get("use_rslora") else alpha / r
        self.fan_in_fan_out = bool(acfg.get("fan_in_fan_out"))
        if (st := model_file(d, "adapter_model.safetensors")) is not None:
            try:
                sd = load_file(str(st))
            except (SafetensorError, OSError) as e:
                raise FingerprintError(f"{d}/adapter_model.safetensors: unreadable ({str(e).splitlines()[0]})") from None
        elif (bin_ := model_file(d, "adapter_model.bin")) is not None:
            sd = load_torch_weights(str(bin_))
        else:
            raise FingerprintError(f"{d}: adapter_config.json but no adapter_model.safetensors or .bin")
        self.stats.bytes_read += sum(t.numel() * t.element_size() for t in sd.values())
        self.deltas: dict[str, tuple[torch.Tensor, torch.Tensor, bool]] = {}
        for k, a in sd.items():
            for tag, emb in ((".lora_A.weight", False), (".lora_embedding_A", True)):
                if k.endswith(tag):
                    stem = k[: -len(tag)]
                    b = sd.get(stem + tag.replace("_A", "_B"))
                    if b is None:
                        raise FingerprintError(f"{d}: LoRA tensor {k} has no matching B factor")
                    self.deltas[self._base_name(stem)] = (a, b, emb)
        if not self.deltas:
            raise FingerprintError(f"{d}: the adapter holds no LoRA factors")
        self.config = base.config
        self.vocab = base.vocab
        self.fmt = f"peft-lora on {base.fmt}"

    def _base_name(self, stem: str) -> str:
        """Adapter names carry PEFT's `base_model.model.` prefix; find the base tensor they patch."""
        s = stem.removeprefix("base_model.model.")
        names = self.base.names()
        for cand in (s + ".weight", s, "model." + s + ".weight"):
            if cand in names:
                return cand
        tail = [n for n in names if n.endswith("." + s + ".weight") or n.endswith(s.split(".", 1)[-1] + ".weight")]
        if len(tail) == 1:
            return tail[0]
        raise FingerprintError(f"{self.source}: LoRA module '{stem}' patches no tensor of the base model")

    def names(self):
        return self.base.names()

    def shape(self, name):
        return self.base.shape(name)

    def dtype_name(self, name):
        return self.base.dtype_name(name)

    def dtype_summary(self):
        return self.base.dtype_summary()

    def storage(self, name):
        return self.base.storage(name) + (" + LoRA delta" if name in self.deltas else "")

    def _read(self, name, rows):
        w = self.base.get(name, rows=None if name in self.deltas else rows)
        if name in self.deltas:
            a, b, emb = self.deltas[name]
            delta = (b.float() @ a.float()) * self.scale
            if emb or self.fan_in_fan_out:
                delta = delta.T
            if delta.shape != w.shape:
                raise FingerprintError(f"{self.source}: LoRA delta for '{name}' has shape {tuple(delta.shape)}, base has {tuple(w.shape)}")
            w = w + delta
            if rows is not None:
                w = w[torch.as_tensor(list(rows), dtype=torch.long)]
        self.stats.bytes_read = self.base.stats.bytes_read
        return w
