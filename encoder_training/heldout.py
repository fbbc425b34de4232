"""The held-out evaluation set: pairs of term sets with their exact ICS and relation.

Nothing here was seen in training (training reads synthetic bases at T = 256 and real weights
only at non-final layers):
- synthetic: new Gaussian-product bases at T = 512, each with two graded variants (related,
  ICS spread over 0-100) and paired with the next base (unrelated);
- real weights + noise: the *final* two layers of SmolLM2-135M, Gemma-3-270m and all-MiniLM with
  fine-tune-like relative noise at eight levels (related, graded);
- real derived models, each fingerprinted standalone (its own 4096 probe strings, its last two
  layers, exactly as `readable-fp` does): SmolLM2 re-quantised to Q4_0 and Q8_0, loaded by
  transformers, fine-tuned (20 AdamW steps at 1e-4), continued with a high learning rate (20 steps
  at 2e-3), attacked (residual rotation; token permutation + vocabulary extension; residual
  permutation + attention rescaling + head, FFN-neuron permutation + norm-gain transfer),
  fine-tuned then rotated; all-MiniLM against its published int8 ONNX export; a tiny Llama
  against its continuation on other data, its short SFT, and an attacked copy;
- independent real models: every pair of the three real families, and five tiny Llamas trained
  from different seeds on the same data.

Models and their invariants are built once into a cache directory (several minutes on 2 cores),
then read back.
"""
from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from readable_fp import api
from readable_fp.compare import compare_invariants
from readable_fp.model_terms import Invariants
from readable_fp.paths import cache_dir
from readable_fp.sketch import sketch, sketch_cosine
from readable_fp.vocab import choose_probes

from . import derived
from .data import RealModel, SyntheticBase, log_uniform
from .real_models import real_paths

CACHE = cache_dir() / "encoder-heldout"
ATTACKS = {
    "rotated": "rotate_residual",
    "tokens permuted + vocab extended": "permute_tokens,extend_vocab",
    "permuted + rescaled": "permute_residual,rescale_attention,permute_heads,permute_ffn,transfer_norm_gains",
}
TINY_SEEDS = 5


@dataclass
class Pair:
    a: str
    b: str
    group: str  # "synthetic", "real+noise", "real derived", "real independent"
    related: bool
    ics: float = 0.0
    sketch_cos: float = 0.0


class HeldOut:
    """Items (name -> Invariants) and the pairs between them."""

    def __init__(self):
        self.items: dict[str, Invariants] = {}
        self.pairs: list[Pair] = []
        self.independent: list[str] = []  # one item per independent base, for the Gaussianity check

    def add_pair(self, a: str, b: str, group: str, related: bool) -> None:
        ia, ib = self.items[a], self.items[b]
        # the encoder carries the terms' similarity as they are (its sketches estimate it): no
        # language structure is taken out here
        p = Pair(a, b, group, related, compare_invariants(ia, ib, remove_language=False).ics)
        p.sketch_cos = 100 * float(sketch_cosine(sketch(ia)[None], sketch(ib)[None]))
        self.pairs.append(p)


def synthetic(h: HeldOut, n_groups: int = 150, seed: int = 424242, T: int = 512) -> None:
    gen = torch.Generator().manual_seed(seed)
    for i in range(n_groups):
        base = SyntheticBase.draw(gen, T, own_strings=0.0)  # shared strings: every pair has an ICS
        h.items[f"syn{i}"] = base.variant(0.0, gen)
        for j in (1, 2):
            h.items[f"syn{i}.{j}"] = base.variant(log_uniform(gen, 0.01, 3.0), gen)
        h.independent.append(f"syn{i}")
    for i in range(n_groups):
        for j in (1, 2):
            h.add_pair(f"syn{i}", f"syn{i}.{j}", "synthetic", True)
        h.add_pair(f"syn{i}", f"syn{(i + 1) % n_groups}", "synthetic", False)


def real_noise(h: HeldOut, seed: int = 7, T: int = 1024) -> None:
    gen = torch.Generator().manual_seed(seed)
    levels = [0.01 * (300 ** (k / 7)) for k in range(8)]  # 0.01 .. 3, log-spaced
    for name, path in real_paths().items():
        m = RealModel(api.open_model(path))
        probes = choose_probes([m.table], T)
        base = m.base((m.n_layers - 2, m.n_layers - 1), probes)
        h.items[f"{name} (T={T})"] = base.variant(0.0, gen)
        for eps in levels:
            h.items[f"{name} + noise {eps:.3g}"] = base.variant(eps, gen)
            h.add_pair(f"{name} (T={T})", f"{name} + noise {eps:.3g}", "real+noise", True)


def _invariants(name: str, path, cache: Path) -> Invariants:
    f = cache / "inv" / (name.replace("/", "_").replace(" ", "_") + ".inv.safetensors")
    if not f.is_file():
        f.parent.mkdir(parents=True, exist_ok=True)
        api.invariants(str(path), progress=False).save(f)
    return Invariants.load(f)


