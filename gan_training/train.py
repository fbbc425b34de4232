"""Train readable-fp's StyleGAN2 dog generator on the dog photographs.

One command trains (see gan_training/README.md), e.g. on a GPU::

    python gan_training/train.py --out /tmp/run128 --resolution 128 --batch 64 --time-limit 24

and on this CPU (small networks, bf16 autocast)::

    python gan_training/train.py --out /tmp/run64 --resolution 64 --batch 16 \\
        --channel-base 4096 --channel-max 256 --time-limit 10

What it does (StyleGAN2 / StyleGAN2-ADA recipe, on plain torch):

* data: every JPEG/PNG in ``--data`` (default ../shared/dogs/images next to the repository),
  centre-cropped, area-resized to ``--resolution`` with Pillow, held in memory as uint8;
  random x-flips unless ``--no-mirror``;
* generator: ``readable_fp.stylegan2.Generator``; discriminator: the residual StyleGAN2 D in
  ``gan_training/discriminator.py``;
* DiffAugment (colour, translation, cutout) on real and generated images before D;
* non-saturating logistic loss, lazy R1 on reals every ``--r1-interval`` D steps (with
  StyleGAN2's Adam lr/beta correction), optional style mixing, EMA generator with ramp-up
  (``w_avg`` tracked by the mapping network and copied to the EMA);
* checkpoints (``checkpoint-XXXXXX.pt``, plain tensors/dicts, loadable with
  ``torch.load(weights_only=True)``) every ``--snap-kimg`` and at the end, each with a sample
  grid from fixed latents; ``--resume`` continues exactly (bit-identical on CPU);
* ``training_record.json`` (config, per-tick losses, images seen, time, images/s) and, at
  the end, the EMA generator as ``generator.safetensors`` via ``save_generator``.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # `python gan_training/train.py` from anywhere
    sys.path.insert(0, str(_REPO))

from gan_training.augment import DiffAugment  # noqa: E402
from gan_training.discriminator import Discriminator  # noqa: E402
from readable_fp.stylegan2 import Generator, save_generator  # noqa: E402

LICENCE = ("trained on non-commercial research photos (Kaggle Dogs vs. Cats / Stanford Dogs): "
           "non-commercial research use only")
DEFAULT_DATA = _REPO.parent / "shared" / "dogs" / "images"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
CHECKPOINT_FORMAT = "readable_fp.gan_training.checkpoint"
CHECKPOINT_VERSION = 1

# Settings that define the run: on --resume they come from the checkpoint (a command-line
# value that differs from both the default and the checkpoint is an error).
FROZEN = ("max_images", "resolution", "channel_base", "channel_max", "mapping_layers", "conv_clamp", "batch", "lr",
          "gamma", "r1_interval", "ema_kimg", "ema_rampup", "style_mixing", "augment", "mirror",
          "seed", "precision", "grid")


STAT_KEYS = ("loss_G", "loss_D", "D_real", "D_fake", "loss_R1", "n", "n_r1")


class TrainingError(RuntimeError):
    pass


# --------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python gan_training/train.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, help="run directory (checkpoints, samples, record, generator); "
                   "defaults to the --resume checkpoint's directory")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of training photos (JPEG/PNG)")
    p.add_argument("--max-images", type=int, default=None, help="use only the first N photos (sorted by name)")
    p.add_argument("--resolution", type=int, default=64, help="image size (power of two, >= 8)")
    p.add_argument("--channel-base", type=int, default=16384, help="channels per block = min(base // res, max)")
    p.add_argument("--channel-max", type=int, default=512)
    p.add_argument("--mapping-layers", type=int, default=8)
    p.add_argument("--conv-clamp", type=float, default=256.0, help="activation clamp in G and D (0 = off)")
    p.add_argument("--batch", type=int, default=32, help="images per iteration")
    p.add_argument("--lr", type=float, default=0.0025, help="Adam learning rate of G and D (betas 0, 0.99)")
    p.add_argument("--gamma", type=float, default=None,
                   help="R1 weight; default StyleGAN2-ADA's heuristic 0.0002 * res^2 / batch")
    p.add_argument("--r1-interval", type=int, default=16, help="lazy R1: every N discriminator steps")
    p.add_argument("--ema-kimg", type=float, default=None, help="EMA half-life in kimg; default batch * 10 / 32")
    p.add_argument("--ema-rampup", type=float, default=0.05, help="EMA half-life <= rampup * images seen (0 = off)")
    p.add_argument("--style-mixing", type=float, default=0.9, help="style-mixing probability (0 = off)")
    p.add_argument("--augment", default="color,translation,cutout", help="DiffAugment policy ('' = none)")
    p.add_argument("--no-mirror", dest="mirror", action="store_false", help="no random x-flips of the photos")
    p.add_argument("--kimg", type=float, default=25000, help="stop after this many thousand images shown to D")
    p.add_argument("--time-limit", type=float, default=None, help="minutes; stop cleanly (checkpoint + export)")
    p.add_argument("--tick-kimg", type=float, default=4, help="log losses every N kimg")
    p.add_argument("--snap-kimg", type=float, default=100, help="checkpoint + sample grid every N kimg")
    p.add_argument("--keep-checkpoints", type=int, default=2, help="keep only the newest N checkpoints (0 = all)")
    p.add_argument("--grid", type=int, default=8, help="sample grid is grid x grid images from fixed latents")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="autocast for synthesis + D (auto = bf16; on CPUs which is faster depends on the host, see gan_training/README.md)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--resume", type=Path, default=None, help="checkpoint file, or run directory (newest checkpoint)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no tqdm progress bar")
    return p


# --------------------------------------------------------------------------- data


def load_images(folder: Path, resolution: int, max_images: int | None = None) -> torch.Tensor:
    """All photos in ``folder`` as uint8 [N, 3, R, R]: centre square crop, area resize."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingError(f"training data folder not found: {folder} (the dog photos live in "
                            f"../shared/dogs/images; pass --data)")
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if max_images is not None:
        files = files[:max_images]
    if not files:
        raise TrainingError(f"no JPEG/PNG images in {folder}")
    out = np.empty((len(files), resolution, resolution, 3), dtype=np.uint8)
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                im.draft("RGB", (resolution, resolution))  # JPEG DCT down-scaling, never below R
                im = im.convert("RGB")
                w, h = im.size
                s = min(w, h)
                im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
                if s != resolution:
                    resample = Image.Resampling.BOX if s > resolution else Image.Resampling.LANCZOS
                    im = im.resize((resolution, resolution), resample)
                out[i] = np.asarray(im)
        except OSError as e:
            raise TrainingError(f"cannot read image {f}: {e}") from None
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


