"""The web UI's results as HTML and Markdown: a dog with alt text, the verdict as a badge and one
sentence, the statistics, and the per-term table's legend.

Everything shown comes from one reading: a comparison's dogs are drawn from the terms it compared
(`fingerprint.from_invariants`), so the pictures and the number beside them cannot disagree.
Text read from files or typed by users is escaped here, once.
"""
from __future__ import annotations

import base64
import re
from html import escape

from .errors import printable

VERDICTS = {  # verdict -> (badge text, CSS class)
    "same base": ("Same base", "rfp-same"),
    "independent": ("Independent", "rfp-indep"),
    "inconclusive": ("Inconclusive", "rfp-unsure"),
    None: ("No verdict", "rfp-none"),
}
TERM_NAMES = {"attn": "attention pattern (query-key)", "ov": "attention output (value-output)",
              "ffn": "feed-forward"}
LEGEND = ("**Similarity per term** (0-100): how alike the two models' invariant terms are, one row per term and "
          "layer, after the structure every language model shares is taken out. 100 = the same weights up to "
          "rearrangement; fine-tunes of one base score high; independent models score near 0 (chance can go "
          "slightly below 0, shown as 0). *Attention pattern*: which tokens attend to which (W_Q W_K^T). "
          "*Attention output*: what attention writes (W_V W_O). *Feed-forward*: the MLP block, linearised.")


def text(s: str) -> str:
    """A user's or a file's string, safe inside HTML."""
    return escape(printable(str(s)))


def md_text(s: str) -> str:
    """A user's or a file's string, shown literally in Markdown (file patterns like *.gguf are not emphasis)."""
    return re.sub(r"([\\`*_{}\[\]()#+!|<>~])", r"\\\1", printable(str(s)))


def alt_text(fp, name: str) -> str:
    """What the dog looks like and whose it is."""
    from .renderers import VECTOR, credit

    if fp.record["renderer"]["name"] == VECTOR:
        from .vector_dog import describe
        look = describe(fp.latent)
    else:
        look = f"a photographic dog drawn by {credit(fp.record['renderer'])}"
    marked = " A dark band reads 'keyed by token ids (no tokenizer)'." if fp.record["model"]["probe_keying"] == "token ids" else ""
    return f"Fingerprint of {printable(name)}: {look}.{marked}"


def drawn_by(fp) -> str:
    from .renderers import credit
    return "Drawn by " + credit(fp.record["renderer"])


def dog(fp, name: str, caption: str | None = None) -> str:
    """The dog as an image with alt text, captioned with its name and the renderer that drew it."""
    data = base64.b64encode(fp.png).decode("ascii")
    return (f'<figure class="rfp-dog"><img src="data:image/png;base64,{data}" alt="{text(alt_text(fp, name))}" '
            f'width="256" height="256"><figcaption>{text(caption or name)}'
            f'<span class="rfp-drawn">{text(drawn_by(fp))}</span></figcaption></figure>')


def id_note(fp) -> str:
    """Said beside a dog keyed by token ids; empty otherwise."""
    if fp.record["model"]["probe_keying"] != "token ids":
        return ""
    return ('<p class="rfp-note" role="note"><strong>No tokenizer files:</strong> this model was read by token id, '
            "not by token string, so its dog (marked with a band) can be compared only with dogs made the same way. "
            "Upload its tokenizer files (tokenizer.json, vocab.txt, ...) with it for a dog comparable with "
            "everyone's.</p>")


def fingerprint_view(fp, name: str) -> str:
    m = fp.record["model"]
    facts = f"{m['architecture']}, {m['format']} {m['dtype']}, layers {', '.join(map(str, m['layers']))} of {m['n_layers']}"
    return (f'<div class="rfp-result">{dog(fp, name)}{id_note(fp)}'
            f'<p class="rfp-facts">{text(facts)}</p></div>')


