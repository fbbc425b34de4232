"""Function-preserving attacks on Llama-layout checkpoints (method.md section 2).

Each attack rearranges a model's weights without changing what it computes (up to floating
point rounding), which is exactly what a fingerprint built from raw weights cannot survive and
the invariant terms must. They are used to prove that claim in the tests and to build the
attacked pairs of the evaluation benchmark.

A model is a `ModelState`: its tensors (Hugging Face names and orientation, `W` is
`out x in`, a layer computes `x W^T`), its config dict, its parsed ``tokenizer.json`` and the
small JSON side files that name token ids. The attacks:

=====================  =========================================================================
``permute_residual``   residual-stream permutation P: embedding columns, every weight reading
                       the stream (q k v gate up lm_head) column-wise, every weight writing it
                       (o down, with their biases) row-wise, all RMSNorm gains
``fold_norms``         multiply every RMSNorm gain (the final norm too, into ``lm_head``) into
                       the weights that read the normalised stream; gains become 1
``rotate_residual``    ``fold_norms``, then a random orthogonal R in place of P
``rescale_attention``  per layer and kv group: q by c, k by 1/c; v by c', o's columns by 1/c'
``permute_heads``      kv groups permuted together with the query heads that read them, and
                       query heads permuted within each group (GQA-safe)
``permute_ffn``        FFN neurons: gate/up rows and down columns permuted together, up by c and
                       down's columns by 1/c (c of random sign and size)
``transfer_norm_gains`` every gain g -> g / s per channel, the weights reading it scaled by s
                       column-wise
``permute_tokens``     token ids reordered: embedding and lm_head rows, tokenizer ids (vocab,
                       added tokens, post-processor), config / generation-config token ids
``extend_vocab``       new tokens (CJK characters) appended: rows on embedding and lm_head, new
                       strings in the tokenizer
``cast_fp32`` etc.     dtype casts to float32, bfloat16, float16
=====================  =========================================================================

The exact attacks do their arithmetic in float64 and cast back to each tensor's own dtype,
so the only change in the model's outputs is one rounding to that dtype.

Supported families: llama, mistral, qwen2 (q/k/v biases), qwen3 (per-head q/k norms: these
act within a head, so every attack here leaves them alone; q/k rescaling is then preserved up
to the norms' epsilon). Tied embeddings are untied where an attack needs ``lm_head`` to differ
from the embedding (folding or transferring a non-unit final norm gain).

Command line: ``python -m readable_fp.attacks SRC DST ATTACK[,ATTACK...] [--seed N]``.
"""
from __future__ import annotations

import copy
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, Union

import torch

from .errors import FingerprintError

SUPPORTED = ("llama", "mistral", "qwen2", "qwen3")

Tensors = dict[str, torch.Tensor]


@dataclass
class ModelState:
    """Everything of a model directory that an attack may change."""

    tensors: Tensors
    config: dict
    tokenizer: dict | None = None  # parsed tokenizer.json
    # Side files that name token ids, by file name: generation_config.json, tokenizer_config.json
    side: dict[str, dict] = field(default_factory=dict)
    vocab_changed: bool = False  # slow-tokenizer files (vocab.json, tokenizer.model, ...) are then stale


