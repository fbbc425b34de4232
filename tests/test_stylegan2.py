"""The plain-PyTorch StyleGAN2 generator (readable_fp.stylegan2): NVIDIA's layout and
conventions, deterministic rendering, safetensors files, input errors. All CPU, small."""
from __future__ import annotations

import io
import json
import math
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from readable_fp.errors import FingerprintError
from readable_fp.stylegan2 import (
    Generator,
    _conv2d_resample,
    _setup_filter,
    _upfirdn2d,
    _upsample2d,
    load_generator,
    render,
    render_png,
    save_generator,
)

# A small net with a change of channel count between blocks (64 -> 32 -> 16), 512-dim z.
SMALL = dict(z_dim=512, w_dim=32, img_resolution=16, img_channels=3, mapping_layers=2,
             channel_base=512, channel_max=64)


@pytest.fixture(scope="module")
def small_G():
    torch.manual_seed(0)
    G = Generator(**SMALL).eval()
    with torch.no_grad():  # non-zero noise and w_avg, so that those code paths matter
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
        G.mapping.w_avg.normal_()
    return G


def nvidia_layout(z_dim, w_dim, img_resolution, img_channels, mapping_layers, channel_base, channel_max):
    """The state-dict names and shapes of NVIDIA's stylegan2-ada-pytorch Generator
    (architecture 'skip', c_dim 0), written out from its documented structure rather
    than from our module: mapping.fc{i} + w_avg; synthesis.b{res} with const (b4 only),
    conv0 (up-sampling, not b4), conv1, torgb; every SynthesisLayer has weight, bias,
    noise_strength, noise_const, resample_filter and an affine; every block a
    resample_filter."""
    def ch(res):
        return min(channel_base // res, channel_max)

    out = {"mapping.w_avg": (w_dim,)}
    for i in range(mapping_layers):
        out[f"mapping.fc{i}.weight"] = (w_dim, z_dim if i == 0 else w_dim)
        out[f"mapping.fc{i}.bias"] = (w_dim,)
    res = 4
    while res <= img_resolution:
        b = f"synthesis.b{res}"
        out[f"{b}.resample_filter"] = (4, 4)
        layers = {"conv1": (ch(res), ch(res))}
        if res == 4:
            out[f"{b}.const"] = (ch(4), 4, 4)
        else:
            layers["conv0"] = (ch(res // 2), ch(res))
        for name, (cin, cout) in layers.items():
            out[f"{b}.{name}.weight"] = (cout, cin, 3, 3)
            out[f"{b}.{name}.bias"] = (cout,)
            out[f"{b}.{name}.noise_strength"] = ()
            out[f"{b}.{name}.noise_const"] = (res, res)
            out[f"{b}.{name}.resample_filter"] = (4, 4)
            out[f"{b}.{name}.affine.weight"] = (cin, w_dim)
            out[f"{b}.{name}.affine.bias"] = (cin,)
        out[f"{b}.torgb.weight"] = (img_channels, ch(res), 1, 1)
        out[f"{b}.torgb.bias"] = (img_channels,)
        out[f"{b}.torgb.affine.weight"] = (ch(res), w_dim)
        out[f"{b}.torgb.affine.bias"] = (ch(res),)
        res *= 2
    return out


def shapes(G):
    return {k: tuple(v.shape) for k, v in G.state_dict().items()}


def test_default_64px_layout_is_nvidias():
    G = Generator()
    assert G.config == dict(z_dim=512, w_dim=512, img_resolution=64, img_channels=3, mapping_layers=8,
                            channel_base=32768, channel_max=512, conv_clamp=256, mapping_lr_multiplier=0.01)
    json.dumps(G.config)
    assert (G.z_dim, G.w_dim, G.img_resolution, G.img_channels, G.num_ws) == (512, 512, 64, 3, 10)
    assert shapes(G) == nvidia_layout(512, 512, 64, 3, 8, 32768, 512)
    # A few names spelled out literally, as they appear in NVIDIA's pickles.
    sd = G.state_dict()
    for name in ["mapping.fc0.weight", "mapping.fc7.bias", "mapping.w_avg", "synthesis.b4.const",
                 "synthesis.b4.conv1.noise_const", "synthesis.b8.conv0.affine.bias",
                 "synthesis.b64.torgb.weight", "synthesis.b64.conv1.noise_strength"]:
        assert name in sd
    # Parameters vs buffers, as NVIDIA (buffers are not trained, but are in the state dict).
    buffers = {k for k, _ in G.named_buffers()}
    assert buffers == {k for k in sd if k.endswith(("resample_filter", "noise_const", "w_avg"))}
    # Weights are stored unscaled: N(0, 1) convs, N(0, 1/lr_mul^2) mapping; affine biases start at 1.
    assert 80 < sd["mapping.fc0.weight"].std() < 120
    assert 0.9 < sd["synthesis.b8.conv0.weight"].std() < 1.1
    assert torch.all(sd["synthesis.b8.conv0.affine.bias"] == 1)
    assert torch.allclose(sd["synthesis.b4.resample_filter"],
                          torch.tensor([1.0, 3, 3, 1]).outer(torch.tensor([1.0, 3, 3, 1])) / 64)


def test_small_layout_and_num_ws(small_G):
    assert shapes(small_G) == nvidia_layout(**{k: v for k, v in SMALL.items()})
    assert small_G.num_ws == 6  # 1 + 2 + 2 convs, + the last toRGB
    with pytest.raises(ValueError):
        Generator(img_resolution=48)


def test_mapping_applies_equalized_lr_gains(small_G):
    G = small_G
    z = torch.randn(3, 512)
    x = z / z.square().mean(1, keepdim=True).add(1e-8).sqrt()
    for i in range(SMALL["mapping_layers"]):
        fc = getattr(G.mapping, f"fc{i}")
        x = x @ (fc.weight * 0.01 / math.sqrt(fc.weight.shape[1])).T + fc.bias * 0.01
        x = F.leaky_relu(x, 0.2) * math.sqrt(2)
    ws = G.mapping(z, 1.0, None)
    assert ws.shape == (3, G.num_ws, SMALL["w_dim"])
    assert torch.allclose(ws, x[:, None].expand_as(ws), atol=1e-5)
    # Truncation pulls the first `cutoff` ws towards w_avg, leaves the others.
    t = G.mapping(z, 0.5, 2)
    assert torch.allclose(t[:, :2], G.mapping.w_avg + 0.5 * (ws[:, :2] - G.mapping.w_avg), atol=1e-6)
    assert torch.equal(t[:, 2:], ws[:, 2:])


def test_w_avg_tracking():
    G = Generator(**SMALL)
    z = torch.randn(4, 512)
    before = G.mapping.w_avg.clone()
    G.mapping(z)  # no update unless asked
    assert torch.equal(G.mapping.w_avg, before)
    w = G.mapping(z, update_emas=True)[:, 0]
    assert torch.allclose(G.mapping.w_avg, before + (w.mean(0) - before) * 0.005, atol=1e-6)


def test_resampling_follows_upfirdn2d():
    f = _setup_filter()
    x = torch.randn(2, 5, 6, 6)
    # The [1,3,3,1] 2x up-sampling is bilinear with half-pixel centres, except that
    # upfirdn2d pads with zeros at the border: compare the interior.
    up = _upsample2d(x, f)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert up.shape == (2, 5, 12, 12)
    assert torch.allclose(up[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1], atol=1e-6)
    # Up-sampling conv: the transposed-conv path equals NVIDIA's generic definition
    # (zero insertion, pad [3, 2], filter, then a true convolution with the 3x3 kernel).
    w = torch.randn(7, 5, 3, 3)
    direct = F.conv2d(_upfirdn2d(x, f, up=2, pad=(3, 2, 3, 2), gain=4), w.flip([2, 3]))
    assert torch.allclose(_conv2d_resample(x, w, f, up=2, padding=1, groups=1), direct, atol=1e-5)


def test_forward_shape_noise_modes_and_fused_equals_unfused(small_G):
    G = small_G
    z = torch.randn(3, 512)
    with torch.no_grad():
        img = G(z)
        assert img.shape == (3, 3, 16, 16) and img.dtype == torch.float32
        assert torch.isfinite(img).all() and img.abs().max() <= 256  # conv_clamp
        assert torch.equal(G(z), img)  # 'const' noise is deterministic
        assert not torch.allclose(G(z, noise_mode="random"), img)
        assert not torch.allclose(G(z, noise_mode="none"), img)
        unfused = G.synthesis(G.mapping(z), noise_mode="const", fused_modconv=False)
        assert torch.allclose(unfused, img, atol=1e-4)
        with pytest.raises(ValueError):
            G(z, noise_mode="bogus")
        with pytest.raises(ValueError):
            G(torch.randn(3, 7))


def test_render_is_deterministic(small_G, tmp_path):
    latent = np.random.default_rng(1).standard_normal(512)
    im = render(latent, small_G)
    assert isinstance(im, Image.Image) and im.mode == "RGB" and im.size == (16, 16)
    a = render_png(latent, small_G, None)
    b = render_png(latent.tolist(), small_G, tmp_path / "dog.png")
    c = render_png(torch.tensor(latent), small_G)
    assert a == b == c and (tmp_path / "dog.png").read_bytes() == a
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(a))), np.asarray(im))
    assert render_png(latent + 1, small_G) != a
    assert not small_G.training


