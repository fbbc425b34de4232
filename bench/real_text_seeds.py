#!/usr/bin/env python
"""Seed controls that look like real models: tiny Llamas trained from scratch on the same real text.

The null's "seed controls" (bench/zoo.py) are tiny Llamas trained on a synthetic bigram corpus:
their pairs score ICS 0.05-0.53, far below any pair of real independent models (1-4), because a
synthetic corpus has no language structure to share. The published method's control is models
trained from different seeds on the same *real* text. Here the text is English prose that every
machine with Python has: the standard library's docstrings (parsed with `ast`, never imported)
and pydoc's topic pages; the tokenizer is all-MiniLM's real WordPiece vocabulary (30,522 tokens),
so the probe tokens are real words. Each seed trains one model on CPU; every pair is compared
with the default layers and no null (`readable_fp.compare(..., null=False)`).

    python bench/real_text_seeds.py                      # 4 seeds, 400 steps each (~3 min a seed)
    python bench/real_text_seeds.py --seeds 6 --steps 1000

Writes bench/results/real_text_seeds.{md,json}: per pair the ICS and every term, beside the
synthetic-data seed controls and the real independent pairs of the shipped null.
"""
from __future__ import annotations

import argparse
import ast
import json
import platform
import sys
import sysconfig
import time
from itertools import combinations
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]

MODEL = dict(hidden_size=128, intermediate_size=344, num_hidden_layers=4, num_attention_heads=4,
             num_key_value_heads=2, head_dim=32, max_position_embeddings=256, tie_word_embeddings=False)


def stdlib_text() -> str:
    """Docstrings of the standard library's own modules (sorted, so every run reads the same text)
    and pydoc's topic pages: a few MB of English about programming."""
    import pydoc_data.topics

    parts = [pydoc_data.topics.topics[k] for k in sorted(pydoc_data.topics.topics)]
    lib = Path(sysconfig.get_paths()["stdlib"])
    for f in sorted(lib.rglob("*.py")):
        if any(p in ("test", "tests", "idlelib", "site-packages", "lib2to3") for p in f.relative_to(lib).parts):
            continue
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 80:
                    parts.append(doc)
    return "\n\n".join(parts)


def token_ids(tokenizer_json: Path) -> torch.Tensor:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()  # all-MiniLM's tokenizer.json pads and truncates to 128: three quarters would be [PAD]
    tok.no_truncation()
    ids = [i for enc in tok.encode_batch(stdlib_text().split("\n\n"), add_special_tokens=False) for i in enc.ids]
    return torch.tensor(ids, dtype=torch.long)


def train(out: Path, seed: int, ids: torch.Tensor, vocab: Path, steps: int) -> dict:
    from transformers import AutoConfig, AutoModelForCausalLM

    from encoder_training.derived import finetune

    torch.manual_seed(seed)
    cfg = AutoConfig.for_model("llama", vocab_size=30522, **MODEL)
    model = AutoModelForCausalLM.from_config(cfg)
    t0 = time.perf_counter()
    losses = finetune(model, ids, steps, lr=2e-3, batch=8, seq=128, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    (out / "tokenizer.json").write_bytes(vocab.read_bytes())
    info = {"seed": seed, "steps": steps, "seconds": round(time.perf_counter() - t0, 1),
            "loss_first": round(losses[0], 3), "loss_last": round(sum(losses[-20:]) / 20, 3)}
    (out / "training.json").write_text(json.dumps(info))
    return info


def shipped_pairs() -> dict[str, list[float]]:
    null = json.loads((ROOT / "pretrained" / "null.json").read_text())
    out: dict[str, list[float]] = {}
    for p in null["pairs"]:
        if p["mode"] == "last2":
            out.setdefault(p["group"], []).append(p["ics"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--work-dir", type=Path, default=HERE / "_work" / "real-text-seeds")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "real_text_seeds")
    a = ap.parse_args()
    import readable_fp
    from readable_fp import bundled

    vocab = bundled.path("minilm") / "tokenizer.json"
    ids = token_ids(vocab)
    print(f"corpus: {len(ids):,} tokens of standard-library docstrings and pydoc topics")
    models = []
    for seed in range(a.seeds):
        d = a.work_dir / f"v2-steps{a.steps}-seed{seed}"  # v2: the corpus without padding
        info = json.loads((d / "training.json").read_text()) if (d / "training.json").is_file() else \
            train(d, seed, ids, vocab, a.steps)
        print(f"seed {seed}: loss {info['loss_first']} -> {info['loss_last']} ({info['seconds']} s)")
        models.append((seed, d, info))
    pairs = []
    for (sa, da, _), (sb, db, _) in combinations(models, 2):
        res = readable_fp.compare(da, db, progress=False, null=False)
        pairs.append({"a": sa, "b": sb, "ics": round(res.ics, 3), "n_tokens": res.n_tokens,
                      "terms": {f"{t.term}@{t.layer_a}": round(t.ics, 3) for t in res.terms}, "why": res.why()})
        print(f"seed {sa} vs {sb}: ICS {res.ics:.2f}  " + " ".join(f"{k}={v:.2f}" for k, v in pairs[-1]["terms"].items()))
    report = {"machine": {"platform": platform.platform(), "python": platform.python_version()},
              "corpus_tokens": len(ids), "model": MODEL, "steps": a.steps, "models": [m[2] for m in models],
              "pairs": pairs, "shipped_null_last2": shipped_pairs()}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    a.out.with_suffix(".md").write_text(markdown(report))
    print(f"wrote {a.out.with_suffix('.md')} and .json")
    return 0


def markdown(r: dict) -> str:
    ics = [p["ics"] for p in r["pairs"]]
    lines = ["# Seed controls on real text", "",
             f"Tiny Llamas ({r['model']['num_hidden_layers']} layers, hidden {r['model']['hidden_size']}, all-MiniLM's "
             f"30,522-token WordPiece vocabulary) trained from scratch for {r['steps']} AdamW steps (8 x 128 tokens) on "
             f"{r['corpus_tokens']:,} tokens of the Python standard library's docstrings and pydoc topics, one model per "
             "seed; pairs compared with the default layers (last two), no null. Made by `python bench/real_text_seeds.py`.",
             "", "| seed | loss first -> last | train s |", "|---|---|---|"]
    lines += [f"| {m['seed']} | {m['loss_first']} -> {m['loss_last']} | {m['seconds']} |" for m in r["models"]]
    terms = list(r["pairs"][0]["terms"]) if r["pairs"] else []
    lines += ["", "| pair | ICS | " + " | ".join(terms) + " |", "|---|---|" + "---|" * len(terms)]
    lines += [f"| {p['a']} vs {p['b']} | {p['ics']:.2f} | " + " | ".join(f"{p['terms'][t]:.2f}" for t in terms) + " |"
              for p in r["pairs"]]
    lines += ["", f"Real-text seed pairs: ICS {min(ics):.2f}-{max(ics):.2f} (mean {sum(ics) / len(ics):.2f})." if ics else ""]
    for group, v in r["shipped_null_last2"].items():
        lines.append(f"Shipped null, {group}: {len(v)} pairs, ICS {min(v):.2f}-{max(v):.2f} (mean {sum(v) / len(v):.2f}).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
