"""Held-out metrics of the trained encoder and the two untrained baselines:
`python -m encoder_training.evaluate` prints the table and writes `pretrained/encoder.json`.

For every encoder, over the pairs of `encoder_training.heldout`:
- fidelity: Spearman correlation between a pair's ICS and the cosine of its two latents (all
  pairs, related pairs only, and per group);
- separation: related pairs with ICS >= 95 should have latent cosine >= 0.9, independent pairs
  |latent cosine| <= 0.15; the margin is (lowest such related cosine) - (highest independent |cosine|);
- Gaussianity, on the latents of the independent bases: per-dimension mean and std, and a
  Kolmogorov-Smirnov test of all their coordinates pooled against N(0, 1);
- speed (sketch + encode of SmolLM2's 4096-token terms) and byte-identical repeat runs.
The reduction's own cost (sketch cosine against exact ICS) is reported beside them.

The library's default encoder is the trained one only if it beats both baselines on fidelity
*and* separation; otherwise the best of the three by fidelity (then separation), and the
record says so.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

from readable_fp import encoder as enc_mod
from readable_fp.encoder import RECORD, WEIGHTS, cosine

from .heldout import CACHE, build

RELATED_ICS = 95.0
RELATED_COS = 0.9
UNRELATED_COS = 0.15
KS_ALPHA = 0.01


def metrics(h, Z: dict[str, np.ndarray]) -> dict:
    cos = np.array([cosine(Z[p.a], Z[p.b]) for p in h.pairs])
    ics = np.array([p.ics for p in h.pairs])
    groups = sorted({p.group for p in h.pairs})
    out = {"spearman": float(stats.spearmanr(ics, cos).statistic)}
    related = np.array([p.related for p in h.pairs])
    out["spearman[related pairs only]"] = float(stats.spearmanr(ics[related], cos[related]).statistic)
    for g in groups:
        m = np.array([p.group == g for p in h.pairs])
        if len(set(ics[m])) > 2 and m.sum() > 2:
            out[f"spearman[{g}]"] = float(stats.spearmanr(ics[m], cos[m]).statistic)
    rel = np.array([p.related and p.ics >= RELATED_ICS for p in h.pairs])
    ind = np.array([not p.related for p in h.pairs])
    out["related_n"] = int(rel.sum())
    out["related_min_cos"] = float(cos[rel].min())
    out["related_frac_ok"] = float((cos[rel] >= RELATED_COS).mean())
    out["independent_n"] = int(ind.sum())
    out["independent_max_abs_cos"] = float(np.abs(cos[ind]).max())
    out["independent_frac_ok"] = float((np.abs(cos[ind]) <= UNRELATED_COS).mean())
    out["margin"] = out["related_min_cos"] - out["independent_max_abs_cos"]
    for g in groups:
        m = ind & np.array([p.group == g for p in h.pairs])
        if m.any():
            out[f"independent_max_abs_cos[{g}]"] = float(np.abs(cos[m]).max())
    L = np.stack([Z[n] for n in h.independent]).astype(np.float64)
    ks = stats.kstest(L.ravel(), "norm")
    out["gauss_n_latents"] = len(L)
    out["gauss_dim_mean_abs"] = float(np.abs(L.mean(0)).mean())
    out["gauss_dim_std_mean"] = float(L.std(0).mean())
    out["gauss_dim_std_range"] = [float(L.std(0).min()), float(L.std(0).max())]
    out["ks_statistic"] = float(ks.statistic)
    out["ks_p"] = float(ks.pvalue)
    out["ks_rejects_at_1pct"] = bool(ks.pvalue < KS_ALPHA)
    out["pair_cosines"] = [round(float(c), 5) for c in cos]
    return out


def speed_and_determinism(encoder, inv) -> dict:
    times = []
    first = None
    same = True
    for _ in range(5):
        t0 = time.perf_counter()
        z = encoder.encode(inv)
        times.append(time.perf_counter() - t0)
        if first is None:
            first = z.tobytes()
        same &= z.tobytes() == first
    return {"encode_seconds_median": statistics.median(times), "identical_bytes_5_runs": bool(same)}


def choose_default(m: dict[str, dict]) -> tuple[str, str]:
    t, base = m["trained"], [m["random-projection"], m["mean-pool"]]
    if all(t["spearman"] > b["spearman"] and t["margin"] > b["margin"] for b in base):
        return "trained", "the trained encoder beats both baselines on fidelity and separation"
    best = max(m, key=lambda k: (round(m[k]["spearman"], 4), m[k]["margin"]))
    return best, (f"the trained encoder does not beat both baselines on fidelity and separation; "
                  f"'{best}' has the best fidelity (Spearman {m[best]['spearman']:.4f})")


def table(m: dict[str, dict], reduction: dict) -> str:
    rows = [("Spearman(ICS, latent cos), all pairs", "spearman", "{:.4f}")]
    for k in m["trained"]:
        if k.startswith("spearman["):
            rows.append((f"  {k[9:-1]}", k, "{:.4f}"))
    rows += [("related (ICS>=95): min cos", "related_min_cos", "{:.4f}"),
             ("related: fraction cos >= 0.9", "related_frac_ok", "{:.3f}"),
             ("independent: max |cos|", "independent_max_abs_cos", "{:.4f}"),
             ("independent: fraction |cos| <= 0.15", "independent_frac_ok", "{:.3f}"),
             ("margin (related min - independent max)", "margin", "{:.4f}"),
             ("per-dim mean, mean |.|", "gauss_dim_mean_abs", "{:.4f}"),
             ("per-dim std, mean", "gauss_dim_std_mean", "{:.4f}"),
             ("KS statistic vs N(0,1)", "ks_statistic", "{:.4f}"),
             ("KS p-value", "ks_p", "{:.3g}"),
             ("encode seconds (T=4096)", "encode_seconds_median", "{:.3f}"),
             ("same bytes on 5 runs", "identical_bytes_5_runs", "{}")]
    names = list(m)
    w = max(len(r[0]) for r in rows) + 2
    out = [f"{'':<{w}}" + "".join(f"{n:>20}" for n in names)]
    for label, key, fmt in rows:
        out.append(f"{label:<{w}}" + "".join(f"{fmt.format(m[n][key]):>20}" for n in names))
    out.append("")
    out.append(f"reduction (6 x 64 x 64 sketch) vs exact ICS over {reduction['pairs']} pairs: "
               f"Spearman {reduction['spearman']:.4f}, mean |diff| {reduction['mean_abs_diff']:.2f}, "
               f"max |diff| {reduction['max_abs_diff']:.2f} ICS points")
    return "\n".join(out)


def evaluate(weights: Path = WEIGHTS, record: Path = RECORD, cache: Path = CACHE, progress: bool = True) -> dict:
    h = build(cache, progress)
    encoders = {"trained": enc_mod.load_trained(weights), "random-projection": enc_mod.RandomProjection(),
                "mean-pool": enc_mod.MeanPool()}
    m = {}
    for name, e in encoders.items():
        m[name] = metrics(h, {item: e.encode(inv) for item, inv in h.items.items()})
        m[name].update(speed_and_determinism(e, h.items["SmolLM2-135M"]))
    ics = np.array([p.ics for p in h.pairs])
    sk = np.array([p.sketch_cos for p in h.pairs])
    reduction = {"pairs": len(h.pairs), "spearman": float(stats.spearmanr(ics, sk).statistic),
                 "mean_abs_diff": float(np.abs(ics - sk).mean()), "max_abs_diff": float(np.abs(ics - sk).max())}
    default, why = choose_default(m)
    print(table(m, reduction))
    print(f"\ndefault encoder: {default} ({why})")
    pairs = [{"a": p.a, "b": p.b, "group": p.group, "related": p.related, "ics": round(p.ics, 3),
              "sketch_cos": round(p.sketch_cos, 3), **{n: m[n]["pair_cosines"][i] for n in m}}
             for i, p in enumerate(h.pairs)]
    for n in m:
        m[n].pop("pair_cosines")
    training = {}
    tr = Path(weights).with_name("encoder_training_record.json")
    if tr.is_file():
        t = json.loads(tr.read_text())
        training = {k: t[k] for k in ("config", "final", "device", "data_seconds", "train_seconds", "torch", "pool")}
    rec = {"default": default, "why": why, "metrics": m, "reduction": reduction, "training": training,
           "thresholds": {"related_ics": RELATED_ICS, "related_cos": RELATED_COS, "unrelated_cos": UNRELATED_COS,
                          "ks_alpha": KS_ALPHA},
           "heldout": {"pairs": len(h.pairs), "groups": {g: sum(p.group == g for p in h.pairs) for g in sorted({p.group for p in h.pairs})},
                       "independent_latents": len(h.independent)}}
    Path(record).write_text(json.dumps(rec, indent=1) + "\n")
    Path(record).with_name("encoder_heldout_pairs.json").write_text(json.dumps(pairs, indent=1) + "\n")
    return rec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m encoder_training.evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=str(WEIGHTS))
    ap.add_argument("--record", default=str(RECORD), help="where to write the metrics JSON")
    ap.add_argument("--cache", default=str(CACHE), help="where held-out models are built (kept between runs)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    evaluate(Path(args.weights), Path(args.record), Path(args.cache), not args.no_progress)
    print(f"wrote {args.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
