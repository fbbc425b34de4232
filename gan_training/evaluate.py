"""Evaluate a fingerprint image generator: contact sheet, smoothness/separation AUC, timing.

Run from the repository root::

    python gan_training/evaluate.py --generator pretrained/dog_generator.safetensors \
        --out eval_out --seed 0 --n 200 --real ../shared/dogs/images \
        --record pretrained/training_record.json

(``--random-init --resolution 64`` evaluates an untrained default Generator instead of a file:
a baseline, not a result.)

What it measures
----------------
* **Smoothness and separation.** For ``--n`` latents z ~ N(0, I) (from ``--seed``) it renders
  three images: z itself, a *near copy* z' whose cosine to z is exactly 0.95, and an
  *independent* latent (a fresh N(0, I) draw). The near copy is

      z' = |z| * (0.95 * z/|z| + sqrt(1 - 0.95^2) * u/|u|),   u = g - (g . z/|z|) z/|z|,  g ~ N(0, I)

  i.e. a unit step mixing z's direction with a random direction orthogonal to it, scaled back
  to |z| (so only the direction changes; StyleGAN normalises z's second moment anyway).
  Computed in float64 and stored as float32: cos(z, z') = 0.95 to ~1e-7.
* **Distances** between the rendered images (uint8 RGB, exactly what ``render()`` writes, put
  in [0, 1]):
    - ``1 - SSIM``: SSIM of Wang et al. (2004) with an 11-tap Gaussian window (sigma 1.5;
      shorter, odd, when the image is smaller than 11 px), computed per RGB channel with
      'valid' filtering (no padding), C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = 1, averaged over
      channels and positions. Implemented in torch below.
    - ``blur_l2``: root-mean-square difference after 4 x 4 area downsampling (a coarse,
      blurred pixel space that ignores fine texture).
* **ROC AUC** of each distance for telling near pairs from independent pairs, where the near
  pair should have the *smaller* distance: AUC = P(d_near < d_indep) + 0.5 P(d_near = d_indep)
  over all (near, independent) pairs (Mann-Whitney statistic, computed with average ranks).
  The issue's target is AUC >= 0.99 for the perceptual (SSIM) distance.
* **Timing**: median wall time of single-latent ``render()`` calls at the generator's own
  resolution (after one warm-up call), against the 1 s target; also ``render_png()``.
* **Determinism**: the same latent rendered twice gives byte-identical PNGs, and the batched
  renders used for the metrics equal ``render()``'s pixels.

Outputs in ``--out``: ``contact_sheet.png`` (32 renders, 8 x 4 grid), ``montage.png`` (real
photos resized to the generator's resolution above generated ones), ``pairs.png`` (z / near /
independent triplets, incl. the worst-separated ones), ``curves.png`` (training losses from
``--record``, when given) and ``metrics.json`` (every printed figure). Deterministic given
``--seed``. Images are upscaled by ``--scale`` (nearest neighbour, default 2) for viewing only;
all metrics use native-resolution pixels.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from readable_fp.readability import (  # shared with bench/vector_dog_eval.py
    DISTANCES, NEAR_COSINE, cosine, near_copies, roc_auc_smaller)

Z_DIM_DEFAULT = 512


# ----------------------------------------------------------------------------- rendering


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 (N x C x H x W), the same mapping as render()."""
    x = (img.to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    if x.shape[1] == 1:  # grey-scale generators: RGB, as render() gives
        x = x.repeat(1, 3, 1, 1)
    return x[:, :3]


@torch.no_grad()
def render_batch(G, z: torch.Tensor, psi: float, cutoff: int | None, batch: int = 1) -> torch.Tensor:
    """uint8 N x 3 x H x W renders of the rows of z (deterministic: noise_mode='const')."""
    outs = []
    for i in range(0, z.shape[0], batch):
        img = G(z[i : i + batch], truncation_psi=psi, truncation_cutoff=cutoff, noise_mode="const")
        outs.append(to_uint8(img))
    return torch.cat(outs)


def u8_to_unit(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32) / 255.0


def pil_to_u8(im) -> torch.Tensor:
    a = np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    return torch.from_numpy(a).permute(2, 0, 1).contiguous()


def u8_to_pil(x: torch.Tensor):
    from PIL import Image

    return Image.fromarray(x.permute(1, 2, 0).contiguous().numpy(), "RGB")


# ----------------------------------------------------------------------------- figures


def _font():
    from PIL import ImageFont

    try:
        return ImageFont.load_default()
    except Exception:  # pragma: no cover
        return None


def grid(images: list, cols: int, scale: int = 1, gap: int = 4, bg=(255, 255, 255)):
    """Paste equally sized PIL images into a cols-wide grid with ``gap`` px between them."""
    from PIL import Image

    if not images:
        raise ValueError("grid needs at least one image")
    w, h = images[0].size
    w, h = w * scale, h * scale
    rows = (len(images) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * w + (cols + 1) * gap, rows * h + (rows + 1) * gap), bg)
    for k, im in enumerate(images):
        if scale != 1:
            im = im.resize((w, h), Image.NEAREST)
        r, c = divmod(k, cols)
        sheet.paste(im, (gap + c * (w + gap), gap + r * (h + gap)))
    return sheet


