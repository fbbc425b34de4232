"""Token strings and the choice of probe tokens.

Probe tokens are picked by *string*, never by id, so permuting token ids or appending new
tokens (a vocabulary extension) leaves the probe set of the shared tokens unchanged.

Every token string is first normalised to the text it stands for, so that tokenizers with
different conventions agree on the plain words they share: GPT-2 style byte-level pieces
(`Ġthe`) are decoded to bytes, SentencePiece pieces (`▁the`) get a real space, and WordPiece
pieces get a space at word starts (`the` -> ` the`, `##ing` -> `ing`). Special, control,
byte-fallback and unused tokens are never probes.

Ranking: offline we have no corpus frequencies (the published code used English Wikipedia),
so tokens are ranked by the SHA-256 of their normalised UTF-8 string and the lowest T are
taken. The order is intrinsic, deterministic, independent of ids and of which other tokens
exist, so two models sharing a base pick the same strings from the strings they share.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from .checkpoint import Vocab
from .errors import FingerprintError

_JUNK = re.compile(r"^(<0x[0-9A-Fa-f]{2}>|\[unused\d+\]|<unused\d+>|<\|[^|]*\|>|<extra_id_\d+>)$")


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: printable stand-in character -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def normalise(token: str, style: str) -> str:
    if style == "byte_bpe":
        dec = _byte_decoder()
        if all(ch in dec for ch in token):
            token = bytes(dec[ch] for ch in token).decode("utf-8", errors="backslashreplace")
    elif style == "sentencepiece":
        token = token.replace("▁", " ")
    elif style == "wordpiece":
        token = token[2:] if token.startswith("##") else " " + token
    return unicodedata.normalize("NFC", token)


def guess_style(tokens: list[str]) -> str:
    sample = tokens[: 50000]
    counts = {
        "byte_bpe": sum(t.startswith("Ġ") for t in sample),
        "sentencepiece": sum(t.startswith("▁") for t in sample),
        "wordpiece": sum(t.startswith("##") for t in sample),
    }
    best = max(counts, key=counts.get)
    return best if counts[best] >= max(1, len(sample) // 50) else "plain"


def probe_table(vocab: Vocab) -> dict[str, int]:
    """normalised string -> token id, over ordinary tokens whose string is unambiguous."""
    seen: dict[str, int] = {}
    dup: set[str] = set()
    for i, (tok, ok) in enumerate(zip(vocab.tokens, vocab.normal)):
        if not ok or not tok or _JUNK.match(tok):
            continue
        s = normalise(tok, vocab.style)
        if not s.strip():
            continue
        if s in seen:
            dup.add(s)
        else:
            seen[s] = i
    for s in dup:  # two ids for one string: neither can be matched by string alone
        del seen[s]
    return seen


def rank_key(s: str) -> bytes:
    return hashlib.sha256(s.encode("utf-8")).digest()


def choose_probes(tables: list[dict[str, int]], n: int) -> list[str]:
    """The n lowest-ranked strings present in every table (fewer if they share fewer)."""
    common = set(tables[0])
    for t in tables[1:]:
        common &= set(t)
    return sorted(common, key=rank_key)[:n]


# ---- reading vocabularies from Hugging Face tokenizer files -----------------------------------
def load_hf_vocab(directory: Path) -> Vocab | None:
    """tokenizer.json, else vocab.json (GPT-2), vocab.txt (WordPiece) or tokenizer.model."""
    from .paths import model_file, read_text

    d = Path(directory)
    if (p := model_file(d, "tokenizer.json")) is not None:
        return _from_tokenizer_json(p)
    if (p := model_file(d, "vocab.json")) is not None:
        try:
            v = json.loads(read_text(p, "tokenizer"))
        except (json.JSONDecodeError, RecursionError):
            raise FingerprintError(f"{p}: not valid JSON") from None
        return _from_id_map(v, set(), "byte_bpe", p)
    if (p := model_file(d, "vocab.txt")) is not None:
        lines = read_text(p, "tokenizer").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        special = {t for t in lines if t.startswith("[") and t.endswith("]")}
        return Vocab(lines, [t not in special for t in lines], "wordpiece")
    if (p := model_file(d, "tokenizer.model")) is not None:
        return _from_sentencepiece(p)
    return None


# Token ids are dense in every real tokenizer (262k is the largest vocabulary released); an id
# far beyond would only allocate a huge table of empty strings.
MAX_TOKEN_ID = (1 << 22) - 1


def _from_id_map(vocab, special: set[str], style: str, path: Path) -> Vocab:
    ok = isinstance(vocab, dict) and all(isinstance(t, str) and type(i) is int and 0 <= i <= MAX_TOKEN_ID
                                         for t, i in vocab.items())
    if not ok:
        raise FingerprintError(f"{path}: the vocabulary must map token strings to ids from 0 to {MAX_TOKEN_ID}")
    size = max(vocab.values()) + 1 if vocab else 0
    tokens = [""] * size
    for t, i in vocab.items():
        tokens[i] = t
    return Vocab(tokens, [bool(t) and t not in special for t in tokens], style)


def _from_tokenizer_json(path: Path) -> Vocab:
    from .paths import read_text

    try:
        tj = json.loads(read_text(path, "tokenizer"))
        model = tj["model"]
        added = tj.get("added_tokens") or []
        special = {a["content"] for a in added if a.get("special")}
        raw = model.get("vocab")
        if isinstance(raw, list):  # Unigram: [[piece, score], ...] in id order
            mapping = {p[0]: i for i, p in enumerate(raw)}
        elif isinstance(raw, dict):
            mapping = dict(raw)
        else:
            raise FingerprintError(f"{path}: tokenizer model has no vocabulary")
        for a in added:
            mapping.setdefault(a["content"], a["id"])
    except (json.JSONDecodeError, RecursionError, KeyError, TypeError, AttributeError, IndexError):
        raise FingerprintError(f"{path}: not a valid tokenizer.json") from None
    text = json.dumps({k: tj.get(k) for k in ("pre_tokenizer", "decoder")})
    if model.get("type") == "WordPiece" or '"WordPiece"' in text:
        style = "wordpiece"
    elif '"ByteLevel"' in text:
        style = "byte_bpe"
    elif '"Metaspace"' in text or "\u2581" in text or model.get("type") == "Unigram":
        style = "sentencepiece"
    else:
        style = guess_style([t for t in mapping if isinstance(t, str)])
    return _from_id_map(mapping, special, style, path)


def _from_sentencepiece(path: Path) -> Vocab:
    try:
        import sentencepiece as spm  # optional: only old-style SentencePiece-only repos need it
    except ImportError:
        raise FingerprintError(
            f"{path}: reading tokenizer.model needs the 'sentencepiece' package (or add a tokenizer.json)") from None
    sp = spm.SentencePieceProcessor(model_file=str(path))
    tokens = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    normal = [sp.is_unknown(i) is False and not sp.is_control(i) and not sp.is_byte(i) for i in range(len(tokens))]
    return Vocab(tokens, normal, "sentencepiece")
