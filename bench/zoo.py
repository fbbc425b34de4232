"""The models of the evaluation suite and the pairs between them.

Derived models are built on this CPU from the real SmolLM2-135M-Instruct weights (and a tiny
Llama), once, into a cache directory (`$READABLE_FP_CACHE`, default ~/.cache/readable-fp);
models the encoder's held-out set already built (encoder_training/heldout.py) are reused.
Independent pairs: every pair of the real families (the three of ../shared/models.md and the three
that other PyPI packages ship in pieces, encoder_training/pieced_models.py), and tiny Llamas
trained from different seeds on the same data (the published method's control). One published
real fine-tune joins the derived pairs: an SRE sentence-embedding model tuned from all-MiniLM.
"""
from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from encoder_training import derived, heldout, pieced_models
from readable_fp import attacks

from . import pruning

CACHE = heldout.CACHE.parent / "bench"
TINY_SEEDS = 8
PIECED_FAMILIES = {"Qwen2.5-Coder-0.5B": pieced_models.qwen_coder_gguf, "all-mpnet-base-v2": pieced_models.mpnet_dir,
                   "DistilBERT-cased tagger": pieced_models.distilbert_tagger_dir}
REAL_FAMILIES = heldout.REAL_FAMILIES + list(PIECED_FAMILIES)

# (label, attack list) applied to the transformers copy of SmolLM2: every attack of method.md section 2
SMOL_ATTACKS = {
    "residual permutation": "permute_residual",
    "residual rotation": "rotate_residual",
    "attention rescaling": "rescale_attention",
    "head / kv-group permutation": "permute_heads",
    "FFN neuron permutation + rescaling": "permute_ffn",
    "norm-gain transfer": "transfer_norm_gains",
    "vocabulary permutation": "permute_tokens",
    "vocabulary extension": "extend_vocab",
    "cast to bf16": "cast_bf16",
    "cast to fp16": "cast_fp16",
}
SMOL_PRUNES = {
    "FFN neurons pruned 10%": lambda s: pruning.prune_ffn(s, 0.1),
    "FFN neurons pruned 30%": lambda s: pruning.prune_ffn(s, 0.3),
    "hidden dims pruned 11%": lambda s: pruning.prune_hidden(s, 0.1),  # 513 of 576: a multiple of 9 heads
    "hidden dims pruned 31%": lambda s: pruning.prune_hidden(s, 0.3),  # 396 of 576
    "middle layer 15 dropped": lambda s: pruning.drop_layer(s, 15),
    "second-to-last layer dropped": lambda s: pruning.drop_layer(s, -2),
    "last layer dropped": lambda s: pruning.drop_layer(s, -1),
}
SFT_CHAT = [
    ("How do I bake bread?", "Mix flour, water and salt, let the dough rest, fold it, and bake it in a hot oven."),
    ("What did the lighthouse keeper do?", "He climbed the stairs every night, trimmed the wick and polished the lens."),
    ("Why are valleys deep?", "Rivers carve them slowly; melting snow moves boulders and shapes the landscape."),
    ("What happens at the spring market?", "Farmers sell cheese, honey and vegetables while children play."),
]


@dataclass
class Pair:
    a: str
    b: str
    derived: bool
    group: str  # quantisation, fine-tune, attack, pruning, combination, real families, seed controls


def _smol_tokens(tok) -> torch.Tensor:
    return tok(derived.TEXT * 4, return_tensors="pt").input_ids[0]