# --------------------------------------------------------------------------- helpers


def save_grid(images: torch.Tensor, path: Path, grid: int) -> None:
    """images float [-1, 1] or uint8, [N, 3, R, R] -> grid PNG (row-major)."""
    from PIL import Image

    if images.dtype != torch.uint8:
        images = (images.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    images = images[: grid * grid].cpu()
    n, c, r, _ = images.shape
    rows = math.ceil(n / grid)
    canvas = torch.zeros(rows * grid, c, r, r, dtype=torch.uint8)
    canvas[:n] = images
    canvas = canvas.reshape(rows, grid, c, r, r).permute(0, 3, 1, 4, 2).reshape(rows * r, grid * r, c)
    Image.fromarray(canvas.numpy()).save(path)


def _atomic_torch_save(obj, path: Path) -> None:
    tmp = str(path) + ".part"
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_json(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    os.replace(tmp, path)


def find_checkpoint(path: Path) -> Path:
    path = Path(path)
    if path.is_dir():
        cands = sorted(path.glob("checkpoint-*.pt"))
        if not cands:
            raise TrainingError(f"no checkpoint-*.pt in {path}")
        return cands[-1]
    if not path.is_file():
        raise TrainingError(f"checkpoint not found: {path}")
    return path


def load_checkpoint(path: Path) -> dict:
    ckpt = torch.load(find_checkpoint(path), map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} is not a gan_training checkpoint")
    return ckpt


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _rng_state(device: torch.device, data_gen, aug_gen) -> dict:
    st = {"torch": torch.get_rng_state(), "data": data_gen.get_state(), "augment": aug_gen.get_state()}
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def _set_rng_state(st: dict, device: torch.device, data_gen, aug_gen, reseed: int) -> bool:
    """Restore the RNG streams; False if the checkpoint's data/augmentation streams belong to
    another device type (their states differ in kind), which are then seeded from ``reseed``."""
    torch.set_rng_state(st["torch"])
    if device.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"], device)
    try:
        data_gen.set_state(st["data"])
        aug_gen.set_state(st["augment"])
        return True
    except RuntimeError:  # e.g. a CPU run resumed on a GPU: the run goes on, no longer bit-exact
        data_gen.manual_seed(reseed * 2 + 1)
        aug_gen.manual_seed(reseed * 2 + 2)
        return False


# --------------------------------------------------------------------------- training


def train(args: argparse.Namespace) -> dict:
    """Run (or resume) training as described by ``args`` (see build_parser); returns the record."""
    t_start = time.time()
    parser = build_parser()
    ckpt = None
    rng_kept = True
    if args.resume is not None:
        ckpt_path = find_checkpoint(args.resume)
        ckpt = load_checkpoint(ckpt_path)
        saved = ckpt["args"]
        for k in FROZEN:
            cli, default = getattr(args, k), parser.get_default(k)
            if cli != default and cli != saved[k]:
                raise TrainingError(f"--{k.replace('_', '-')}={cli} differs from the checkpoint's {saved[k]}; "
                                    "a resumed run keeps its settings")
            setattr(args, k, saved[k])
        if args.data == parser.get_default("data"):  # the data folder may move between machines
            args.data = Path(saved["data"])
        if args.out is None:
            args.out = ckpt_path.parent
    if args.out is None:
        raise TrainingError("--out is required (the run directory)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    res = args.resolution
    if res < 8 or res & (res - 1):
        raise TrainingError(f"--resolution must be a power of two >= 8, got {res}")
    if args.batch < 1:
        raise TrainingError("--batch must be >= 1")
    gamma = args.gamma if args.gamma is not None else 0.0002 * res ** 2 / args.batch
    ema_kimg = args.ema_kimg if args.ema_kimg is not None else args.batch * 10 / 32
    conv_clamp = args.conv_clamp if args.conv_clamp else None

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    amp = args.precision in ("auto", "bf16")
    autocast = lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp)  # noqa: E731

    # ---- data
    t0 = time.time()
    images = load_images(args.data, res, args.max_images).to(device)
    n_images = images.shape[0]
    load_s = time.time() - t0

    # ---- networks (built from the seed; a resume overwrites every weight)
    torch.manual_seed(args.seed)
    G = Generator(z_dim=512, w_dim=512, img_resolution=res, img_channels=3, mapping_layers=args.mapping_layers,
                  channel_base=args.channel_base, channel_max=args.channel_max, conv_clamp=conv_clamp).to(device)
    D = Discriminator(img_resolution=res, img_channels=3, channel_base=args.channel_base,
                      channel_max=args.channel_max, conv_clamp=conv_clamp).to(device)
    G.train().requires_grad_(False)
    D.train().requires_grad_(False)
    G_ema = copy.deepcopy(G).eval()
    opt_G = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.0, 0.99), eps=1e-8)
    ratio = args.r1_interval / (args.r1_interval + 1)  # lazy regularisation correction (StyleGAN2)
    opt_D = torch.optim.Adam(D.parameters(), lr=args.lr * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)

    # On the training device: CPU-drawn indices or augmentation parameters would each need a
    # host-to-device copy that waits for the GPU's queue, stalling it every iteration.
    data_gen = torch.Generator(device=device).manual_seed(args.seed * 2 + 1)
    aug_gen = torch.Generator(device=device).manual_seed(args.seed * 2 + 2)
    grid_z = torch.randn([args.grid * args.grid, G.z_dim],
                         generator=torch.Generator().manual_seed(args.seed + 12345)).to(device)

    cfg = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    record = {
        "config": dict(cfg, gamma_effective=gamma, ema_kimg_effective=ema_kimg, device=str(device),
                       amp_bf16=amp, images_in_dataset=n_images, G_config=G.config, D_config=D.config,
                       G_params=sum(p.numel() for p in G.parameters()),
                       D_params=sum(p.numel() for p in D.parameters()),
                       torch=torch.__version__, python=platform.python_version(), host_cpu=_cpu_name(),
                       torch_threads=torch.get_num_threads()),
        "licence": LICENCE,
        "intervals": [],
        "sessions": [],
    }
    state = {"n_images": n_images, "cur_nimg": 0, "iteration": 0, "d_steps": 0, "train_seconds": 0.0,
             "tick_start_nimg": 0, "next_tick_nimg": 0, "next_snap_nimg": 0,
             # sums since the last tick: loss_G, loss_D, D_real, D_fake, R1, iterations, R1 steps
             "stats": torch.zeros(len(STAT_KEYS), dtype=torch.float64)}
    state["next_tick_nimg"] = int(round(args.tick_kimg * 1000))
    state["next_snap_nimg"] = int(round(args.snap_kimg * 1000))

    if ckpt is not None:
        G.load_state_dict(ckpt["G"])
        D.load_state_dict(ckpt["D"])
        G_ema.load_state_dict(ckpt["G_ema"])
        opt_G.load_state_dict(ckpt["opt_G"])
        opt_D.load_state_dict(ckpt["opt_D"])
        state = ckpt["state"]
        if state.get("n_images", n_images) != n_images:
            raise TrainingError(f"the checkpoint was trained on {state['n_images']} images but {args.data} "
                                f"gives {n_images}; resume with the same data")
        record["intervals"] = ckpt["record"]["intervals"]
        record["sessions"] = ckpt["record"]["sessions"]
        rng_kept = _set_rng_state(ckpt["rng"], device, data_gen, aug_gen, reseed=args.seed + state["cur_nimg"])
        del ckpt
    else:
        save_grid(images[: args.grid ** 2], out / "reals.png", args.grid)
    record["sessions"].append({"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "start_nimg": state["cur_nimg"],
                               "data_load_s": round(load_s, 2), "device": str(device),
                               "resumed_from": str(args.resume) if args.resume else None})
    if not rng_kept:
        record["sessions"][-1]["note"] = "resumed on another device type: data/augmentation RNG reseeded"

    total_nimg = int(round(args.kimg * 1000))
    limit_s = args.time_limit * 60 if args.time_limit else None
    G_params, G_ema_params = list(G.parameters()), list(G_ema.parameters())
    G_bufs, G_ema_bufs = list(G.buffers()), list(G_ema.buffers())
    num_ws = G.num_ws

    def sample_batch():
        idx = torch.randint(n_images, (args.batch,), generator=data_gen, device=device)
        real = images[idx]
        if args.mirror:
            flip = torch.rand(args.batch, generator=data_gen, device=device) < 0.5
            real = torch.where(flip[:, None, None, None], real.flip(3), real)
        return real.to(torch.float32) / 127.5 - 1

    def run_G(z, update_emas):
        ws = G.mapping(z, update_emas=update_emas)  # fp32
        if args.style_mixing > 0:
            cutoff = int(torch.randint(1, num_ws, ()))
            if float(torch.rand(())) < args.style_mixing:
                ws2 = G.mapping(torch.randn_like(z), update_emas=False)
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        with autocast():
            return G.synthesis(ws, noise_mode="random")

    def run_D(img):
        with autocast():
            return D(DiffAugment(img, args.augment, aug_gen)).float()

    def snapshot(final: bool):
        """Checkpoint (exact training state) + sample grid + record. Touches no RNG stream."""
        name = f"checkpoint-{state['cur_nimg']:09d}.pt"
        ckpt_out = {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "G": G.state_dict(), "D": D.state_dict(), "G_ema": G_ema.state_dict(),
            "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(),
            "state": dict(state, stats=stats.cpu().clone()), "rng": _rng_state(device, data_gen, aug_gen),
            "record": {"intervals": record["intervals"], "sessions": record["sessions"]},
            "G_config": G.config, "D_config": D.config,
        }
        _atomic_torch_save(ckpt_out, out / name)
        if args.keep_checkpoints > 0:
            for old in sorted(out.glob("checkpoint-*.pt"))[: -args.keep_checkpoints]:
                old.unlink()
        rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        with torch.no_grad():
            imgs = torch.cat([G_ema(z, noise_mode="const") for z in grid_z.split(max(args.batch, 1))])
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state(cuda_rng, device)
        save_grid(imgs, out / f"samples-{state['cur_nimg']:09d}.png", args.grid)
        if final:
            save_grid(imgs, out / "samples-final.png", args.grid)
        _write_json(record, out / "training_record.json")

    progress = None
    if args.progress:
        from tqdm import tqdm
        progress = tqdm(total=total_nimg, initial=min(state["cur_nimg"], total_nimg), unit="img",
                        unit_scale=True, dynamic_ncols=True, desc=f"{res}px")

    stop_reason = "kimg reached"
    session_t0 = time.time()
    tick_train_s0 = state["train_seconds"]
    last_snap_s = 0.0
    stats = state["stats"].to(device)
    one_r1 = torch.tensor([0, 0, 0, 0, 0, 1, 1], dtype=torch.float64, device=device)
    one = torch.tensor([0, 0, 0, 0, 0, 1, 0], dtype=torch.float64, device=device)
    while state["cur_nimg"] < total_nimg:
        it_t0 = time.time()
        real = sample_batch()

        # ---- G: non-saturating loss on augmented fakes
        G.requires_grad_(True)
        fake = run_G(torch.randn([args.batch, G.z_dim], device=device), update_emas=False)
        loss_G = F.softplus(-run_D(fake)).mean()
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()
        G.requires_grad_(False)

        # ---- D: logistic loss (+ lazy R1 on reals, in fp32)
        D.requires_grad_(True)
        with torch.no_grad():
            fake = run_G(torch.randn([args.batch, G.z_dim], device=device), update_emas=True)
        logits_fake, logits_real = run_D(fake), run_D(real)
        loss_D = F.softplus(logits_fake).mean() + F.softplus(-logits_real).mean()
        total = loss_D
        do_r1 = gamma > 0 and state["d_steps"] % args.r1_interval == 0
        if do_r1:
            real_t = real.detach().requires_grad_(True)
            logits = D(DiffAugment(real_t, args.augment, aug_gen))
            (grad,) = torch.autograd.grad(logits.sum(), real_t, create_graph=True)
            r1 = grad.square().sum(dim=[1, 2, 3]).mean()
            total = total + r1 * (gamma / 2) * args.r1_interval
        opt_D.zero_grad(set_to_none=True)
        total.backward()
        opt_D.step()
        D.requires_grad_(False)
        state["d_steps"] += 1

        # ---- EMA of G (half-life ema_kimg, ramped up over the first images)
        with torch.no_grad():
            ema_nimg = ema_kimg * 1000
            if args.ema_rampup:
                ema_nimg = min(ema_nimg, state["cur_nimg"] * args.ema_rampup)
            beta = 0.5 ** (args.batch / max(ema_nimg, 1e-8))
            torch._foreach_lerp_(G_ema_params, G_params, 1.0 - beta)  # one kernel per group, not per tensor
            torch._foreach_copy_(G_ema_bufs, G_bufs)

        # ---- bookkeeping
        with torch.no_grad():
            vals = torch.stack([loss_G.detach(), loss_D.detach(), logits_real.detach().mean(),
                                logits_fake.detach().mean(), r1.detach() if do_r1 else torch.zeros((), device=device)])
            stats[:5] += vals.to(torch.float64)
            stats += one_r1 if do_r1 else one
        state["cur_nimg"] += args.batch
        state["iteration"] += 1
        state["train_seconds"] += time.time() - it_t0
        if progress is not None:
            progress.update(min(args.batch, total_nimg - progress.n))

        done = state["cur_nimg"] >= total_nimg
        elapsed = time.time() - t_start
        if limit_s is not None and not done and elapsed + last_snap_s + 2 * (time.time() - it_t0) >= limit_s:
            done, stop_reason = True, f"time limit ({args.time_limit} min)"
        if state["cur_nimg"] >= state["next_tick_nimg"] or done:
            st = dict(zip(STAT_KEYS, stats.tolist()))
            if not all(math.isfinite(st[k]) for k in STAT_KEYS):
                raise TrainingError(f"non-finite loss before {state['cur_nimg']} images: {st}")
            n = max(st["n"], 1)
            imgs_tick = state["cur_nimg"] - state["tick_start_nimg"]
            sec_tick = state["train_seconds"] - tick_train_s0
            entry = {
                "kimg": round(state["cur_nimg"] / 1000, 3), "images_seen": state["cur_nimg"],
                "iteration": state["iteration"], "train_seconds": round(state["train_seconds"], 2),
                "wall_seconds_session": round(time.time() - session_t0, 2),
                "images_per_s": round(imgs_tick / sec_tick, 2) if sec_tick > 0 else None,
                "loss_G": st["loss_G"] / n, "loss_D": st["loss_D"] / n,
                "loss_R1": st["loss_R1"] / st["n_r1"] if st["n_r1"] else None,
                "D_real": st["D_real"] / n, "D_fake": st["D_fake"] / n,
                "ema_beta": beta,
            }
            record["intervals"].append(entry)
            if progress is not None:
                progress.set_postfix(G=f"{entry['loss_G']:.3f}", D=f"{entry['loss_D']:.3f}",
                                     ips=entry["images_per_s"])
            else:
                print(json.dumps(entry), flush=True)
            stats.zero_()
            state["tick_start_nimg"] = state["cur_nimg"]
            state["next_tick_nimg"] = state["cur_nimg"] + int(round(args.tick_kimg * 1000))
            tick_train_s0 = state["train_seconds"]
        if state["cur_nimg"] >= state["next_snap_nimg"] or done:
            while state["next_snap_nimg"] <= state["cur_nimg"]:
                state["next_snap_nimg"] += int(round(args.snap_kimg * 1000))
            s0 = time.time()
            if done:
                record["sessions"][-1].update(stop_reason=stop_reason, end_nimg=state["cur_nimg"],
                                              wall_seconds=round(time.time() - t_start, 2))
            snapshot(final=done)
            last_snap_s = time.time() - s0
        if done:
            break
    else:  # the loop did not run (resumed past --kimg)
        record["sessions"][-1].update(stop_reason="kimg already reached", end_nimg=state["cur_nimg"],
                                      wall_seconds=round(time.time() - t_start, 2))
        snapshot(final=True)
    if progress is not None:
        progress.close()

    # ---- export the EMA generator
    record["summary"] = summarize(record, state)
    _write_json(record, out / "training_record.json")
    save_generator(G_ema.cpu(), out / "generator.safetensors",
                   extra_meta={"licence": LICENCE, "training": record["summary"]})
    G_ema.to(device)
    return record