def test_truncation_psi_zero_gives_the_w_avg_image(small_G):
    G = small_G
    ref = G.synthesis(G.mapping.w_avg.expand(1, G.num_ws, -1), noise_mode="const")
    with torch.no_grad():
        out = G(torch.randn(4, 512), truncation_psi=0.0)
    assert torch.allclose(out, ref.expand_as(out), atol=1e-5)
    rng = np.random.default_rng(2)
    pngs = {render_png(rng.standard_normal(512), G, truncation_psi=0.0, truncation_cutoff=None) for _ in range(3)}
    assert len(pngs) == 1


def test_render_truncates_as_the_published_method():
    """../shared/method.md: AFHQ-Dog at truncation psi 0.5, cutoff 8. So `render` pulls the first 8
    ws halfway to w_avg and leaves the rest; NVIDIA's generate.py --trunc=0.5 (every layer) would
    draw another picture."""
    from readable_fp.stylegan2 import _to_pil, render

    torch.manual_seed(1)
    G = Generator(**{**SMALL, "img_resolution": 64, "channel_base": 256, "channel_max": 16}).eval()
    with torch.no_grad():
        G.mapping.w_avg.normal_()
    z = np.random.default_rng(5).standard_normal(512)
    zt = torch.tensor(z, dtype=torch.float32)[None]
    with torch.no_grad():
        ws = G.mapping(zt)
        cut = torch.cat([G.mapping.w_avg.lerp(ws[:, :8], 0.5), ws[:, 8:]], 1)
        want = _to_pil(G.synthesis(cut, noise_mode="const"))
        every_layer = _to_pil(G(zt, truncation_psi=0.5, truncation_cutoff=None))
    assert G.num_ws > 8  # so the cutoff matters at this size
    got = render(z, G)
    assert np.array_equal(np.asarray(got), np.asarray(want))
    assert not np.array_equal(np.asarray(got), np.asarray(every_layer))