def labelled_rows(rows: list[tuple[str, list]], scale: int, gap: int = 4, label_w: int = 110, bg=(255, 255, 255)):
    """Rows of images, each with a text label on the left."""
    from PIL import Image, ImageDraw

    w, h = rows[0][1][0].size
    w, h = w * scale, h * scale
    cols = max(len(r[1]) for r in rows)
    sheet = Image.new("RGB", (label_w + cols * w + (cols + 1) * gap, len(rows) * h + (len(rows) + 1) * gap), bg)
    draw = ImageDraw.Draw(sheet)
    font = _font()
    for r, (label, ims) in enumerate(rows):
        y = gap + r * (h + gap)
        for li, line in enumerate(label.split("\n")):
            draw.text((4, y + 2 + 12 * li), line, fill=(0, 0, 0), font=font)
        for c, im in enumerate(ims):
            if scale != 1:
                im = im.resize((w, h), Image.NEAREST)
            sheet.paste(im, (label_w + gap + c * (w + gap), y))
    return sheet


def load_real_images(folder: Path, count: int, resolution: int, seed: int) -> list:
    """``count`` photos from ``folder`` (chosen by seed), centre-cropped square, resized (box filter)."""
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp", ".bmp"})
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(files), size=min(count, len(files)), replace=False)
    out = []
    for i in sorted(pick):
        im = Image.open(files[i]).convert("RGB")
        s = min(im.size)
        left, top = (im.width - s) // 2, (im.height - s) // 2
        im = im.crop((left, top, left + s, top + s)).resize((resolution, resolution), Image.BOX)
        out.append(im)
    return out


_RECORD_LIST_KEYS = ("intervals", "history", "ticks", "log", "curves", "losses", "records")
_X_KEYS = ("kimg", "step", "steps", "iter", "iteration", "images", "images_seen", "epoch", "tick")
_NOT_CURVES = {"iteration", "iterations", "images_seen", "train_seconds", "wall_seconds", "wall_seconds_session",
               "images_per_s", "ema_beta", "lr", "time", "seconds", "wall_s", "start_nimg", "end_nimg"}


