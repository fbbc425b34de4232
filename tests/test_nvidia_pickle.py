"""Reading NVIDIA StyleGAN2-ADA pickles without running their code.

The real afhqdog.pkl cannot be fetched here (no network), so each test builds a pickle of the
same structure: the dict {'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'} whose networks
are pickled as ``torch_utils.persistence._reconstruct_persistent_obj(meta)``, meta carrying
``module_src`` that, if executed (as NVIDIA's loader does), writes a marker file. The fake NVIDIA
modules exist in sys.modules only while the pickle is written.
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from readable_fp.cli import main
from readable_fp.errors import FingerprintError
from readable_fp.nvidia_pickle import SafeUnpickler, convert_nvidia_pickle, load_nvidia_pickle, read_pickle
from readable_fp.stylegan2 import Generator, load_generator

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


def nvidia_kwargs(EasyDict, c_dim=0, architecture="skip", **extra_synthesis):
    """The init_kwargs legacy.py / train.py record for a generator of CFG."""
    return EasyDict(
        z_dim=CFG["z_dim"], c_dim=c_dim, w_dim=CFG["w_dim"], img_resolution=CFG["img_resolution"],
        img_channels=CFG["img_channels"],
        mapping_kwargs=EasyDict(num_layers=CFG["mapping_layers"], embed_features=None, layer_features=None,
                                activation="lrelu", lr_multiplier=0.01, w_avg_beta=0.995),
        synthesis_kwargs=EasyDict({**dict(channel_base=CFG["channel_base"], channel_max=CFG["channel_max"],
                                          num_fp16_res=4, conv_clamp=256, architecture=architecture,
                                          resample_filter=[1, 3, 3, 1], use_noise=True, activation="lrelu"),
                                   **extra_synthesis}))


def source_generator(seed=0) -> Generator:
    torch.manual_seed(seed)
    G = Generator(**CFG).eval()
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


@pytest.fixture(scope="module")
def src_G():
    return source_generator()


@pytest.fixture
def nv_pkl(tmp_path, src_G):
    marker = tmp_path / "EXECUTED"
    return write_nvidia_pickle(tmp_path / "afhqdog-like.pkl", src_G, marker), marker


def test_fake_modules_are_gone_and_pickle_uses_nvidia_globals(nv_pkl):
    pkl, _ = nv_pkl
    assert not any(name in sys.modules for name in NV_MODULES)
    raw = pkl.read_bytes()
    for needle in (b"torch_utils.persistence", b"_reconstruct_persistent_obj", b"dnnlib.util", b"EasyDict",
                   b"_load_from_bytes", b"_rebuild_tensor_v2", b"_rebuild_parameter", b"module_src"):
        assert needle in raw, needle
    with pytest.raises(ModuleNotFoundError):  # the ordinary loader cannot even read it here
        pickle.loads(raw)


def test_loads_same_weights_and_outputs_without_running_module_src(nv_pkl, src_G):
    pkl, marker = nv_pkl
    G = load_nvidia_pickle(pkl)
    assert not marker.exists()
    assert G.config == src_G.config
    want, got = src_G.state_dict(), G.state_dict()
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == torch.float32
        assert torch.equal(got[k], want[k]), k
    z = torch.randn(3, CFG["z_dim"], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(G(z, truncation_psi=0.7), src_G(z, truncation_psi=0.7))
    assert not marker.exists()


def test_read_pickle_keeps_everything_inert(nv_pkl):
    pkl, marker = nv_pkl
    data = read_pickle(pkl)
    assert set(data) == {"training_set_kwargs", "G", "D", "G_ema", "augment_pipe"}
    assert data["augment_pipe"] is None and data["G"] is data["G_ema"]
    assert data["training_set_kwargs"].resolution == 16
    assert data["G_ema"].class_name == "Generator" and "pathlib" in data["G_ema"].module_src
    assert data["D"].state["table"].array.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert float(data["D"].state["weight_gain"]) == 0.25
    assert not marker.exists()


def test_other_network_key(nv_pkl, src_G):
    pkl, _ = nv_pkl
    G = load_nvidia_pickle(pkl, key="G")
    assert all(torch.equal(v, src_G.state_dict()[k]) for k, v in G.state_dict().items())
    with pytest.raises(FingerprintError, match="'D' is a Discriminator, not a Generator"):
        load_nvidia_pickle(pkl, key="D")
    with pytest.raises(FingerprintError, match=r"no 'G_avg' in the pickle \(networks: G, D, G_ema\)"):
        load_nvidia_pickle(pkl, key="G_avg")


def test_half_precision_channels_last_weights_are_cast(tmp_path, src_G):
    pkl = write_nvidia_pickle(tmp_path / "half.pkl", src_G, tmp_path / "EXECUTED", half=True)
    G = load_nvidia_pickle(pkl)
    params = dict(src_G.named_parameters())
    for k, v in G.state_dict().items():
        want = params[k].detach().half().float() if k in params else src_G.state_dict()[k]
        assert v.dtype == torch.float32 and torch.equal(v, want), k


class Evil:
    def __init__(self, reduce):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


@pytest.mark.parametrize("reduce, name", [
    (lambda m: (os.system, (f"touch {m}",)), f"{os.system.__module__}.system"),
    (lambda m: (eval, (f"open({str(m)!r}, 'w')",)), "builtins.eval"),
    (lambda m: (exec, (f"open({str(m)!r}, 'w')",)), "builtins.exec"),
    (lambda m: (__import__, ("os",)), "builtins.__import__"),
    (lambda m: (getattr, ("", "join")), "builtins.getattr"),
])
def test_disallowed_globals_are_refused_before_running(tmp_path, src_G, reduce, name):
    marker = tmp_path / "EXECUTED"
    pkl = write_nvidia_pickle(tmp_path / "evil.pkl", src_G, marker, extra={"payload": Evil(reduce(marker))})
    with pytest.raises(FingerprintError, match=f"refusing to load {name} from the pickle"):
        load_nvidia_pickle(pkl)
    assert not marker.exists()


def test_plain_evil_pickle_and_real_nvidia_classes_are_refused(tmp_path):
    marker = tmp_path / "EXECUTED"
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps(Evil((os.system, (f"touch {marker}",)))))
    with pytest.raises(FingerprintError, match="refusing to load"):
        read_pickle(p)
    assert not marker.exists()
    # An NVIDIA class referenced by name (not through persistence) is code too: refused.
    p.write_bytes(b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x11training.networks\x94\x8c"
                  b"\tGenerator\x94\x93\x94.")
    with pytest.raises(FingerprintError, match="refusing to load training.networks.Generator"):
        read_pickle(p)


def test_conditional_generator_is_refused(tmp_path, src_G):
    pkl = write_nvidia_pickle(tmp_path / "cond.pkl", src_G, tmp_path / "EXECUTED", c_dim=10)
    with pytest.raises(FingerprintError, match=r"G_ema is a conditional generator \(c_dim=10\)"):
        load_nvidia_pickle(pkl)


def test_other_architectures_and_options_are_refused(tmp_path, src_G):
    pkl = write_nvidia_pickle(tmp_path / "resnet.pkl", src_G, tmp_path / "EXECUTED", architecture="resnet")
    with pytest.raises(FingerprintError, match="architecture 'resnet' is not supported"):
        load_nvidia_pickle(pkl)
    pkl = write_nvidia_pickle(tmp_path / "orig.pkl", src_G, tmp_path / "EXECUTED", use_noise=False)
    with pytest.raises(FingerprintError, match="synthesis use_noise False is not supported"):
        load_nvidia_pickle(pkl)


def test_stylegan3_repo_stylegan2_config(tmp_path, src_G):
    """NVlabs/stylegan3 (--cfg=stylegan2) records the synthesis options as top-level kwargs."""
    def sg3_kwargs(EasyDict, **top):
        return EasyDict(z_dim=CFG["z_dim"], w_dim=CFG["w_dim"], c_dim=0, img_resolution=CFG["img_resolution"],
                        img_channels=CFG["img_channels"], mapping_kwargs=EasyDict(num_layers=CFG["mapping_layers"]),
                        channel_base=CFG["channel_base"], channel_max=CFG["channel_max"], num_fp16_res=4,
                        conv_clamp=256, fused_modconv_default="inference_only", **top)
    pkl = write_nvidia_pickle(tmp_path / "sg3-sg2.pkl", src_G, tmp_path / "EXECUTED", kwargs_fn=sg3_kwargs)
    G = load_nvidia_pickle(pkl)
    assert G.config == src_G.config
    assert all(torch.equal(v, src_G.state_dict()[k]) for k, v in G.state_dict().items())
    pkl = write_nvidia_pickle(tmp_path / "sg3-t.pkl", src_G, tmp_path / "EXECUTED", kwargs_fn=sg3_kwargs,
                              magnitude_ema_beta=0.999)
    with pytest.raises(FingerprintError, match="unsupported generator option.*magnitude_ema_beta"):
        load_nvidia_pickle(pkl)


def test_mismatched_weights_are_refused(tmp_path, src_G):
    def kwargs_fn(EasyDict, **kw):  # records a bigger generator than the weights it holds
        k = nvidia_kwargs(EasyDict, **kw)
        k["synthesis_kwargs"]["channel_max"] = 64
        return k
    pkl = write_nvidia_pickle(tmp_path / "bad.pkl", src_G, tmp_path / "EXECUTED", kwargs_fn=kwargs_fn)
    with pytest.raises(FingerprintError, match="has shape"):
        load_nvidia_pickle(pkl)


def test_not_a_pickle(tmp_path):
    p = tmp_path / "x.pkl"
    p.write_text("hello")
    with pytest.raises(FingerprintError, match="not a pickle file"):
        read_pickle(p)
    torch.save({"a": torch.zeros(1)}, p)
    with pytest.raises(FingerprintError, match="zip archive"):
        read_pickle(p)
    p.write_bytes(pickle.dumps({"a": 1})[:-3])
    with pytest.raises(FingerprintError, match="not a readable StyleGAN2-ADA pickle"):
        read_pickle(p)
    with pytest.raises(FingerprintError, match="cannot open"):
        read_pickle(tmp_path / "missing.pkl")
    p.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(FingerprintError, match="holds a list"):
        load_nvidia_pickle(p)


def test_unpickler_allows_only_listed_globals():
    u = SafeUnpickler.__new__(SafeUnpickler)
    assert u.find_class("collections", "OrderedDict") is collections.OrderedDict
    assert u.find_class("torch", "float16") is torch.float16
    for module, name in [("torch", "load"), ("torch.storage", "UntypedStorage"), ("numpy", "load"),
                         ("builtins", "__import__"), ("torch_utils.persistence", "_src_to_module"),
                         ("copyreg", "_reconstructor"), ("torch.serialization", "load")]:
        with pytest.raises(FingerprintError, match=f"refusing to load {module}.{name}"):
            u.find_class(module, name)


def test_convert_writes_safetensors_with_provenance(nv_pkl, src_G, tmp_path):
    pkl, marker = nv_pkl
    out = tmp_path / "afhqdog.safetensors"
    meta = convert_nvidia_pickle(pkl, out, license="NVIDIA Source Code License-NC")
    G = load_generator(out)
    assert G.extra_meta == meta
    assert meta["source"] == "afhqdog-like.pkl"
    assert meta["source_sha256"] == hashlib.sha256(pkl.read_bytes()).hexdigest()
    assert meta["source_key"] == "G_ema" and meta["license"] == "NVIDIA Source Code License-NC"
    assert all(torch.equal(v, src_G.state_dict()[k]) for k, v in G.state_dict().items())
    assert not marker.exists()


def test_cli_import_stylegan2(nv_pkl, src_G, tmp_path, capsys):
    pkl, marker = nv_pkl
    out = tmp_path / "dog.safetensors"
    assert main(["import-stylegan2", str(pkl), "-o", str(out)]) == 0
    o, e = capsys.readouterr()
    assert o.startswith(f"wrote {out}: G_ema of afhqdog-like.pkl") and e == ""
    G = load_generator(out)
    assert G.extra_meta["license"] == ""
    assert all(torch.equal(v, src_G.state_dict()[k]) for k, v in G.state_dict().items())

    evil = write_nvidia_pickle(tmp_path / "evil.pkl", src_G, marker,
                               extra={"x": Evil((os.system, (f"touch {marker}",)))})
    cases = [
        (["import-stylegan2", str(tmp_path / "none.pkl"), "-o", str(out)], "cannot open"),
        (["import-stylegan2", str(evil), "-o", str(tmp_path / "e.safetensors")], "refusing to load"),
        (["import-stylegan2", str(pkl), "-o", str(out), "--key", "D"], "not a Generator"),
        (["import-stylegan2", str(pkl), "-o", str(tmp_path / "no" / "dir.safetensors")], "does not exist"),
        (["import-stylegan2", str(pkl), "-o", str(tmp_path)], "is a directory"),
    ]
    for argv, msg in cases:
        assert main(argv) == 2
        o, e = capsys.readouterr()
        assert o == "" and e.startswith("readable-fp: error: ") and msg in e and e.count("\n") == 1, e
    assert not marker.exists() and not (tmp_path / "e.safetensors").exists()
    with pytest.raises(SystemExit):  # -o is required
        main(["import-stylegan2", str(pkl)])
    assert "required" in capsys.readouterr().err


def test_shared_submodules_do_not_make_the_walk_exponential(tmp_path):
    """48 levels, each holding the next twice: 11 KB of pickle, 2^48 visits without a visited set."""
    from readable_fp.nvidia_pickle import network_state

    with fake_nvidia_modules() as (reconstruct, _):
        node = Persistent(reconstruct, {"class_name": "leaf", "state": {"_parameters": {}, "_modules": {}}})
        for level in range(48):
            node = Persistent(reconstruct, {"class_name": f"l{level}", "state": {"_modules": {"a": node, "b": node}}})
        (tmp_path / "shared.pkl").write_bytes(pickle.dumps({"G_ema": node}, protocol=4))
    tree = read_pickle(tmp_path / "shared.pkl")["G_ema"]
    with pytest.raises(FingerprintError, match="appears twice"):
        network_state(tree)


def test_a_view_past_its_storage_is_refused(tmp_path):
    """A float16 tensor claiming 2^31 elements over a 16-element storage: torch would build the view."""
    class HugeView:
        def __reduce__(self):
            storage = torch.zeros(16, dtype=torch.float16).storage()
            return torch._utils._rebuild_tensor_v2, (storage, 0, (2**31,), (1,), False, collections.OrderedDict())

    (tmp_path / "view.pkl").write_bytes(pickle.dumps(HugeView(), protocol=4))
    with pytest.raises(FingerprintError, match="reaches past its 16-element storage"):
        read_pickle(tmp_path / "view.pkl")