def test_near_latent_gives_a_closer_image(small_G):
    rng = np.random.default_rng(3)
    for _ in range(3):
        z = rng.standard_normal(512)
        near = z + 0.05 * rng.standard_normal(512)
        far = rng.standard_normal(512)
        img = [np.asarray(render(v, small_G), dtype=np.float64) for v in (z, near, far)]
        assert np.abs(img[1] - img[0]).mean() < np.abs(img[2] - img[0]).mean()


def test_save_load_round_trip(small_G, tmp_path):
    p1, p2 = tmp_path / "g1.safetensors", tmp_path / "g2.safetensors"
    save_generator(small_G, p1, extra_meta={"kimg": 12, "note": "test"})
    save_generator(small_G, p2, extra_meta={"note": "test", "kimg": 12})
    assert p1.read_bytes() == p2.read_bytes()  # deterministic bytes
    assert sorted(x.name for x in tmp_path.iterdir()) == ["g1.safetensors", "g2.safetensors"]  # no tmp left
    G2 = load_generator(p1)
    assert not G2.training and G2.config == small_G.config
    assert G2.extra_meta == {"kimg": 12, "note": "test"}
    for k, v in small_G.state_dict().items():
        assert torch.equal(G2.state_dict()[k], v), k
    latent = np.random.default_rng(4).standard_normal(512)
    assert render_png(latent, G2) == render_png(latent, small_G)
    with pytest.raises(ValueError):
        save_generator(small_G, tmp_path / "bad.safetensors", extra_meta={"x": object()})


def test_load_rejects_non_generators(tmp_path):
    from safetensors.torch import save_file

    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a safetensors file at all")
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    tagged = tmp_path / "tagged.safetensors"
    G = Generator(**SMALL)
    save_generator(G, tagged)
    sd = {k: v.contiguous() for k, v in G.state_dict().items() if k != "mapping.w_avg"}
    from safetensors import safe_open
    with safe_open(str(tagged), "pt") as f:
        meta = f.metadata()
    broken = tmp_path / "broken.safetensors"
    save_file(sd, str(broken), metadata=meta)
    for path in (junk, plain, broken, tmp_path / "missing.safetensors"):
        with pytest.raises(FingerprintError):
            load_generator(path)


@pytest.mark.parametrize("bad", [np.zeros(511), np.zeros((2, 512)), np.full(512, np.nan),
                                 np.r_[np.zeros(511), np.inf], ["a"] * 512, 3.0])
def test_bad_latents_are_clear_errors(small_G, bad):
    with pytest.raises(FingerprintError):
        render(bad, small_G)


def test_default_64px_render_time():
    # Not a performance test (benchmarked elsewhere): only prints the time of one render.
    torch.manual_seed(0)
    G = Generator().eval()
    latent = np.random.default_rng(5).standard_normal(512)
    render(latent, G)  # warm-up
    t = time.perf_counter()
    im = render(latent, G)
    print(f"render at 64 px, default channels: {time.perf_counter() - t:.3f} s")
    assert im.size == (64, 64)