def _numeric_series(record) -> dict[str, tuple[list[float], list[float]]]:
    """Loss curves in a training record.

    gan_training/train.py writes ``{"intervals": [{"kimg", "loss_G", "loss_D", "loss_R1", "D_real",
    "D_fake", ...}, ...], "summary": {...}, ...}``; also accepted: the same list under 'history'/
    'ticks'/'log'/..., a bare list of such dicts, or a dict of equal-length number lists (with an
    optional 'step'/'kimg' list as x). Bookkeeping fields (time, images/s, EMA beta, lr, counters)
    are not curves. x: 'kimg' (else step/iteration/...), else the row index.
    """
    found: dict[str, tuple[list[float], list[float]]] = {}

    def is_num(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    def curve_key(k):
        return k not in _X_KEYS and k not in _NOT_CURVES and not k.endswith("_s") and "seconds" not in k

    def from_rows(rows):
        rows = [r for r in rows if isinstance(r, dict)]
        xk = next((k for k in _X_KEYS if rows and all(is_num(r.get(k)) for r in rows)), None)
        keys = sorted({k for r in rows for k, v in r.items() if is_num(v) and curve_key(k)})
        for k in keys:
            pts = [(float(r[xk]) if xk else float(i), float(r[k])) for i, r in enumerate(rows) if is_num(r.get(k))]
            if len(pts) >= 2:
                found[k] = ([p[0] for p in pts], [p[1] for p in pts])

    def from_lists(d):
        xk = next((k for k in _X_KEYS if isinstance(d.get(k), list) and d[k] and all(is_num(v) for v in d[k])), None)
        for k, v in d.items():
            if not curve_key(k) or not isinstance(v, list) or len(v) < 2 or not all(is_num(t) for t in v):
                continue
            xs = [float(t) for t in d[xk]] if xk and len(d[xk]) == len(v) else [float(i) for i in range(len(v))]
            found[k] = (xs, [float(t) for t in v])

    if isinstance(record, list):
        from_rows(record)
    elif isinstance(record, dict):
        lists = [record[k] for k in _RECORD_LIST_KEYS if isinstance(record.get(k), list)]
        dicts = [record[k] for k in _RECORD_LIST_KEYS if isinstance(record.get(k), dict)]
        if lists:
            from_rows(lists[0])
        elif dicts:
            from_lists(dicts[0])
        else:
            from_lists(record)
    return found


def _final_losses(record) -> dict:
    """'final_loss_*' from a train.py record's summary, if present."""
    summ = record.get("summary") if isinstance(record, dict) else None
    if not isinstance(summ, dict):
        return {}
    return {k: v for k, v in summ.items() if k.startswith("final_") and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _plot_panel(d, box, series, title, font):
    left, top, pw, ph = box
    xs_all = [x for xs, _ in series.values() for x in xs]
    ys_all = [y for _, ys in series.values() for y in ys]
    x0, x1 = min(xs_all), max(xs_all)
    y0, y1 = min(ys_all), max(ys_all)
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1

    def px(x, y):
        return left + (x - x0) / (x1 - x0) * pw, top + (1 - (y - y0) / (y1 - y0)) * ph

    d.text((left, top - 14), title, fill=(0, 0, 0), font=font)
    d.rectangle([left, top, left + pw, top + ph], outline=(0, 0, 0))
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        yv = y0 + frac * (y1 - y0)
        _, yy = px(x0, yv)
        d.line([left - 4, yy, left, yy], fill=(0, 0, 0))
        d.text((4, yy - 6), f"{yv:.3g}", fill=(0, 0, 0), font=font)
        xv = x0 + frac * (x1 - x0)
        xx, _ = px(xv, y0)
        d.line([xx, top + ph, xx, top + ph + 4], fill=(0, 0, 0))
        d.text((xx - 12, top + ph + 6), f"{xv:.4g}", fill=(0, 0, 0), font=font)
    palette = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75)]
    for k, (name, (xs, ys)) in enumerate(series.items()):
        col = palette[k % len(palette)]
        d.line([px(x, y) for x, y in zip(xs, ys)], fill=col, width=2)
        ly = top + ph + 22 + 14 * k
        d.line([left, ly + 7, left + 20, ly + 7], fill=col, width=3)
        d.text((left + 26, ly + 1), f"{name} (final {ys[-1]:.4g})", fill=(0, 0, 0), font=font)


def plot_curves(series: dict[str, tuple[list[float], list[float]]], width: int = 800, panel_h: int = 260, xlabel: str = "kimg"):
    """Line plots with Pillow: one panel for the losses (names containing 'loss'), one for the
    rest (e.g. the discriminator's mean logits on real/fake), each with a legend of final values."""
    from PIL import Image, ImageDraw

    groups = [("losses", {k: v for k, v in series.items() if "loss" in k.lower()}),
              ("other (e.g. mean D logits on real / fake)", {k: v for k, v in series.items() if "loss" not in k.lower()})]
    groups = [(t, g) for t, g in groups if g]
    if not groups:
        raise ValueError("plot_curves needs at least one series")
    left, right = 70, 20
    heights = [20 + panel_h + 30 + 14 * len(g) + 10 for _, g in groups]
    img = Image.new("RGB", (width, sum(heights)), (255, 255, 255))
    d = ImageDraw.Draw(img)
    font = _font()
    y = 0
    for (title, g), h in zip(groups, heights):
        _plot_panel(d, (left, y + 20, width - left - right, panel_h), g, f"{title} vs {xlabel}", font)
        y += h
    return img


