"""Train the convolutional encoder: `python -m encoder_training.train` (about 35 minutes on 2 CPU cores).

Loss, per batch of G groups x 2 members (two variants of one base each):
- contrastive, as published: 1.3 (1 - cos) on pairs of one base whose sketch cosine is >= 0.9,
  0.7 |cos| on pairs of different bases;
- fidelity: the squared difference between every pair's latent cosine and its input cosine
  (the sketch's estimate of ICS / 100), so graded relations map to graded latent similarity;
- adversarial: a small discriminator tells latents from N(0, I) samples; the encoder is
  rewarded for fooling it (non-saturating loss), which shapes the joint distribution while
  the encoder's output BatchNorm pins each dimension's mean and variance.

Deterministic given the seed (and the thread count): seeded data, seeded sampling,
`torch.use_deterministic_algorithms`. Writes the weights and a training record; then run
`python -m encoder_training.evaluate` for the held-out metrics.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from readable_fp.atomic import replacing
from readable_fp.encoder import LATENT, WEIGHTS, ConvEncoder
from readable_fp.model_terms import write_safetensors
from readable_fp.sketch import sketch_cosine

from .data import build_pool
from .real_models import open_real_models


@dataclass
class Config:
    seed: int = 0
    threads: int = 2
    device: str = "auto"
    n_synthetic: int = 3000
    subsets_per_pair: int = 12
    n_variants: int = 4
    steps: int = 8000
    groups_per_batch: int = 48
    lr: float = 1e-3
    lr_d: float = 2e-4
    w_fidelity: float = 10.0
    w_adversarial: float = 0.05
    widths: tuple = (32, 64, 128, 256)
    val_groups: int = 200
    log_every: int = 250


class Discriminator(nn.Module):
    def __init__(self, latent: int = LATENT):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2),
                                 nn.Linear(256, 1))

    def forward(self, z):
        return self.net(z).squeeze(-1)


def pair_matrices(x: torch.Tensor, z: torch.Tensor):
    """Input cosines (mean per-channel sketch cosine) and latent cosines of every pair in a batch."""
    xf = F.normalize(x.flatten(2), dim=-1)
    rho = torch.einsum("icn,jcn->ij", xf, xf) / x.shape[1]
    zn = F.normalize(z, dim=-1)
    return rho, zn @ zn.T


def losses(x, z, group, cfg: Config):
    rho, cos = pair_matrices(x, z)
    iu = torch.triu_indices(len(x), len(x), 1, device=x.device)
    rho, cos = rho[iu[0], iu[1]], cos[iu[0], iu[1]]
    same = group[iu[0]] == group[iu[1]]
    pos, neg = same & (rho >= 0.9), ~same
    con = 0.7 * cos[neg].abs().mean()
    if pos.any():
        con = con + 1.3 * (1 - cos[pos]).mean()
    fid = (cos - rho).pow(2).mean()
    return con, fid


def sample_batch(pool: torch.Tensor, cfg: Config, gen: torch.Generator):
    G, V = pool.shape[:2]
    g = torch.randperm(G, generator=gen)[: cfg.groups_per_batch]
    a = torch.randint(0, V, (len(g),), generator=gen)
    b = (a + torch.randint(1, V, (len(g),), generator=gen)) % V
    x = torch.cat([pool[g, a], pool[g, b]]).float()
    return x, torch.cat([g, g])


@torch.no_grad()
def validate(net: nn.Module, val: torch.Tensor, device) -> dict:
    """Spearman of latent vs input cosine over the validation groups' own (graded) pairs plus as
    many pairs of different groups; over *all* pairs the unrelated ones, whose latent cosines are
    noise of +-1/sqrt(512) around ~0, would swamp the measure."""
    net.eval()
    a, b = val[:, 0].float(), val[:, 1].float()
    z = [torch.cat([net(t[i:i + 256].to(device)).cpu() for i in range(0, len(t), 256)]) for t in (a, b)]
    net.train()
    za, zb, zc = z[0], z[1], torch.roll(z[1], 1, 0)
    rho = torch.cat([sketch_cosine(a, b), sketch_cosine(a, torch.roll(b, 1, 0))])
    cos = torch.cat([F.cosine_similarity(za, zb), F.cosine_similarity(za, zc)])
    return {"spearman": spearman(rho, cos), "latent_std": float(za.std()), "latent_mean_abs": float(za.mean(0).abs().mean())}


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra = a.double().argsort().argsort().double()
    rb = b.double().argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def train(cfg: Config, out: Path = WEIGHTS, progress: bool = True) -> dict:
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if cfg.device == "auto" else cfg.device))
    t0 = time.perf_counter()
    models = open_real_models() if cfg.subsets_per_pair else []
    pool = build_pool(cfg.seed, cfg.n_synthetic, models, cfg.subsets_per_pair, cfg.n_variants, progress=progress)
    val = build_pool(cfg.seed + 10_000, cfg.val_groups, [], 0, 2, progress=progress)["x"]
    data_seconds = time.perf_counter() - t0
    x_all = pool["x"].to(device)

    net = ConvEncoder(tuple(cfg.widths)).to(device)
    disc = Discriminator().to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_d, betas=(0.5, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / cfg.steps)) * 0.99 + 0.01)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    curves = []
    acc = {"contrastive": 0.0, "fidelity": 0.0, "adversarial": 0.0, "discriminator": 0.0}
    t1 = time.perf_counter()
    bar = tqdm(range(1, cfg.steps + 1), desc="encoder training", unit="step", disable=not progress, file=sys.stderr)
    for step in bar:
        x, group = sample_batch(x_all, cfg, gen)
        x, group = x.to(device), group.to(device)
        z = net(x)
        # discriminator step on detached latents
        real = torch.randn(z.shape, generator=gen).to(device)
        d_loss = F.softplus(-disc(real)).mean() + F.softplus(disc(z.detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        con, fid = losses(x, z, group, cfg)
        adv = F.softplus(-disc(z)).mean()
        loss = con + cfg.w_fidelity * fid + cfg.w_adversarial * adv
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        for k, v in zip(acc, (con, fid, adv, d_loss)):
            acc[k] += float(v.detach())
        if step % cfg.log_every == 0 or step == cfg.steps:
            n = cfg.log_every if step % cfg.log_every == 0 else step % cfg.log_every
            row = {"step": step, **{k: round(v / n, 5) for k, v in acc.items()}, **validate(net, val, device),
                   "seconds": round(time.perf_counter() - t1, 1)}
            curves.append(row)
            bar.set_postfix(fid=row["fidelity"], val_spearman=round(row["spearman"], 4))
            acc = dict.fromkeys(acc, 0.0)
    record = {"config": asdict(cfg), "curves": curves, "final": curves[-1], "device": str(device),
              "data_seconds": round(data_seconds, 1),
              "train_seconds": round(time.perf_counter() - t1, 1), "torch": torch.__version__,
              "pool": {"groups": int(x_all.shape[0]), "variants": int(x_all.shape[1]),
                       "synthetic_groups": sum(k == "synthetic" for k in pool["kinds"]),
                       "real_groups": sum(k != "synthetic" for k in pool["kinds"])}}
    save(net.cpu(), out, record)
    return record


def save(net: ConvEncoder, out: Path, record: dict) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    meta = {"kind": "readable-fp/encoder", "config": json.dumps(net.config),
            # no timings here: the same seed must give the same file, byte for byte (they are in the JSON record)
            "record": json.dumps({k: record[k] for k in ("config", "device", "torch")})}
    with replacing(out) as tmp:
        write_safetensors(state, tmp, meta)
    out.with_name("encoder_training_record.json").write_text(json.dumps(record, indent=1) + "\n")


def main(argv=None) -> int:
    cfg = Config()
    ap = argparse.ArgumentParser(prog="python -m encoder_training.train", description=__doc__.splitlines()[0])
    for k, v in asdict(cfg).items():
        if isinstance(v, (int, float, str)):
            ap.add_argument(f"--{k.replace('_', '-')}", type=type(v), default=v)
    ap.add_argument("--out", default=str(WEIGHTS), help=f"weights file (default {WEIGHTS})")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    for k in asdict(cfg):
        if hasattr(args, k):
            setattr(cfg, k, getattr(args, k))
    rec = train(cfg, Path(args.out), progress=not args.no_progress)
    print(json.dumps(rec["final"]))
    print(f"wrote {args.out} ({rec['train_seconds']} s training, {rec['data_seconds']} s data)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
