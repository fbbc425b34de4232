"""Evaluate the procedural vector dog (readable_fp.vector_dog).

Writes to --out:
  contact_sheet.png               32 random latents, 8 x 4
  closest_independent_pair.png    the independent pair with the smallest distance, with its distance
  near_pairs.png                  a few (z, near copy at cosine 0.95, independent) triplets
  metrics.json                    AUC, distance stats, render times, SVG sizes, dimension check

Perceptual distance: 1 - SSIM (gaussian window, sigma 1.5) on the 128 px renders, averaged
over the R, G, B channels; a blurred-L2 distance is reported as well.
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
from PIL import Image, ImageDraw

from readable_fp import vector_dog as vd

COS_NEAR = 0.95


def near_copy(z: np.ndarray, rng: np.random.Generator, cos: float = COS_NEAR) -> np.ndarray:
    """z' with cos(z, z') = cos exactly and |z'| = |z|."""
    n = np.linalg.norm(z)
    zh = z / n
    u = rng.standard_normal(z.shape)
    u -= (u @ zh) * zh
    u /= np.linalg.norm(u)
    return n * (cos * zh + np.sqrt(1 - cos * cos) * u)


def to_array(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64) / 255.0


def _gauss_kernel(sigma=1.5, radius=5):
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


_K = _gauss_kernel()


def _blur(img: np.ndarray, k: np.ndarray = _K) -> np.ndarray:
    """Separable 'valid' gaussian filter over the first two axes of (H, W, ...)."""
    r = len(k) // 2
    h, w = img.shape[:2]
    out = sum(k[i] * img[i:h - 2 * r + i] for i in range(len(k)))
    out = sum(k[i] * out[:, i:w - 2 * r + i] for i in range(len(k)))
    return out


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM over the image and channels (Wang et al. 2004, data range 1)."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = _blur(x), _blur(y)
    sxx = _blur(x * x) - mx * mx
    syy = _blur(y * y) - my * my
    sxy = _blur(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(m.mean())


_KB = _gauss_kernel(sigma=3.0, radius=9)


def blurred_l2(x: np.ndarray, y: np.ndarray) -> float:
    d = _blur(x, _KB) - _blur(y, _KB)
    return float(np.sqrt((d * d).mean()))


def auc(near: np.ndarray, indep: np.ndarray) -> float:
    """P(d_near < d_indep) from ranks (Mann-Whitney), ties count 1/2."""
    allv = np.concatenate([near, indep])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    ranks[order] = np.arange(1, len(allv) + 1)
    # average ranks over ties
    vals, inv, counts = np.unique(allv, return_inverse=True, return_counts=True)
    sums = np.zeros(len(vals))
    np.add.at(sums, inv, ranks)
    ranks = (sums / counts)[inv]
    r_indep = ranks[len(near):].sum()
    n1, n2 = len(indep), len(near)
    return float((r_indep - n1 * (n1 + 1) / 2) / (n1 * n2))


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
    zn = np.stack([near_copy(v, rng) for v in z])
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

    def img(v, px=args.px):
        return to_array(vd.render_png(v, size=px))

    iz = [img(v) for v in z]
    inn = [img(v) for v in zn]
    ii = [img(v) for v in zi]
    d_near = np.array([1 - ssim(a, b) for a, b in zip(iz, inn)])
    d_ind = np.array([1 - ssim(a, b) for a, b in zip(iz, ii)])
    l_near = np.array([blurred_l2(a, b) for a, b in zip(iz, inn)])
    l_ind = np.array([blurred_l2(a, b) for a, b in zip(iz, ii)])

    # closest pair among all independent latents (the n base latents, all pairs)
    best = (np.inf, -1, -1)
    for i in range(n):
        for j in range(i + 1, n):
            d = 1 - ssim(iz[i], iz[j])
            if d < best[0]:
                best = (d, i, j)
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
        "cos_near": COS_NEAR,
        "n_attributes": vd.N_ATTR,
        "auc_1_minus_ssim": auc(d_near, d_ind),
        "auc_blurred_l2": auc(l_near, l_ind),
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