# ----------------------------------------------------------------------------- main


def _load_stylegan2():
    try:
        from readable_fp import stylegan2
    except ImportError as e:  # pragma: no cover
        raise SystemExit(f"readable_fp.stylegan2 is not importable: {e}")
    return stylegan2


def _summary(v: torch.Tensor) -> dict:
    v = v.to(torch.float64)
    return {"mean": float(v.mean()), "std": float(v.std(unbiased=False)), "min": float(v.min()), "max": float(v.max())}


def evaluate(args) -> dict:
    if args.n < 2:
        raise SystemExit("--n must be at least 2")
    if not 0.0 <= args.psi <= 1.0:
        raise SystemExit("--psi must lie in [0, 1]")
    sg = _load_stylegan2()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.random_init:
        torch.manual_seed(args.seed)
        G = sg.Generator(img_resolution=args.resolution)
        source = f"random-init Generator(img_resolution={args.resolution}), torch seed {args.seed}"
    else:
        if not args.generator:
            raise SystemExit("give --generator PATH (or --random-init)")
        G = sg.load_generator(args.generator)
        source = str(args.generator)
    G.eval()
    z_dim = int(getattr(G, "z_dim", Z_DIM_DEFAULT))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cutoff = None if args.cutoff is not None and args.cutoff < 0 else args.cutoff
    psi = args.psi
    metrics: dict = {
        "generator": source,
        "seed": args.seed,
        "n": args.n,
        "truncation_psi": psi,
        "truncation_cutoff": cutoff,
        "near_cosine": NEAR_COSINE,
        "params": int(sum(p.numel() for p in G.parameters())),
    }
    t_start = time.perf_counter()

    # -- latents (one seeded stream, fixed draw order)
    gen = torch.Generator().manual_seed(args.seed)
    z = torch.randn(args.n, z_dim, generator=gen)
    z_near = near_copies(z, NEAR_COSINE, generator=gen)
    z_ind = torch.randn(args.n, z_dim, generator=gen)
    cos_near = cosine(z, z_near)
    cos_ind = cosine(z, z_ind)
    metrics["near_cosine_max_abs_error"] = float((cos_near - NEAR_COSINE).abs().max())
    metrics["independent_cosine"] = _summary(cos_ind)

    # -- renders
    print(f"generator: {source}  ({metrics['params']:,} parameters, {getattr(G, 'img_resolution', '?')} px, "
          f"psi={psi}, cutoff={cutoff}); rendering {3 * args.n} images ...", flush=True)
    t0 = time.perf_counter()
    imgs = render_batch(G, torch.cat([z, z_near, z_ind]), psi, cutoff, batch=args.batch)
    render_s = time.perf_counter() - t0
    x, xn, xi = imgs[: args.n], imgs[args.n : 2 * args.n], imgs[2 * args.n :]
    res = int(x.shape[-1])
    metrics["resolution"] = res
    metrics["metric_render_s_per_image"] = render_s / imgs.shape[0]
    print(f"near copies: cosine {NEAR_COSINE} (max error {metrics['near_cosine_max_abs_error']:.1e}); "
          f"independent: cosine {metrics['independent_cosine']['mean']:+.3f} +- {metrics['independent_cosine']['std']:.3f}")

    # -- distances and AUC
    metrics["distances"] = {}
    dist_values = {}
    for name, fn in DISTANCES.items():
        dn = fn(u8_to_unit(x), u8_to_unit(xn))
        di = fn(u8_to_unit(x), u8_to_unit(xi))
        dist_values[name] = (dn, di)
        auc = roc_auc_smaller(dn.numpy(), di.numpy())
        worst_near = torch.argsort(dn, descending=True)[:3].tolist()
        worst_ind = torch.argsort(di)[:3].tolist()
        metrics["distances"][name] = {
            "auc": auc,
            "near": _summary(dn),
            "independent": _summary(di),
            "near_above_min_independent": int((dn >= di.min()).sum()),
            "worst_near": [{"index": i, "distance": float(dn[i])} for i in worst_near],
            "closest_independent": [{"index": i, "distance": float(di[i])} for i in worst_ind],
        }
        m = metrics["distances"][name]
        target = " (target >= 0.99)" if name == "1-ssim" else ""
        print(f"{name:8s} AUC {auc:.4f}{target}  near {m['near']['mean']:.4f} +- {m['near']['std']:.4f}   "
              f"independent {m['independent']['mean']:.4f} +- {m['independent']['std']:.4f}")
        print(f"         worst near pairs (largest d): " + ", ".join(f"#{e['index']} {e['distance']:.4f}" for e in m["worst_near"])
              + "   closest independent pairs: " + ", ".join(f"#{e['index']} {e['distance']:.4f}" for e in m["closest_independent"]))
    metrics["auc_ssim"] = metrics["distances"]["1-ssim"]["auc"]
    metrics["auc_target_met"] = metrics["auc_ssim"] >= 0.99

    # -- timing and determinism of the shipped render() path
    ti = [i % args.n for i in range(max(1, args.timing_runs))]  # cycles through z when n < runs
    zt = z[ti]
    im0 = sg.render(zt[0], G, truncation_psi=psi, truncation_cutoff=cutoff)  # warm-up
    times = []
    render_u8 = []
    for i in range(zt.shape[0]):
        t0 = time.perf_counter()
        im = sg.render(zt[i], G, truncation_psi=psi, truncation_cutoff=cutoff)
        times.append(time.perf_counter() - t0)
        render_u8.append(pil_to_u8(im))
    png_times = []
    pngs = []
    for i in range(min(3, zt.shape[0])):
        t0 = time.perf_counter()
        pngs.append(sg.render_png(zt[i], G, truncation_psi=psi, truncation_cutoff=cutoff))
        png_times.append(time.perf_counter() - t0)
    png_again = sg.render_png(zt[0], G, truncation_psi=psi, truncation_cutoff=cutoff)
    diff = max(int((a.to(torch.int16) - x[ti[k]].to(torch.int16)).abs().max()) for k, a in enumerate(render_u8))
    metrics["timing"] = {
        "render_median_s": statistics.median(times),
        "render_min_s": min(times),
        "render_max_s": max(times),
        "render_png_median_s": statistics.median(png_times),
        "runs": len(times),
        "torch_threads": torch.get_num_threads(),
        "target_s": 1.0,
        "under_target": statistics.median(times) < 1.0,
    }
    metrics["determinism"] = {
        "png_identical_on_rerender": pngs[0] == png_again,
        "png_is_png": pngs[0][:8] == b"\x89PNG\r\n\x1a\n",
        "render_vs_batched_max_abs_diff_u8": diff,
        "render_size": list(im0.size),
    }
    t = metrics["timing"]
    print(f"render(): median {t['render_median_s'] * 1000:.1f} ms per image (min {t['render_min_s'] * 1000:.1f}, "
          f"max {t['render_max_s'] * 1000:.1f}) at {res} px over {t['runs']} calls "
          f"({t['torch_threads']} torch threads; target < 1 s: {'met' if t['under_target'] else 'NOT met'}); "
          f"render_png(): median {t['render_png_median_s'] * 1000:.1f} ms")
    dd = metrics["determinism"]
    print(f"determinism: re-rendered PNG identical: {dd['png_identical_on_rerender']}; "
          f"render() vs batched pixels max |diff| = {dd['render_vs_batched_max_abs_diff_u8']}")

    # -- figures
    scale = max(1, args.scale)
    gen_sheet = torch.Generator().manual_seed(args.seed + 1)
    z_sheet = torch.randn(32, z_dim, generator=gen_sheet)
    sheet_u8 = render_batch(G, z_sheet, psi, cutoff, batch=args.batch)
    sheet_imgs = [u8_to_pil(a) for a in sheet_u8]
    written = []
    grid(sheet_imgs, cols=8, scale=scale).save(out / "contact_sheet.png")
    written.append("contact_sheet.png")

    n_mont = 8
    rows = []
    if args.real and Path(args.real).is_dir():
        reals = load_real_images(Path(args.real), n_mont, res, args.seed)
        rows.append((f"real photos\n(resized to {res} px)", reals))
        metrics["montage_real"] = str(args.real)
    else:
        metrics["montage_real"] = None
        if args.real:
            print(f"note: --real {args.real} is not a folder; montage shows generated images only")
    rows.append(("generated", sheet_imgs[:n_mont]))
    labelled_rows(rows, scale).save(out / "montage.png")
    written.append("montage.png")

    n_trip = min(4, args.n)
    dn_s, di_s = dist_values["1-ssim"]
    trip_rows = []
    idx = list(range(n_trip))
    worst_near = int(torch.argmax(dn_s))
    closest_ind = int(torch.argmin(di_s))
    for i in idx:
        trip_rows.append((f"#{i}\nnear 1-SSIM {float(dn_s[i]):.3f}\nindep 1-SSIM {float(di_s[i]):.3f}", [u8_to_pil(x[i]), u8_to_pil(xn[i]), u8_to_pil(xi[i])]))
    trip_rows.append((f"worst near #{worst_near}\nnear 1-SSIM {float(dn_s[worst_near]):.3f}", [u8_to_pil(x[worst_near]), u8_to_pil(xn[worst_near]), u8_to_pil(xi[worst_near])]))
    trip_rows.append((f"closest indep #{closest_ind}\nindep 1-SSIM {float(di_s[closest_ind]):.3f}", [u8_to_pil(x[closest_ind]), u8_to_pil(xn[closest_ind]), u8_to_pil(xi[closest_ind])]))
    _save_pairs(trip_rows, scale, out / "pairs.png")
    written.append("pairs.png")

    # -- training record
    metrics["record"] = None
    if args.record:
        rec_path = Path(args.record)
        record = json.loads(rec_path.read_text())
        series = _numeric_series(record)
        finals = {k: ys[-1] for k, (xs, ys) in series.items()}
        metrics["record"] = {"path": str(rec_path), "series": sorted(series), "final": finals,
                             "summary_final": _final_losses(record), "points": max((len(v[0]) for v in series.values()), default=0)}
        if series:
            plot_curves(series).save(out / "curves.png")
            written.append("curves.png")
            print(f"training record ({metrics['record']['points']} points): final " + ", ".join(f"{k} {v:.4g}" for k, v in finals.items()))
            if metrics["record"]["summary_final"]:
                print("training summary: " + ", ".join(f"{k} {v:.4g}" for k, v in metrics["record"]["summary_final"].items()))
        else:
            print(f"training record {rec_path}: no loss series found; curves.png not written")

    metrics["total_s"] = time.perf_counter() - t_start
    written.append("metrics.json")
    metrics["outputs"] = written
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    print(f"wrote {', '.join(written)} to {out}  ({metrics['total_s']:.1f} s)")
    return metrics