# ---- where the tensors are ---------------------------------------------------------------------
class _Layout:
    """Tensor names of a Llama-layout checkpoint, whatever prefix they carry."""

    def __init__(self, sd: Tensors, cfg: dict) -> None:
        mt = cfg.get("model_type")
        if mt not in SUPPORTED:
            raise FingerprintError(f"attacks support {', '.join(SUPPORTED)} checkpoints, not '{mt}'")
        embs = sorted((k for k in sd if k.endswith("embed_tokens.weight")), key=len)
        if not embs:
            raise FingerprintError("no embed_tokens.weight tensor: not a Llama-layout checkpoint")
        self.emb = embs[0]
        self.p = self.emb[: -len("embed_tokens.weight")]
        heads = [k for k in sd if k.endswith("lm_head.weight")]
        self.lm_head: str | None = heads[0] if heads else None
        self.lm_head_name = self.lm_head or "lm_head.weight"
        self.n_layers = int(cfg["num_hidden_layers"])
        self.n_heads = int(cfg["num_attention_heads"])
        self.n_kv = int(cfg.get("num_key_value_heads") or self.n_heads)
        d = int(cfg["hidden_size"])
        self.hd = int(cfg.get("head_dim") or d // self.n_heads)
        self.final_norm = self.p + "norm.weight"

    def L(self, i: int, name: str) -> str:
        return f"{self.p}layers.{i}.{name}"

    def attn(self, i: int, m: str, what: str = "weight") -> str:
        return self.L(i, f"self_attn.{m}_proj.{what}")

    def mlp(self, i: int, m: str, what: str = "weight") -> str:
        return self.L(i, f"mlp.{m}_proj.{what}")

    def readers(self, i: int) -> tuple[list[str], list[str]]:
        """Weights reading the attention-normalised and the FFN-normalised stream of layer i."""
        return [self.attn(i, m) for m in "qkv"], [self.mlp(i, m) for m in ("gate", "up")]

    def writers(self, i: int) -> list[str]:
        return [self.attn(i, "o"), self.mlp(i, "down")]


class _Edit:
    """Float64 working copies of the tensors an attack touches; `result()` casts them back."""

    def __init__(self, sd: Tensors, lay: _Layout) -> None:
        self.src, self.work, self.lay = sd, {}, lay
        self.new_dtype = sd[lay.emb].dtype

    def __contains__(self, k: str) -> bool:
        return k in self.work or k in self.src

    def __getitem__(self, k: str) -> torch.Tensor:
        if k not in self.work:
            self.work[k] = self.src[k].double()
        return self.work[k]

    def __setitem__(self, k: str, v: torch.Tensor) -> None:
        self.work[k] = v

    def lm_head(self) -> str:
        """lm_head's name, untying it from the embedding first if the checkpoint ties them."""
        lay = self.lay
        if lay.lm_head is None:
            self[lay.lm_head_name] = self[lay.emb].clone()
            lay.lm_head = lay.lm_head_name
            self.untied = True
        return lay.lm_head

    def result(self) -> Tensors:
        out = dict(self.src)
        for k, v in self.work.items():
            out[k] = v.to(self.src[k].dtype if k in self.src else self.new_dtype).contiguous()
        return out


def _cfg_after(cfg: dict, ed: _Edit) -> dict:
    if getattr(ed, "untied", False):
        cfg = dict(cfg, tie_word_embeddings=False)
    return cfg


def _gen(gen: torch.Generator | None) -> torch.Generator:
    return gen if gen is not None else torch.Generator().manual_seed(0)


def _factors(n: int, gen: torch.Generator, lo: float = 0.5, hi: float = 2.0, signed: bool = False) -> torch.Tensor:
    """n float64 factors, log-uniform in [lo, hi], of random sign if `signed`."""
    c = torch.exp(torch.empty(n, dtype=torch.float64).uniform_(math.log(lo), math.log(hi), generator=gen))
    if signed:
        c = c * (torch.randint(0, 2, (n,), generator=gen).double() * 2 - 1)
    return c


def random_orthogonal(d: int, gen: torch.Generator | None = None) -> torch.Tensor:
    """A Haar-random d x d orthogonal matrix (float64): QR of a Gaussian, signs fixed."""
    a = torch.randn(d, d, dtype=torch.float64, generator=_gen(gen))
    q, r = torch.linalg.qr(a)
    return q * torch.sign(torch.diagonal(r))


# ---- residual-stream attacks ---------------------------------------------------------------------
def _residual(ed: _Edit, read: Callable, write: Callable, gain: Callable | None) -> None:
    """Apply x -> x M to the residual stream: `read(W)` = W M for weights (and the embedding) whose
    columns index the stream, `write(W)` = M^T W for weights and biases writing it, `gain(g)` for
    norm gains (None: the gains must already be 1, as after folding)."""
    lay = ed.lay
    ed[lay.emb] = read(ed[lay.emb])
    if lay.lm_head is not None:
        ed[lay.lm_head] = read(ed[lay.lm_head])
    norms = [lay.final_norm] + [lay.L(i, n) for i in range(lay.n_layers)
                                for n in ("input_layernorm.weight", "post_attention_layernorm.weight")]
    for n in norms:
        if gain is not None:
            ed[n] = gain(ed[n])
        elif not torch.all(ed[n] == 1):
            raise FingerprintError(f"{n}: a rotation needs the norm gains folded first (fold_norms)")
    for i in range(lay.n_layers):
        a, f = lay.readers(i)
        for k in a + f:
            ed[k] = read(ed[k])
        for k in lay.writers(i):
            ed[k] = write(ed[k])
            b = k[: -len("weight")] + "bias"
            if b in ed:
                ed[b] = write(ed[b])


def permute_residual(sd: Tensors, cfg: dict, perm: torch.Tensor | None = None,
                     gen: torch.Generator | None = None) -> Tensors:
    """Residual permutation: stream channel j of the attacked model is channel perm[j] of the original."""
    lay = _Layout(sd, cfg)
    d = sd[lay.emb].shape[1]
    perm = torch.randperm(d, generator=_gen(gen)) if perm is None else torch.as_tensor(perm)
    ed = _Edit(sd, lay)
    _residual(ed, read=lambda W: W[:, perm], write=lambda W: W[perm], gain=lambda g: g[perm])
    return ed.result()


def _fold(ed: _Edit) -> None:
    lay = ed.lay
    for i in range(lay.n_layers):
        a, f = lay.readers(i)
        for norm, readers in (("input_layernorm.weight", a), ("post_attention_layernorm.weight", f)):
            g = ed[lay.L(i, norm)]
            for k in readers:
                ed[k] = ed[k] * g
            ed[lay.L(i, norm)] = torch.ones_like(g)
    g = ed[lay.final_norm]
    if not torch.all(g == 1):
        head = ed.lm_head()
        ed[head] = ed[head] * g
        ed[lay.final_norm] = torch.ones_like(g)


def fold_norms(sd: Tensors, cfg: dict) -> tuple[Tensors, dict]:
    """Fold every RMSNorm gain into the weights reading its output (column-wise) and set it to 1.

    RMSNorm(h) * g feeding W equals RMSNorm(h) feeding W diag(g). The final norm folds into
    ``lm_head`` (untied from the embedding if needed, hence the config is returned too).
    """
    ed = _Edit(sd, _Layout(sd, cfg))
    _fold(ed)
    return ed.result(), _cfg_after(cfg, ed)


def rotate_residual(sd: Tensors, cfg: dict, R: torch.Tensor | None = None,
                    gen: torch.Generator | None = None) -> tuple[Tensors, dict]:
    """Residual rotation: fold the norms, then x -> x R with R orthogonal (random if not given).

    RMSNorm commutes with R once its gain is 1, because |x R| = |x|.
    """
    lay = _Layout(sd, cfg)
    d = sd[lay.emb].shape[1]
    R = random_orthogonal(d, gen) if R is None else torch.as_tensor(R, dtype=torch.float64)
    ed = _Edit(sd, lay)
    _fold(ed)
    _residual(ed, read=lambda W: W @ R, write=lambda W: R.T @ W, gain=None)
    return ed.result(), _cfg_after(cfg, ed)


def transfer_norm_gains(sd: Tensors, cfg: dict, gen: torch.Generator | None = None,
                        lo: float = 0.5, hi: float = 2.0) -> tuple[Tensors, dict]:
    """Every norm gain g -> g / s (s per channel, log-uniform in [lo, hi]) and the weights reading
    the normalised stream scaled by s column-wise, the final norm into ``lm_head``."""
    lay = _Layout(sd, cfg)
    gen = _gen(gen)
    ed = _Edit(sd, lay)
    d = sd[lay.emb].shape[1]
    for i in range(lay.n_layers):
        a, f = lay.readers(i)
        for norm, readers in (("input_layernorm.weight", a), ("post_attention_layernorm.weight", f)):
            s = _factors(d, gen, lo, hi)
            ed[lay.L(i, norm)] = ed[lay.L(i, norm)] / s
            for k in readers:
                ed[k] = ed[k] * s
    s = _factors(d, gen, lo, hi)
    head = ed.lm_head()
    ed[lay.final_norm] = ed[lay.final_norm] / s
    ed[head] = ed[head] * s
    return ed.result(), _cfg_after(cfg, ed)


# ---- attention and FFN attacks -------------------------------------------------------------------
def _rows(ed: _Edit, k: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Apply `fn` to the output rows of weight `k` and to its bias, if any."""
    ed[k] = fn(ed[k])
    b = k[: -len("weight")] + "bias"
    if b in ed:
        ed[b] = fn(ed[b])


def rescale_attention(sd: Tensors, cfg: dict, gen: torch.Generator | None = None,
                      lo: float = 0.5, hi: float = 2.0) -> Tensors:
    """Per layer and kv group: q (of every query head reading the group) by c and k by 1/c, so
    q.k is unchanged; v by c' and the matching columns of o by 1/c'. Biases follow their weights."""
    lay = _Layout(sd, cfg)
    gen = _gen(gen)
    ed = _Edit(sd, lay)
    rep = lay.n_heads // lay.n_kv
    for i in range(lay.n_layers):
        c, cv = _factors(lay.n_kv, gen, lo, hi), _factors(lay.n_kv, gen, lo, hi)
        per_q = c.repeat_interleave(rep * lay.hd)  # query head h reads group h // rep
        per_k = c.repeat_interleave(lay.hd)
        vd = ed[lay.attn(i, "v")].shape[0] // lay.n_kv
        _rows(ed, lay.attn(i, "q"), lambda W: W * per_q.view(-1, *[1] * (W.dim() - 1)))
        _rows(ed, lay.attn(i, "k"), lambda W: W / per_k.view(-1, *[1] * (W.dim() - 1)))
        _rows(ed, lay.attn(i, "v"), lambda W: W * cv.repeat_interleave(vd).view(-1, *[1] * (W.dim() - 1)))
        ed[lay.attn(i, "o")] = ed[lay.attn(i, "o")] / cv.repeat_interleave(rep * vd)
    return ed.result()


def _blocks(order: torch.Tensor, size: int) -> torch.Tensor:
    """Block order -> element order, for blocks of `size` consecutive rows."""
    return (order.view(-1, 1) * size + torch.arange(size)).reshape(-1)


def permute_heads(sd: Tensors, cfg: dict, gen: torch.Generator | None = None) -> Tensors:
    """Reorder attention heads, respecting grouped-query attention.

    The kv groups are permuted (k and v rows), the query heads that read each group move with
    it, and the query heads within a group are permuted too (q rows, o's column blocks). New
    query head h is old head qperm[h], and it reads new group h // rep = old group gperm[h // rep],
    which is the group old head qperm[h] read: Hugging Face's repeat_kv pairing is kept.
    """
    lay = _Layout(sd, cfg)
    gen = _gen(gen)
    ed = _Edit(sd, lay)
    rep = lay.n_heads // lay.n_kv
    for i in range(lay.n_layers):
        gperm = torch.randperm(lay.n_kv, generator=gen)
        qperm = torch.cat([g * rep + torch.randperm(rep, generator=gen) for g in gperm.tolist()])
        vd = ed[lay.attn(i, "v")].shape[0] // lay.n_kv
        qi, ki, vi, oi = (_blocks(qperm, lay.hd), _blocks(gperm, lay.hd), _blocks(gperm, vd),
                          _blocks(qperm, vd))
        _rows(ed, lay.attn(i, "q"), lambda W: W[qi])
        _rows(ed, lay.attn(i, "k"), lambda W: W[ki])
        _rows(ed, lay.attn(i, "v"), lambda W: W[vi])
        ed[lay.attn(i, "o")] = ed[lay.attn(i, "o")][:, oi]
    return ed.result()


def permute_ffn(sd: Tensors, cfg: dict, gen: torch.Generator | None = None, rescale: bool = True,
                lo: float = 0.5, hi: float = 2.0) -> Tensors:
    """FFN neurons permuted (gate and up rows, down columns together) and, with `rescale`, up's
    rows multiplied by c and down's columns by 1/c (c log-uniform in [lo, hi], random sign):
    down(silu(gate x) * c up x) / c is the original."""
    lay = _Layout(sd, cfg)
    gen = _gen(gen)
    ed = _Edit(sd, lay)
    for i in range(lay.n_layers):
        F = ed[lay.mlp(i, "up")].shape[0]
        perm = torch.randperm(F, generator=gen)
        c = _factors(F, gen, lo, hi, signed=True) if rescale else torch.ones(F, dtype=torch.float64)
        _rows(ed, lay.mlp(i, "gate"), lambda W: W[perm])
        _rows(ed, lay.mlp(i, "up"), lambda W: W[perm] * c.view(-1, *[1] * (W.dim() - 1)))
        ed[lay.mlp(i, "down")] = ed[lay.mlp(i, "down")][:, perm] / c
    return ed.result()


# ---- token-id attacks ----------------------------------------------------------------------------
_ID_KEYS_SUFFIX = "_token_id"


def _remap_id_keys(d: dict, new_of_old: Callable[[int], int]) -> dict:
    """bos_token_id, eos_token_id (int or list), pad_token_id, ... remapped; nested text_config too."""
    out = dict(d)
    for k, v in d.items():
        if k.endswith(_ID_KEYS_SUFFIX) or k.endswith(_ID_KEYS_SUFFIX + "s"):
            if isinstance(v, bool):
                continue
            if isinstance(v, int):
                out[k] = new_of_old(v)
            elif isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                out[k] = [new_of_old(x) for x in v]
        elif isinstance(v, dict) and k == "text_config":
            out[k] = _remap_id_keys(v, new_of_old)
    return out


def _remap_post_processor(pp, new_of_old):
    if isinstance(pp, list):
        return [_remap_post_processor(x, new_of_old) for x in pp]
    if not isinstance(pp, dict):
        return pp
    out = {}
    for k, v in pp.items():
        if k == "special_tokens" and isinstance(v, dict):  # TemplateProcessing
            out[k] = {name: dict(t, ids=[new_of_old(x) for x in t.get("ids", [])]) for name, t in v.items()}
        elif k in ("sep", "cls") and isinstance(v, list) and len(v) == 2 and isinstance(v[1], int):
            out[k] = [v[0], new_of_old(v[1])]  # BertProcessing / RobertaProcessing
        else:
            out[k] = _remap_post_processor(v, new_of_old)
    return out


def tokenizer_size(tj: dict) -> int:
    """1 + the largest id a tokenizer.json assigns."""
    raw = tj["model"].get("vocab")
    ids = list(range(len(raw))) if isinstance(raw, list) else list((raw or {}).values())
    ids += [a["id"] for a in tj.get("added_tokens") or []]
    return max(ids) + 1 if ids else 0


def remap_tokenizer(tj: dict, new_of_old: Sequence[int]) -> dict:
    """A tokenizer.json whose token with old id i has id new_of_old[i] (ids beyond the map stay)."""
    tj = copy.deepcopy(tj)
    n = len(new_of_old)

    def f(i: int) -> int:
        return int(new_of_old[i]) if 0 <= i < n else i

    model = tj["model"]
    raw = model.get("vocab")
    if isinstance(raw, list):  # Unigram: [[piece, score], ...] in id order
        new = [None] * len(raw)
        for i, entry in enumerate(raw):
            new[f(i)] = entry
        if any(e is None for e in new):
            raise FingerprintError("token permutation would leave holes in a Unigram vocabulary")
        model["vocab"] = new
        if isinstance(model.get("unk_id"), int):
            model["unk_id"] = f(model["unk_id"])
    elif isinstance(raw, dict):
        model["vocab"] = {t: f(i) for t, i in raw.items()}
    else:
        raise FingerprintError("tokenizer.json: model has no vocabulary")
    added = [dict(a, id=f(a["id"])) for a in tj.get("added_tokens") or []]
    tj["added_tokens"] = sorted(added, key=lambda a: a["id"])
    if tj.get("post_processor"):
        tj["post_processor"] = _remap_post_processor(tj["post_processor"], f)
    return tj


def _remap_tokenizer_config(tc: dict, f: Callable[[int], int]) -> dict:
    tc = _remap_id_keys(tc, f)
    if isinstance(tc.get("added_tokens_decoder"), dict):
        tc["added_tokens_decoder"] = {str(f(int(k))): v for k, v in tc["added_tokens_decoder"].items()}
    return tc


def permute_tokens(state: ModelState, order: torch.Tensor | None = None,
                   gen: torch.Generator | None = None) -> ModelState:
    """Token ids reordered: the attacked model's token j is the original's token order[j].

    Embedding and lm_head rows, the tokenizer (vocabulary, added tokens, post-processor ids) and
    every ``*_token_id`` in the config and side files move consistently. Without an explicit
    order, the ids the tokenizer uses are shuffled (padding rows past them stay in place).
    """
    sd, cfg = state.tensors, state.config
    lay = _Layout(sd, cfg)
    V = sd[lay.emb].shape[0]
    if order is None:
        n = V
        if state.tokenizer is not None:
            raw = state.tokenizer["model"].get("vocab")
            n = len(raw) if isinstance(raw, list) else min(V, tokenizer_size(state.tokenizer))
        order = torch.cat([torch.randperm(n, generator=_gen(gen)), torch.arange(n, V)])
    order = torch.as_tensor(order, dtype=torch.long)
    if sorted(order.tolist()) != list(range(V)):
        raise FingerprintError(f"token order must be a permutation of range({V})")
    new_of_old = torch.empty_like(order)
    new_of_old[order] = torch.arange(V)
    out = dict(sd)
    out[lay.emb] = sd[lay.emb][order].contiguous()
    if lay.lm_head is not None:
        out[lay.lm_head] = sd[lay.lm_head][order].contiguous()
    f = lambda i: int(new_of_old[i]) if 0 <= i < V else i  # noqa: E731
    side = dict(state.side)
    if "generation_config.json" in side:
        side["generation_config.json"] = _remap_id_keys(side["generation_config.json"], f)
    if "tokenizer_config.json" in side:
        side["tokenizer_config.json"] = _remap_tokenizer_config(side["tokenizer_config.json"], f)
    tj = remap_tokenizer(state.tokenizer, new_of_old.tolist()) if state.tokenizer is not None else None
    return ModelState(out, _remap_id_keys(cfg, f), tj, side, vocab_changed=True)


def _styled(ch: str, tj: dict) -> str:
    """A character written the way this tokenizer writes its vocabulary."""
    text = json.dumps({k: tj.get(k) for k in ("pre_tokenizer", "decoder", "normalizer")})
    if '"ByteLevel"' in text:
        from .vocab import _byte_decoder
        enc = {b: c for c, b in _byte_decoder().items()}
        return "".join(enc[b] for b in ch.encode("utf-8"))
    return ch


def extend_vocab(state: ModelState, n_new: int | None = None, gen: torch.Generator | None = None) -> ModelState:
    """Append `n_new` tokens (default: an eighth of the vocabulary), as a Chinese extension of
    LLaMA does: CJK characters (U+4E00 on) as new tokenizer entries, and new rows on the
    embedding and lm_head, initialised at the mean row plus noise of the rows' spread. The old
    tokens keep their ids and rows, so the model's logits over them are unchanged."""
    sd, cfg = state.tensors, state.config
    lay = _Layout(sd, cfg)
    gen = _gen(gen)
    V = sd[lay.emb].shape[0]
    n_new = max(1, V // 8) if n_new is None else int(n_new)
    out = dict(sd)
    for k in [lay.emb] + ([lay.lm_head] if lay.lm_head is not None else []):
        W = sd[k].double()
        noise = torch.randn(n_new, W.shape[1], dtype=torch.float64, generator=gen) * W.std(dim=0)
        out[k] = torch.cat([W, W.mean(dim=0) + noise]).to(sd[k].dtype).contiguous()
    tj = state.tokenizer
    if tj is not None:
        tj = copy.deepcopy(tj)
        raw = tj["model"].get("vocab")
        if isinstance(raw, list) and len(raw) != V:
            raise FingerprintError(f"cannot extend a Unigram vocabulary of {len(raw)} pieces on {V} embedding rows")
        have = {e[0] for e in raw} if isinstance(raw, list) else set(raw)
        have |= {a["content"] for a in tj.get("added_tokens") or []}
        new_ids = iter(range(V, V + n_new))
        cp = 0x4E00
        while True:
            tok = _styled(chr(cp), tj)
            cp += 1
            if tok in have:
                continue
            i = next(new_ids, None)
            if i is None:
                break
            if isinstance(raw, list):
                raw.append([tok, min(e[1] for e in raw) if raw else 0.0])
            else:
                raw[tok] = i
    cfg = dict(cfg, vocab_size=V + n_new)
    if isinstance(cfg.get("text_config"), dict) and "vocab_size" in cfg["text_config"]:
        cfg["text_config"] = dict(cfg["text_config"], vocab_size=V + n_new)
    return ModelState(out, cfg, tj, dict(state.side), vocab_changed=True)


# ---- dtype casts ---------------------------------------------------------------------------------
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def cast(sd: Tensors, cfg: dict, dtype: torch.dtype) -> tuple[Tensors, dict]:
    """Every floating-point tensor cast to `dtype`; the config's dtype follows."""
    out = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()}
    name = str(dtype).replace("torch.", "")
    cfg = dict(cfg)
    for key in ("dtype", "torch_dtype"):
        if key in cfg or key == "dtype":
            cfg[key] = name
    return out, cfg


# ---- the registry used by save_attacked ----------------------------------------------------------
def _tensor_attack(fn):
    def run(state: ModelState, gen: torch.Generator) -> ModelState:
        res = fn(state.tensors, state.config, gen=gen)
        sd, cfg = res if isinstance(res, tuple) else (res, state.config)
        return ModelState(sd, cfg, state.tokenizer, state.side, state.vocab_changed)
    run.__doc__ = fn.__doc__
    return run


def _cast_attack(dtype):
    def run(state: ModelState, gen: torch.Generator) -> ModelState:
        sd, cfg = cast(state.tensors, state.config, dtype)
        return ModelState(sd, cfg, state.tokenizer, state.side, state.vocab_changed)
    return run


def _fold_attack(state: ModelState, gen: torch.Generator) -> ModelState:
    sd, cfg = fold_norms(state.tensors, state.config)
    return ModelState(sd, cfg, state.tokenizer, state.side, state.vocab_changed)


Attack = Callable[[ModelState, torch.Generator], ModelState]

ATTACKS: dict[str, Attack] = {
    "permute_residual": _tensor_attack(permute_residual),
    "fold_norms": _fold_attack,
    "rotate_residual": _tensor_attack(rotate_residual),
    "rescale_attention": _tensor_attack(rescale_attention),
    "permute_heads": _tensor_attack(permute_heads),
    "permute_ffn": _tensor_attack(permute_ffn),
    "transfer_norm_gains": _tensor_attack(transfer_norm_gains),
    "permute_tokens": lambda s, g: permute_tokens(s, gen=g),
    "extend_vocab": lambda s, g: extend_vocab(s, gen=g),
    "cast_fp32": _cast_attack(torch.float32),
    "cast_bf16": _cast_attack(torch.bfloat16),
    "cast_fp16": _cast_attack(torch.float16),
}

# The attacks that keep every output exactly (up to one rounding to the model's dtype).
EXACT = ("permute_residual", "fold_norms", "rotate_residual", "rescale_attention", "permute_heads",
         "permute_ffn", "transfer_norm_gains", "permute_tokens", "extend_vocab")


def apply(state: ModelState, attack: Union[str, Attack, Sequence[Union[str, Attack]]], seed: int = 0) -> ModelState:
    """Apply one attack (a name of `ATTACKS`, or a callable) or several in sequence.

    Names may be joined with commas ("permute_residual,cast_bf16"). The k-th attack draws its
    randomness from a generator seeded with (seed, k), so a run is reproducible.
    """
    if isinstance(attack, str):
        attack = [a.strip() for a in attack.split(",") if a.strip()]
    elif callable(attack):
        attack = [attack]
    for k, a in enumerate(attack):
        if isinstance(a, str):
            if a not in ATTACKS:
                raise FingerprintError(f"unknown attack '{a}'; known: {', '.join(ATTACKS)}")
            a = ATTACKS[a]
        state = a(state, torch.Generator().manual_seed(seed * 1000003 + k))
    return state


# ---- reading and writing model directories -------------------------------------------------------
_WEIGHT_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
_SIDE_FILES = ("generation_config.json", "tokenizer_config.json")
# Slow-tokenizer files that a changed vocabulary would contradict; tokenizer.json replaces them.
_STALE_VOCAB_FILES = ("vocab.json", "merges.txt", "vocab.txt", "tokenizer.model", "spiece.model",
                      "added_tokens.json")


def _is_weight_file(p: Path) -> bool:
    return p.name in _WEIGHT_FILES or p.suffix == ".safetensors" or (p.name.startswith("pytorch_model") and p.suffix == ".bin")


def load_model_dir(directory: str | Path) -> ModelState:
    """A Hugging Face model directory (safetensors or .bin, single or sharded) read whole."""
    from safetensors.torch import load_file

    from .formats.safetensors_dir import load_torch_weights, read_config

    d = Path(directory)
    cfg = read_config(d)
    files = sorted(d.glob("*.safetensors"))
    if files:
        sd: Tensors = {}
        for f in files:
            sd.update(load_file(str(f)))
    else:
        bins = sorted(d.glob("pytorch_model*.bin"))
        if not bins:
            raise FingerprintError(f"{d}: no safetensors or pytorch_model*.bin weights")
        sd = {}
        for f in bins:
            sd.update(load_torch_weights(str(f)))
    tj = json.loads((d / "tokenizer.json").read_text(encoding="utf-8")) if (d / "tokenizer.json").is_file() else None
    side = {n: json.loads((d / n).read_text(encoding="utf-8")) for n in _SIDE_FILES if (d / n).is_file()}
    return ModelState(sd, cfg, tj, side)


def save_model_dir(state: ModelState, dst: str | Path, src: str | Path | None = None,
                   max_shard_bytes: int = 4 << 30) -> Path:
    """Write a complete model directory: safetensors weights (sharded past `max_shard_bytes`),
    config.json, tokenizer.json, the side files, and every other file of `src` unchanged
    (except slow-tokenizer files when the vocabulary changed)."""
    from safetensors.torch import save_file

    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    if src is not None:
        for p in Path(src).iterdir():
            if (p.is_file() and not _is_weight_file(p) and p.name not in ("config.json", "tokenizer.json") + _SIDE_FILES
                    and not (state.vocab_changed and p.name in _STALE_VOCAB_FILES)):
                shutil.copy2(p, dst / p.name)
    if state.tokenizer is None and state.vocab_changed and src is not None and any(
            (Path(src) / n).is_file() for n in _STALE_VOCAB_FILES):
        raise FingerprintError(f"{src}: token attacks need a tokenizer.json (the slow tokenizer files cannot be remapped)")
    names = sorted(state.tensors)
    shards: list[list[str]] = [[]]
    size = 0
    for n in names:
        b = state.tensors[n].numel() * state.tensors[n].element_size()
        if shards[-1] and size + b > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(n)
        size += b
    meta = {"format": "pt"}
    if len(shards) == 1:
        save_file({n: state.tensors[n].contiguous() for n in names}, str(dst / "model.safetensors"), metadata=meta)
    else:
        wm = {}
        total = sum(t.numel() * t.element_size() for t in state.tensors.values())
        for j, group in enumerate(shards):
            fname = f"model-{j + 1:05d}-of-{len(shards):05d}.safetensors"
            save_file({n: state.tensors[n].contiguous() for n in group}, str(dst / fname), metadata=meta)
            wm.update({n: fname for n in group})
        (dst / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {"total_size": total}, "weight_map": wm}, indent=2))
    (dst / "config.json").write_text(json.dumps(state.config, indent=2, ensure_ascii=False))
    if state.tokenizer is not None:
        (dst / "tokenizer.json").write_text(json.dumps(state.tokenizer, ensure_ascii=False), encoding="utf-8")
    for n, obj in state.side.items():
        (dst / n).write_text(json.dumps(obj, indent=2, ensure_ascii=False), encoding="utf-8")
    return dst


def save_attacked(src_dir: str | Path, dst_dir: str | Path,
                  attack: Union[str, Attack, Sequence[Union[str, Attack]]], seed: int = 0) -> Path:
    """Read the model directory `src_dir`, apply `attack` (see `apply`) and write the attacked
    model as a complete directory `dst_dir` (which must not be `src_dir`)."""
    src, dst = Path(src_dir), Path(dst_dir)
    if dst.exists() and dst.resolve() == src.resolve():
        raise FingerprintError("save_attacked: the destination must differ from the source")
    state = apply(load_model_dir(src), attack, seed)
    return save_model_dir(state, dst, src)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m readable_fp.attacks",
                                 description="Write a function-preserving attacked copy of a Llama-layout model.")
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("attack", help=f"comma-separated, applied in order: {', '.join(ATTACKS)}")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        save_attacked(args.src, args.dst, args.attack, args.seed)
    except FingerprintError as e:
        print(f"readable-fp: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