def build_models(cache: Path = CACHE, progress: bool = True) -> dict[str, Path]:
    """Every real and tiny model of the set, built into `cache` if missing."""
    from readable_fp.attacks import save_attacked

    md = cache / "models"
    md.mkdir(parents=True, exist_ok=True)
    paths = {k: Path(v) for k, v in real_paths().items()}
    smol = paths["SmolLM2-135M"]
    steps = []

    def step(name, target, fn):
        paths[name] = target
        if not target.exists():
            steps.append((name, target, fn))

    def requant(q):
        return lambda t: derived.requantize_gguf(smol, t, q)

    step("SmolLM2 Q4_0", md / "smollm2.Q4_0.gguf", requant("Q4_0"))
    step("SmolLM2 Q8_0", md / "smollm2.Q8_0.gguf", requant("Q8_0"))

    def hf_and_tunes(t):
        model, tok = derived.gguf_to_hf(smol, t)
        tok_ids = tok(derived.TEXT * 4, return_tensors="pt").input_ids[0]
        sd = {k: v.clone() for k, v in model.state_dict().items()}
        for name, lr in (("smollm2-ft", 1e-4), ("smollm2-cpt", 2e-3)):
            model.load_state_dict(sd)
            derived.finetune(model, tok_ids, 20, lr)
            model.save_pretrained(md / name)
            tok.save_pretrained(md / name)

    step("SmolLM2 (transformers)", md / "smollm2-hf", hf_and_tunes)
    paths["SmolLM2 fine-tuned"] = md / "smollm2-ft"
    paths["SmolLM2 high-LR continued"] = md / "smollm2-cpt"
    for label, attack in ATTACKS.items():
        step(f"SmolLM2 {label}", md / f"smollm2-{attack.replace(',', '+')}",
             lambda t, a=attack: save_attacked(md / "smollm2-hf", t, a, seed=1))
    step("SmolLM2 fine-tuned then rotated", md / "smollm2-ft-rotated",
         lambda t: save_attacked(md / "smollm2-ft", t, "rotate_residual", seed=2))

    def onnx_with_tokenizer(t):
        from readable_fp import bundled
        shutil.copytree(bundled.model("minilm-int8"), t, symlinks=True)

    step("all-MiniLM int8 ONNX", md / "minilm-int8", onnx_with_tokenizer)
    for s in range(TINY_SEEDS):
        step(f"tiny seed {s}", md / f"tiny-seed{s}", lambda t, s=s: derived.train_tiny(t, seed=s))
    step("tiny 0 continued on other data", md / "tiny0-cpt",
         lambda t: derived.train_tiny(t, seed=100, data_seed=1, steps=200, lr=3e-3, init_from=md / "tiny-seed0"))
    step("tiny 0 short SFT", md / "tiny0-sft",
         lambda t: derived.train_tiny(t, seed=101, data_seed=2, steps=30, lr=1e-3, init_from=md / "tiny-seed0"))
    step("tiny 0 attacked", md / "tiny0-attacked",
         lambda t: save_attacked(md / "tiny-seed0", t, "rotate_residual,permute_heads,permute_ffn,permute_tokens", seed=3))
    for name, target, fn in tqdm(steps, desc="held-out models", unit="model", disable=not progress, file=sys.stderr):
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        fn(tmp)
        tmp.rename(target)
    return paths


DERIVED = [
    ("SmolLM2-135M", "SmolLM2 Q4_0"), ("SmolLM2-135M", "SmolLM2 Q8_0"), ("SmolLM2-135M", "SmolLM2 (transformers)"),
    ("SmolLM2-135M", "SmolLM2 fine-tuned"), ("SmolLM2-135M", "SmolLM2 high-LR continued"),
    *[("SmolLM2 (transformers)", f"SmolLM2 {label}") for label in ATTACKS],
    ("SmolLM2-135M", "SmolLM2 fine-tuned then rotated"),
    ("all-MiniLM-L6-v2", "all-MiniLM int8 ONNX"),
    ("tiny seed 0", "tiny 0 continued on other data"), ("tiny seed 0", "tiny 0 short SFT"), ("tiny seed 0", "tiny 0 attacked"),
]
REAL_FAMILIES = ["SmolLM2-135M", "Gemma-3-270m", "all-MiniLM-L6-v2"]


def real_models(h: HeldOut, cache: Path = CACHE, progress: bool = True) -> None:
    paths = build_models(cache, progress)
    for name, p in tqdm(paths.items(), desc="held-out invariants", unit="model", disable=not progress, file=sys.stderr):
        h.items[name] = _invariants(name, p, cache)
    for a, b in DERIVED:
        h.add_pair(a, b, "real derived", True)
    for i, a in enumerate(REAL_FAMILIES):
        for b in REAL_FAMILIES[i + 1:]:
            h.add_pair(a, b, "real independent", False)
    tiny = [f"tiny seed {s}" for s in range(TINY_SEEDS)]
    for i, a in enumerate(tiny):
        for b in tiny[i + 1:]:
            h.add_pair(a, b, "real independent", False)
    h.independent += REAL_FAMILIES + tiny


def build(cache: Path = CACHE, progress: bool = True) -> HeldOut:
    h = HeldOut()
    synthetic(h)
    real_noise(h)
    real_models(h, cache, progress)
    return h
