"""Evaluate the procedural vector dog (readable_fp.vector_dog).

Writes to --out:
  contact_sheet.png               32 random latents, 8 x 4
  closest_independent_pair.png    the independent pair with the smallest distance, with its distance
  near_pairs.png                  a few (z, near copy at cosine 0.95, independent) triplets
  metrics.json                    AUC, distance stats, render times, SVG sizes, dimension check

Perceptual distance: 1 - SSIM (readable_fp.readability: gaussian window, sigma 1.5, per RGB
channel) on the 128 px renders; a blurred-L2 distance is reported as well. The same functions
judge the StyleGAN2 generator (gan_training/evaluate.py).
AUC = P(d(z, near) < d(z, independent)), from ranks (ties count one half).

    python bench/vector_dog_eval.py --out bench/results/vector_dog --n 200
"""
from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from readable_fp import vector_dog as vd
from readable_fp.readability import NEAR_COSINE, blur_l2_distance, near_copies, roc_auc_smaller, ssim_distance


def to_tensor(pngs: list[bytes]) -> torch.Tensor:
    """PNG bytes -> N x 3 x H x W float in [0, 1], the input of the shared distances."""
    arr = np.stack([np.asarray(Image.open(io.BytesIO(p)).convert("RGB")) for p in pngs])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0


def grid(images: list[Image.Image], cols: int, pad: int = 6, labels: list[str] | None = None) -> Image.Image:
    w, h = images[0].size
    lab = 14 if labels else 0
    rows = (len(images) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + pad + lab) + pad), "white")
    d = ImageDraw.Draw(sheet)
    for i, im in enumerate(images):
        x, y = pad + (i % cols) * (w + pad), pad + (i // cols) * (h + pad + lab)
        sheet.paste(im, (x, y))
        if labels:
            d.text((x + 2, y + h + 1), labels[i], fill="black")
    return sheet


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="bench/results/vector_dog")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--px", type=int, default=128, help="render size for the distances")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    n = args.n

    z = rng.standard_normal((n, vd.LATENT_DIM))
    zn = near_copies(torch.from_numpy(z), NEAR_COSINE, generator=torch.Generator().manual_seed(args.seed)).numpy()
    zi = rng.standard_normal((n, vd.LATENT_DIM))

    # timings (full size, 256 px)
    vd.render_png(z[0])  # warm-up (library load)
    t_svg, t_png, sizes = [], [], []
    for v in z:
        t0 = time.perf_counter()
        svg = vd.render_svg(v)
        t1 = time.perf_counter()
        vd.render_png(v)
        t2 = time.perf_counter()
        t_svg.append(t1 - t0)
        t_png.append(t2 - t1 + (t1 - t0))  # render_png includes the svg
        sizes.append(len(svg.encode()))

    def imgs(vs):
        return to_tensor([vd.render_png(v, size=args.px) for v in vs])

    iz, inn, ii = imgs(z), imgs(zn), imgs(zi)
    d_near, d_ind = ssim_distance(iz, inn).numpy(), ssim_distance(iz, ii).numpy()
    l_near, l_ind = blur_l2_distance(iz, inn).numpy(), blur_l2_distance(iz, ii).numpy()

    # closest pair among all independent latents (the n base latents, all pairs)
    best = (np.inf, -1, -1)
    for i in range(n - 1):
        d = ssim_distance(iz[i:i + 1].expand(n - 1 - i, -1, -1, -1), iz[i + 1:])
        j = int(d.argmin())
        if float(d[j]) < best[0]:
            best = (float(d[j]), i, i + 1 + j)
    d_best, bi, bj = best
    frac_near_below = float((d_near >= d_best).mean())

    # every dimension influences the SVG: perturb each one by +0.5
    z0 = z[0]
    base = vd.render_svg(z0)
    unchanged = []
    for k in range(vd.LATENT_DIM):
        v = z0.copy()
        v[k] += 0.5
        if vd.render_svg(v) == base:
            unchanged.append(k)
    p = vd.projection()
    min_rows_per_dim = int((np.abs(p) > 1e-6).sum(axis=0).min())

    metrics = {
        "n": n,
        "cos_near": NEAR_COSINE,
        "n_attributes": vd.N_ATTR,
        "auc_1_minus_ssim": roc_auc_smaller(d_near, d_ind),
        "auc_blurred_l2": roc_auc_smaller(l_near, l_ind),
        "d_near_1_minus_ssim": {"mean": float(d_near.mean()), "median": float(np.median(d_near)),
                                "p95": float(np.quantile(d_near, 0.95)), "max": float(d_near.max())},
        "d_indep_1_minus_ssim": {"mean": float(d_ind.mean()), "median": float(np.median(d_ind)),
                                 "p5": float(np.quantile(d_ind, 0.05)), "min": float(d_ind.min())},
        "closest_independent_pair": {"i": int(bi), "j": int(bj), "d_1_minus_ssim": float(d_best),
                                     "pairs_searched": n * (n - 1) // 2,
                                     "fraction_of_near_copies_at_or_above_it": frac_near_below},
        "render_ms_svg_median": 1000 * float(np.median(t_svg)),
        "render_ms_png256_median": 1000 * float(np.median(t_png)),
        "render_ms_png256_max": 1000 * float(np.max(t_png)),
        "render_target_ms": 100,
        "svg_bytes_max": int(max(sizes)),
        "svg_bytes_median": int(np.median(sizes)),
        "svg_target_bytes": 50_000,
        "dims_not_changing_svg_at_plus_0.5": unchanged,
        "min_attribute_rows_per_dim": min_rows_per_dim,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))

    # figures
    def pil(v, px=160):
        return Image.open(io.BytesIO(vd.render_png(v, size=px))).convert("RGB")

    grid([pil(v) for v in z[:32]], cols=8).save(out / "contact_sheet.png")
    grid([pil(z[bi], 256), pil(z[bj], 256)], cols=2,
         labels=[f"#{bi}", f"#{bj}   1-SSIM = {d_best:.3f} (closest independent pair)"]).save(
        out / "closest_independent_pair.png")
    trip, labs = [], []
    for k in range(6):
        trip += [pil(z[k]), pil(zn[k]), pil(zi[k])]
        labs += [f"z{k}", f"near {d_near[k]:.3f}", f"indep {d_ind[k]:.3f}"]
    grid(trip, cols=6, labels=labs).save(out / "near_pairs.png")
    (out / "example.svg").write_text(vd.render_svg(z[0]))
    ok = metrics["auc_1_minus_ssim"] >= 0.99 and metrics["render_ms_png256_median"] < 100 \
        and metrics["svg_bytes_max"] < 50_000 and not unchanged
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
