"""What a photographic dog costs on this CPU: `renderer get` of an afhqdog-sized pickle, and render times.

NVIDIA's afhqdog.pkl cannot be downloaded here, so this builds a generator of exactly its
configuration (what stylegan2-ada-pytorch's legacy.py gives for the TF paper512 AFHQ networks:
512 px, 512-dim z and w, 8 mapping layers, channel_base 32768, channel_max 512, conv_clamp 256;
30.3 M parameters) with seeded random weights, writes it as NVIDIA's training loop pickles it
(tests/nvidia_pickles.py), serves it on loopback (tests/file_server.py) and installs it with
`renderer get afhqdog --url`. Render time does not depend on the weights' values. The vector dog
is timed beside it, as the renderer it replaces.

    python bench/render_time.py [--repeat 5]      # writes bench/results/render_time.md
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests")]
from file_server import FileServer  # noqa: E402
from nvidia_pickles import nvidia_kwargs, source_generator, write_nvidia_pickle  # noqa: E402

AFHQDOG = dict(z_dim=512, w_dim=512, img_resolution=512, img_channels=3, mapping_layers=8,
               channel_base=32768, channel_max=512, conv_clamp=256, mapping_lr_multiplier=0.01)
PATH = "/stylegan2-ada-pytorch/pretrained/afhqdog.pkl"


def _timed(fn, repeat: int) -> tuple[float, list[float]]:
    """(first call, the following `repeat` calls) in seconds."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return first, times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "results" / "render_time.md"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="render-time-"))
    os.environ["READABLE_FP_CACHE"] = str(tmp / "cache")
    from readable_fp import renderer_get, renderers

    G = source_generator(0, AFHQDOG)
    params = sum(p.numel() for p in G.parameters())
    pkl = write_nvidia_pickle(tmp / "afhqdog.pkl", G, tmp / "EXECUTED",
                              kwargs_fn=lambda E, **kw: nvidia_kwargs(E, cfg=AFHQDOG, **kw))
    del G
    body = pkl.read_bytes()
    with FileServer({PATH: body}) as server:
        t = time.perf_counter()
        target = renderer_get.get("afhqdog", url=server.url + PATH, progress=False)
        install = time.perf_counter() - t
    assert not (tmp / "EXECUTED").exists()
    r = renderers.resolve("afhqdog")
    z = np.random.default_rng(0).standard_normal(512).astype(np.float32)
    rows = []
    first, warm = _timed(lambda: r.draw(z), args.repeat)
    rows.append(("afhqdog, 512 px PNG", first, warm, len(r.draw(z)[0])))
    first, warm = _timed(lambda: r.draw(z, 256), args.repeat)
    rows.append(("afhqdog, 256 px PNG (the 512 px picture, shrunk)", first, warm, len(r.draw(z, 256)[0])))
    vector = renderers.resolve("vector-dog")
    first, warm = _timed(lambda: vector.draw(z), args.repeat)
    rows.append(("vector-dog, 256 px PNG + SVG", first, warm, len(vector.draw(z)[0])))

    lines = [
        "# Photographic dog: install and render time on CPU (`python bench/render_time.py`)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads; {time.strftime('%Y-%m-%d')}. A generator of afhqdog.pkl's "
        f"configuration ({params / 1e6:.1f} M parameters), seeded random weights.",
        "",
        f"- `renderer get afhqdog` from a loopback server: {install:.1f} s for a {len(body) / 1e6:.0f} MB "
        f"pickle (NVIDIA's training-loop structure, G and G_ema sharing one record; the published file also "
        f"holds D and a separate G, so it is larger; no network time here), "
        f"{target.stat().st_size / 1e6:.0f} MB of safetensors kept; peak RSS of this process so far "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB.",
        "",
        f"| render | first call (s, loads the generator) | median of {args.repeat} more (s) | PNG bytes |",
        "|---|---|---|---|",
        *[f"| {name} | {first:.2f} | {statistics.median(warm):.2f} | {size:,} |" for name, first, warm, size in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