def build(cache: Path = CACHE, progress: bool = True) -> dict[str, Path]:
    """name -> model path for every model of the suite, building what is missing."""
    paths = {k: Path(v) for k, v in heldout.build_models(progress=progress).items()}
    paths.update({k: Path(f()) for k, f in PIECED_FAMILIES.items()})
    paths["SRE MiniLM (fine-tune)"] = pieced_models.sre_minilm_dir()
    md = cache / "models"
    md.mkdir(parents=True, exist_ok=True)
    hf = paths["SmolLM2 (transformers)"]
    steps = []

    def step(name, target, fn):
        paths[name] = target
        if not target.exists():
            steps.append((target, fn))

    def edited(src, fn):
        def run(t):
            st = fn(attacks.load_model_dir(src))
            attacks.save_model_dir(st, t, src)
        return run

    for label, attack in SMOL_ATTACKS.items():
        step(f"SmolLM2 {label}", md / f"smollm2-{attack}",
             lambda t, a=attack: attacks.save_attacked(hf, t, a, seed=11))
    for label, fn in SMOL_PRUNES.items():
        step(f"SmolLM2 {label}", md / ("smollm2-" + label.replace(" ", "-").replace("%", "pc")), edited(hf, fn))

    def sft(t):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        model = AutoModelForCausalLM.from_pretrained(str(hf), dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(hf))
        chats = [[{"role": "user", "content": q}, {"role": "assistant", "content": a}] for q, a in SFT_CHAT]
        ids = torch.cat([torch.as_tensor(tok.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"])
                         for c in chats * 8])
        derived.finetune(model, ids, 30, 5e-5, batch=4, seq=96, seed=5)
        model.save_pretrained(t)
        tok.save_pretrained(t)

    def lora(t):
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer
        model = AutoModelForCausalLM.from_pretrained(str(hf), dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(hf))
        torch.manual_seed(6)
        pm = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=[
            "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
        derived.finetune(pm, _smol_tokens(tok), 30, 1e-3, seed=6)
        pm.merge_and_unload().save_pretrained(t)
        tok.save_pretrained(t)

    step("SmolLM2 short SFT (chat)", md / "smollm2-sft", sft)
    step("SmolLM2 LoRA merged", md / "smollm2-lora-merged", lora)
    step("SmolLM2 SFT + FFN pruned 20% + rotated", md / "smollm2-sft-pruned-rotated",
         lambda t: attacks.save_model_dir(attacks.apply(pruning.prune_ffn(
             attacks.load_model_dir(md / "smollm2-sft"), 0.2), "rotate_residual", seed=12), t, md / "smollm2-sft"))
    for s in range(heldout.TINY_SEEDS, TINY_SEEDS):
        step(f"tiny seed {s}", md / f"tiny-seed{s}", lambda t, s=s: derived.train_tiny(t, seed=s))
    for target, fn in tqdm(steps, desc="bench models", unit="model", disable=not progress, file=sys.stderr):
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        fn(tmp)
        tmp.rename(target)
    return paths


def pairs() -> list[Pair]:
    smol, hf = "SmolLM2-135M", "SmolLM2 (transformers)"
    out = [Pair(smol, "SmolLM2 Q4_0", True, "quantisation"), Pair(smol, "SmolLM2 Q8_0", True, "quantisation"),
           Pair(smol, hf, True, "quantisation"),
           Pair("all-MiniLM-L6-v2", "all-MiniLM int8 ONNX", True, "quantisation"),
           Pair(smol, "SmolLM2 fine-tuned", True, "fine-tune"),
           Pair(smol, "SmolLM2 high-LR continued", True, "fine-tune"),
           Pair(smol, "SmolLM2 short SFT (chat)", True, "fine-tune"),
           Pair(smol, "SmolLM2 LoRA merged", True, "fine-tune"),
           Pair("all-MiniLM-L6-v2", "SRE MiniLM (fine-tune)", True, "fine-tune"),
           Pair("tiny seed 0", "tiny 0 continued on other data", True, "fine-tune"),
           Pair("tiny seed 0", "tiny 0 short SFT", True, "fine-tune")]
    out += [Pair(hf, f"SmolLM2 {label}", True, "attack") for label in SMOL_ATTACKS]
    out += [Pair(hf, f"SmolLM2 {label}", True, "pruning") for label in SMOL_PRUNES]
    out += [Pair(smol, "SmolLM2 fine-tuned then rotated", True, "combination"),
            Pair(smol, "SmolLM2 SFT + FFN pruned 20% + rotated", True, "combination"),
            Pair(hf, "SmolLM2 permuted + rescaled", True, "combination"),
            Pair(hf, "SmolLM2 tokens permuted + vocab extended", True, "combination"),
            Pair("tiny seed 0", "tiny 0 attacked", True, "combination")]
    fam = REAL_FAMILIES
    out += [Pair(a, b, False, "real families") for i, a in enumerate(fam) for b in fam[i + 1:]]
    tiny = [f"tiny seed {s}" for s in range(TINY_SEEDS)]
    out += [Pair(a, b, False, "seed controls") for i, a in enumerate(tiny) for b in tiny[i + 1:]]
    return out


def lm_loss(directory: Path, cache: Path = CACHE) -> float | None:
    """Mean next-token loss of a SmolLM2-tokenizer model directory on derived.TEXT (cached):
    shows that each derived model is still a working model, and how much pruning hurt it."""
    f = cache / "losses.json"
    known = json.loads(f.read_text()) if f.is_file() else {}
    key = str(directory)
    if key not in known:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        if not (Path(directory) / "config.json").is_file():
            return None
        tok = AutoTokenizer.from_pretrained(str(directory))
        model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32).eval()
        ids = tok(derived.TEXT, return_tensors="pt").input_ids
        with torch.no_grad():
            known[key] = float(model(input_ids=ids, labels=ids).loss)
        f.write_text(json.dumps(known, indent=1))
    return known[key]