def summarize(record: dict, state: dict) -> dict:
    c = record["config"]
    ips = [e["images_per_s"] for e in record["intervals"] if e.get("images_per_s")]
    last = record["intervals"][-1] if record["intervals"] else {}
    return {
        "data": "3,998 dog photos (Kaggle Dogs vs. Cats + Stanford Dogs), ../shared/dogs/images"
        if c["images_in_dataset"] == 3998 else f"{c['images_in_dataset']} photos from {c['data']}",
        "images_in_dataset": c["images_in_dataset"], "resolution": c["resolution"],
        "images_seen": state["cur_nimg"], "kimg": round(state["cur_nimg"] / 1000, 3),
        "iterations": state["iteration"], "batch": c["batch"], "lr": c["lr"],
        "gamma": c["gamma_effective"], "ema_kimg": c["ema_kimg_effective"], "augment": c["augment"],
        "mirror": c["mirror"], "style_mixing": c["style_mixing"], "seed": c["seed"],
        "channel_base": c["channel_base"], "channel_max": c["channel_max"],
        "G_params": c["G_params"], "D_params": c["D_params"], "device": c["device"], "amp_bf16": c["amp_bf16"],
        "train_seconds": round(state["train_seconds"], 1),
        "images_per_s_last": ips[-1] if ips else None,
        "final_loss_G": last.get("loss_G"), "final_loss_D": last.get("loss_D"),
        "stop_reason": record["sessions"][-1].get("stop_reason") if record["sessions"] else None,
        "sessions": len(record["sessions"]),
    }


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        train(args)
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