def _save_pairs(rows, scale, path):
    """Triplet rows (z / near / independent) with a header row of column names."""
    from PIL import Image, ImageDraw

    sheet = labelled_rows(rows, scale, label_w=150)
    w = rows[0][1][0].size[0] * scale
    top = Image.new("RGB", (sheet.width, 18), (255, 255, 255))
    d = ImageDraw.Draw(top)
    for c, name in enumerate(("z", "near", "indep.")):
        d.text((150 + 4 + c * (w + 4), 3), name, fill=(0, 0, 0), font=_font())
    full = Image.new("RGB", (sheet.width, sheet.height + 18), (255, 255, 255))
    full.paste(top, (0, 0))
    full.paste(sheet, (0, 18))
    full.save(path)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generator", help="generator weights written by readable_fp.stylegan2.save_generator")
    p.add_argument("--random-init", action="store_true", help="evaluate an untrained default Generator (baseline)")
    p.add_argument("--resolution", type=int, default=64, help="resolution for --random-init (default 64)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=200, help="latent triplets for the AUC (default 200)")
    p.add_argument("--psi", type=float, default=0.5, help="truncation psi (default 0.5, as render())")
    p.add_argument("--cutoff", type=int, default=8, help="truncation cutoff in w layers; negative = none (default 8)")
    p.add_argument("--real", default=None, help="folder of real photos for montage.png (e.g. ../shared/dogs/images)")
    p.add_argument("--record", default=None, help="training record JSON (loss curves -> curves.png)")
    p.add_argument("--scale", type=int, default=2, help="nearest-neighbour upscaling of the PNG figures (default 2)")
    p.add_argument("--batch", type=int, default=1, help="batch size of the metric renders (default 1: on CPU a batch is not faster per image)")
    p.add_argument("--timing-runs", type=int, default=20, help="render() calls timed, after one warm-up (default 20)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    evaluate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
