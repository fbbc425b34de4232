"""Real derived and independent models built on this CPU, for held-out evaluation.

- `requantize_gguf`: a GGUF file with every matrix dequantised and re-quantised (a real,
  cheap derivative of the kind people publish);
- `gguf_to_hf` / `finetune`: a GGUF model loaded through transformers, saved as safetensors, and
  trained for a few AdamW steps (a real short fine-tune);
- `train_tiny`: a small Llama trained from scratch on a fixed synthetic corpus; different seeds on
  the same data give the independent models the published method used as its control, and
  continuing one on another corpus with a high learning rate gives a derived one.
Function-preserving attacks come from `readable_fp.attacks`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

TEXT = """\
The lighthouse stood at the edge of the cliff for more than two hundred years. Every night its
keeper climbed the narrow stairs, trimmed the wick and polished the great lens until it shone.
In the spring the village held a market in the square. Farmers brought cheese, honey and early
vegetables; children ran between the stalls while their parents argued about the price of wool.
A good recipe for bread needs only flour, water, salt and time. Mix the dough, let it rest,
fold it gently every half hour, and bake it in a very hot oven until the crust sounds hollow.
Rivers carve valleys slowly. A stream that seems harmless in summer can move boulders when the
snow melts, and over thousands of years the water shapes the whole landscape around it.
"""


def requantize_gguf(src: str | Path, dst: str | Path, qtype: str = "Q4_0") -> Path:
    """Copy every metadata field; dequantise each 2-D tensor and re-quantise it to `qtype`."""
    import gguf
    from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter

    q = GGMLQuantizationType[qtype]
    reader = GGUFReader(str(src))
    dst = Path(dst)
    tmp = dst.with_name(dst.name + ".partial")
    writer = GGUFWriter(str(tmp), reader.fields["general.architecture"].contents())
    for field in reader.fields.values():
        # general.architecture is written by the GGUFWriter itself; GGUF.* are virtual fields
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    for t in reader.tensors:
        shape = tuple(int(s) for s in reversed(t.shape))
        x = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(shape)
        if x.ndim == 2:
            writer.add_tensor(t.name, gguf.quants.quantize(x, q), raw_dtype=q)
        else:
            writer.add_tensor(t.name, x)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(dst)
    return dst


def gguf_to_hf(gguf_path: str | Path, dst: str | Path):
    """Load a GGUF through transformers (dequantised to float32), save safetensors + tokenizer;
    returns (model, tokenizer) for further training."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = Path(gguf_path)
    model = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
    # transformers marks a GGUF-loaded model as quantised and refuses to save it, although on CPU
    # every weight was dequantised to plain float32 parameters; drop the marker.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(dst)
    tok.save_pretrained(dst)
    return model, tok


def finetune(model, ids: torch.Tensor, steps: int, lr: float, batch: int = 4, seq: int = 64, seed: int = 0) -> list[float]:
    """AdamW on random windows of `ids`, in place; returns the losses."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - seq - 1, (batch,), generator=g)
        x = torch.stack([ids[s:s + seq] for s in starts.tolist()])
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    model.eval()
    return losses


# ---- tiny models trained from scratch -----------------------------------------------------------
TINY_VOCAB = 600
TINY = dict(hidden_size=96, intermediate_size=256, num_hidden_layers=3, num_attention_heads=6,
            num_key_value_heads=2, head_dim=16, max_position_embeddings=128, tie_word_embeddings=False)


def tiny_words() -> list[str]:
    syll = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "fa", "gu", "he", "ji", "ve", "zo", "bu"]
    words = [a + b + c for a in syll for b in syll for c in syll]
    return words[: TINY_VOCAB - 1]


def corpus(data_seed: int, n_tokens: int = 200_000) -> torch.Tensor:
    """Token ids from a fixed sparse bigram chain (each word has 8 likely successors), with a
    Zipf-like unigram backbone: enough structure that a trained model differs from a random one."""
    g = torch.Generator().manual_seed(10_000 + data_seed)
    V = TINY_VOCAB
    succ = torch.randint(1, V, (V, 8), generator=g)
    zipf = 1.0 / torch.arange(1, V).double()
    out = torch.empty(n_tokens, dtype=torch.long)
    t = 1
    coins = torch.rand(n_tokens, generator=g)
    picks = torch.randint(0, 8, (n_tokens,), generator=g)
    backbone = torch.multinomial(zipf, n_tokens, replacement=True, generator=g) + 1
    for i in range(n_tokens):
        t = int(succ[t, picks[i]]) if coins[i] < 0.8 else int(backbone[i])
        out[i] = t
    return out


def save_tiny_tokenizer(directory: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"<unk>": 0, **{w: i + 1 for i, w in enumerate(tiny_words())}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(["<unk>"])
    tok.save(str(directory / "tokenizer.json"))


def train_tiny(directory: str | Path, seed: int, data_seed: int = 0, steps: int = 400, lr: float = 3e-3,
               init_from: str | Path | None = None) -> dict:
    """Train a tiny Llama (from scratch with `seed`, or continuing `init_from`) on `corpus(data_seed)`."""
    from transformers import AutoConfig, AutoModelForCausalLM

    directory = Path(directory)
    torch.manual_seed(seed)
    if init_from is None:
        cfg = AutoConfig.for_model("llama", vocab_size=TINY_VOCAB, **TINY)
        model = AutoModelForCausalLM.from_config(cfg)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(init_from), dtype=torch.float32)
    losses = finetune(model, corpus(data_seed), steps, lr, batch=16, seq=64, seed=seed)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    save_tiny_tokenizer(directory)
    info = {"seed": seed, "data_seed": data_seed, "steps": steps, "lr": lr, "init_from": str(init_from or ""),
            "loss_first": losses[0], "loss_last": float(np.mean(losses[-20:]))}
    (directory / "training.json").write_text(json.dumps(info, indent=1))
    return info