def sentence(res) -> str:
    """The verdict in one plain sentence."""
    cal, ics = res.calibration, f"{res.ics:.1f}"
    if cal is None:
        return f"Similarity {ics} of 100. There is no reference set of independent pairs for this setting, so no verdict."
    if cal.verdict == "same base":
        return (f"These models share a base: their similarity, {ics} of 100, is far above what independent models "
                f"reach (p = {cal.p:.1g}).")
    if cal.verdict == "independent":
        return f"These models look independent: their similarity, {ics} of 100, is what unrelated models score."
    return (f"Unclear: their similarity, {ics} of 100, is higher than most independent pairs reach, but not high "
            f"enough to say they share a base (p = {cal.p:.2g}).")


def verdict(res) -> str:
    label, cls = VERDICTS[res.verdict]
    return (f'<div class="rfp-verdict" role="status"><span class="rfp-badge {cls}">{label}</span>'
            f"<p>{text(sentence(res))}</p></div>")


def comparison_view(res, fa, fb, name_a: str, name_b: str) -> str:
    """The verdict above both dogs; the dogs come from the terms the verdict was computed on."""
    note = (f"Both dogs are drawn from the {res.n_tokens} probe tokens the two models share: the reading the "
            "verdict comes from.")
    if fa.record["model"]["probe_keying"] == "token ids":
        note = ("At least one model has no tokenizer files, so both were read by token id, not by token string: "
                "these two dogs (marked with a band) can be compared with each other, not with dogs made from "
                "token strings. " + note)
    return (f'<div class="rfp-result">{verdict(res)}<div class="rfp-pair">'
            f'{dog(fa, name_a, "A: " + name_a)}{dog(fb, name_b, "B: " + name_b)}</div>'
            f'<p class="rfp-note">{text(note)}</p></div>')


def statistics(res) -> str:
    """Markdown for the collapsible statistics."""
    lines = [f"- Similarity (ICS): **{res.ics:.2f}** of 100, on {res.n_tokens} shared probe tokens"]
    cal = res.calibration
    if cal:
        lines += [f"- Verdict: {cal.verdict}; p = {cal.p:.2g}, z = {cal.z:.1f} against {cal.n_pairs} independent pairs "
                  f"({md_text(cal.group)}: mean {cal.null_mean:.2f}, sd {cal.null_sd:.2f})",
                  f"- 'Same base' above {cal.same_base_above:.1f}, a false-positive rate of {cal.alpha:g}; "
                  "'independent' when p >= 0.05"]
    lines += [f"- {md_text(w)}" for w in res.why()]
    for tag, m in zip("AB", res.models):
        lines.append(f"- {tag}: {md_text(m.get('architecture', '?'))}, {md_text(m.get('format', '?'))} "
                     f"{md_text(m.get('dtype', '?'))}, {m.get('bytes_read', 0) / 1e6:.1f} MB read")
    return "\n".join(lines)


def term_rows(res) -> list[list]:
    return [[TERM_NAMES.get(t.term, t.term), t.layer_a, t.layer_b, round(max(t.ics, 0.0), 1)] for t in res.terms]


CSS = """
.rfp-dog { margin: 0; text-align: center; width: 256px; flex: 0 0 256px; }
.rfp-dog img { width: 256px; height: 256px; border-radius: 8px; }
.rfp-dog figcaption { font-size: 0.9rem; overflow-wrap: anywhere; }
.rfp-drawn { display: block; font-size: 0.8rem; }
.rfp-pair { display: flex; gap: 16px; justify-content: center; flex-wrap: wrap; }
.rfp-verdict { display: flex; align-items: center; gap: 12px; margin-bottom: 12px; }
.rfp-verdict p { margin: 0; }
.rfp-badge { color: #ffffff; font-weight: 700; padding: 6px 14px; border-radius: 999px; white-space: nowrap; }
.rfp-same { background: #1b6e3a; }
.rfp-indep { background: #37474f; }
.rfp-unsure { background: #8a5a00; }
.rfp-none { background: #555555; }
.rfp-note { font-size: 0.9rem; }
"""
