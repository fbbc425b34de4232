"""Pickles of the structure NVIDIA's stylegan2-ada-pytorch training loop writes, built in the tests.

The real afhqdog.pkl cannot be fetched here (no network), so tests build a pickle of the same
structure: the dict {'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'} whose networks are
pickled as ``torch_utils.persistence._reconstruct_persistent_obj(meta)``, meta carrying
``module_src`` that, if executed (as NVIDIA's loader does), writes a marker file. The fake NVIDIA
modules exist in sys.modules only while the pickle is written.
"""
from __future__ import annotations

import collections
import contextlib
import pickle
import sys
import types

import numpy as np
import torch

from readable_fp.stylegan2 import Generator

CFG = dict(z_dim=32, w_dim=32, img_resolution=16, img_channels=3, mapping_layers=2,
           channel_base=256, channel_max=32, conv_clamp=256, mapping_lr_multiplier=0.01)
NV_MODULES = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")


@contextlib.contextmanager
def fake_nvidia_modules():
    """torch_utils.persistence and dnnlib.util as pickle.dump needs them: just named globals."""
    def _reconstruct_persistent_obj(meta):  # what NVIDIA's would do: exec(meta['module_src'])
        raise AssertionError("the test's reconstruct function must never be called")

    class EasyDict(dict):
        pass

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    mods = {name: types.ModuleType(name) for name in NV_MODULES}
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    mods["torch_utils"].persistence = mods["torch_utils.persistence"]
    mods["dnnlib.util"].EasyDict = EasyDict
    mods["dnnlib"].util, mods["dnnlib"].EasyDict = mods["dnnlib.util"], EasyDict
    assert not any(name in sys.modules for name in NV_MODULES)
    sys.modules.update(mods)
    try:
        yield _reconstruct_persistent_obj, EasyDict
    finally:
        for name in NV_MODULES:
            sys.modules.pop(name, None)


class Persistent:
    """Pickles like a @persistence.persistent_class object of stylegan2-ada-pytorch."""

    def __init__(self, reconstruct, meta):
        self.reconstruct, self.meta = reconstruct, meta

    def __reduce__(self):
        return (self.reconstruct, (self.meta,))


def module_src(marker) -> str:
    return (f"import pathlib\npathlib.Path({str(marker)!r}).write_text('module_src was executed')\n"
            "class Generator:\n    pass\n")


def as_nvidia(m: torch.nn.Module, reconstruct, src: str, init_kwargs=None) -> Persistent:
    """NVIDIA's meta for module m: its __dict__ (children converted too), plus init args and
    the numpy-float gains NVIDIA's layers keep as attributes."""
    state = dict(m.__dict__)
    state["_modules"] = collections.OrderedDict(
        (k, None if v is None else as_nvidia(v, reconstruct, src)) for k, v in m._modules.items())
    state.pop("config", None)
    state["_init_args"] = ()
    state["_init_kwargs"] = init_kwargs if init_kwargs is not None else {}
    if "weight_gain" in state:
        state["weight_gain"] = np.float64(state["weight_gain"])
    meta = dict(type="class", version=4, module_src=src, class_name=type(m).__name__, state=state)
    return Persistent(reconstruct, meta)


def nvidia_kwargs(EasyDict, c_dim=0, architecture="skip", cfg=CFG, **extra_synthesis):
    """The init_kwargs legacy.py / train.py record for a generator of `cfg`."""
    return EasyDict(
        z_dim=cfg["z_dim"], c_dim=c_dim, w_dim=cfg["w_dim"], img_resolution=cfg["img_resolution"],
        img_channels=cfg["img_channels"],
        mapping_kwargs=EasyDict(num_layers=cfg["mapping_layers"], embed_features=None, layer_features=None,
                                activation="lrelu", lr_multiplier=0.01, w_avg_beta=0.995),
        synthesis_kwargs=EasyDict({**dict(channel_base=cfg["channel_base"], channel_max=cfg["channel_max"],
                                          num_fp16_res=4, conv_clamp=256, architecture=architecture,
                                          resample_filter=[1, 3, 3, 1], use_noise=True, activation="lrelu"),
                                   **extra_synthesis}))


def source_generator(seed=0, cfg=CFG) -> Generator:
    torch.manual_seed(seed)
    G = Generator(**cfg).eval()
    with torch.no_grad():  # make every tensor distinctive (zero biases would hide mix-ups)
        for t in G.state_dict().values():
            if not t.shape == (4, 4):  # keep the fixed resample filters
                t.add_(torch.randn(t.shape) * 0.1)
    return G


def write_nvidia_pickle(path, G, marker, *, kwargs_fn=nvidia_kwargs, extra=None, half=False, **kw):
    with fake_nvidia_modules() as (reconstruct, EasyDict):
        src = module_src(marker)
        G_rec = as_nvidia(G, reconstruct, src, init_kwargs=kwargs_fn(EasyDict, **kw))
        if half:  # NVIDIA's fp16 blocks keep float32 weights; a half-precision copy must still load
            def halve(rec):
                st = rec.meta["state"]
                st["_parameters"] = collections.OrderedDict(
                    (k, None if v is None else torch.nn.Parameter(
                        v.detach().half().contiguous(memory_format=torch.channels_last if v.ndim == 4
                                                     else torch.contiguous_format), requires_grad=False))
                    for k, v in st["_parameters"].items())
                for child in st["_modules"].values():
                    halve(child)
            halve(G_rec)
        # D: anything; here a record with a tensor, a numpy array and a numpy float.
        D = Persistent(reconstruct, dict(type="class", version=4, module_src=src, class_name="Discriminator", state=dict(
            _parameters=collections.OrderedDict(weight=torch.nn.Parameter(torch.randn(4, 3))),
            _buffers=collections.OrderedDict(), _modules=collections.OrderedDict(),
            _non_persistent_buffers_set=set(), training=False, table=np.arange(6.0).reshape(2, 3),
            weight_gain=np.float32(0.25), _init_args=(), _init_kwargs=EasyDict(c_dim=0))))
        data = dict(training_set_kwargs=EasyDict(class_name="training.dataset.ImageFolderDataset",
                                                 path="~/datasets/afhqdog.zip", use_labels=False,
                                                 max_size=4739, xflip=False, resolution=16),
                    G=G_rec, D=D, G_ema=G_rec, augment_pipe=None, **(extra or {}))
        with open(path, "wb") as f:
            pickle.dump(data, f)
    return path


# afhqdog.pkl's interface (512 px RGB, 512-dim latents) with a tiny body (2 to 16 channels per
# block), so a test can serve, import and draw it in moments.
AFHQ_LIKE = dict(z_dim=512, w_dim=64, img_resolution=512, img_channels=3, mapping_layers=2,
                 channel_base=1024, channel_max=16, conv_clamp=256, mapping_lr_multiplier=0.01)


def write_afhq_like(path, seed=0):
    """A pickle like afhqdog.pkl at `path`; its module source, if ever run, writes ``path.EXECUTED``."""
    return write_nvidia_pickle(path, source_generator(seed, AFHQ_LIKE), path.with_suffix(".EXECUTED"),
                               kwargs_fn=lambda E, **kw: nvidia_kwargs(E, cfg=AFHQ_LIKE, **kw))
