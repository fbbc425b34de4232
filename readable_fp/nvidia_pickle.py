"""Read a generator out of an official NVIDIA StyleGAN2-ADA pickle without running its code.

NVIDIA publishes its StyleGAN2-ADA generators (e.g. ``afhqdog.pkl``, 512 px, the network the
published method renders dogs with) as Python pickles written by ``stylegan2-ada-pytorch``'s
``training_loop`` (a dict ``{'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs', ...}``).
Loading one the official way executes code stored inside it: every network object is pickled as
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` where ``meta['module_src']`` is the
source of the module that defined its class, and the official loader ``exec``s that source.
A pickle can also name any other callable. We therefore never call ``pickle.load`` on it:
`SafeUnpickler` resolves globals from an explicit allow-list only (`ALLOWED_GLOBALS`) and maps
NVIDIA's two own globals to inert stand-ins that merely keep their arguments:

* ``torch_utils.persistence._reconstruct_persistent_obj`` -> `PersistentObject` (keeps
  ``class_name``, ``version``, ``state`` = the module's ``__dict__``; ``module_src`` is kept as
  inert text and never compiled or executed);
* ``dnnlib.util.EasyDict`` / ``dnnlib.EasyDict`` -> `EasyDict`, a plain ``dict`` subclass.

Tensors are rebuilt with torch's own rebuild functions, after type checks; their storages,
which plain pickling stores as the bytes of a legacy ``torch.save``, are read with
``torch.load(weights_only=True)`` (torch's restricted unpickler) instead of
``torch.storage._load_from_bytes`` (which loads with ``weights_only=False``). Every other global,
``os.system``, ``builtins.eval``, ``subprocess.*``, any class of NVIDIA's or anyone else's, stops
the load with a one-line `FingerprintError` before anything named by it is called.

The stand-in module tree of the chosen network (``G_ema`` by default) is then flattened to a state
dict with NVIDIA's dotted names (``mapping.fc0.weight``, ``synthesis.b64.torgb.weight``, ...),
the generator's configuration is read from the ``init_kwargs`` the persistence wrapper recorded
(``z_dim``, ``w_dim``, ``img_resolution``, ``img_channels``, ``mapping_kwargs.num_layers`` and
``lr_multiplier``, ``synthesis_kwargs.channel_base/channel_max/conv_clamp/architecture``; stylegan3
passes the synthesis options as top-level kwargs, which is accepted too, and when it records no
``conv_clamp`` its generator clamps at 256, where stylegan2-ada-pytorch's does not clamp), and
the weights are loaded into this project's `readable_fp.stylegan2.Generator`, whose parameter
names are identical, with ``strict=True`` (half-precision tensors are cast to float32).
Refused with a clear message: conditional generators (``c_dim > 0``), architectures other than
``'skip'``, and any synthesis/mapping option this project's generator does not implement.
``num_fp16_res`` is accepted and ignored: it only selects the arithmetic precision of the top
blocks, the stored weights are float32 either way, and we compute in float32.

Supported: pickles written by ``NVlabs/stylegan2-ada-pytorch`` (training snapshots and the
published ``pretrained/*.pkl``, which were converted from TensorFlow and re-pickled by that code).
``NVlabs/stylegan3`` writes the same persistence format, so its ``stylegan2`` configuration
(``training/networks_stylegan2.py``) should load as well; its ``stylegan3-t/-r`` generators have
other parameters and are refused by the strict load. The original TensorFlow pickles
(``dnnlib.tflib.network.Network``) and rosinality's ``.pt`` checkpoints are not supported.

Testing: the real ``afhqdog.pkl`` cannot be fetched on the project's machines (no network), so the
loader was tested (tests/test_nvidia_pickle.py) on a pickle of the same structure built inside the
test: NVIDIA's module names, ``meta`` dicts with executable ``module_src`` (which must not run),
``EasyDict`` kwargs, numpy scalar attributes and tensors pickled by plain ``pickle.dump``.
"""
from __future__ import annotations

import collections
import io
import os
import pickle
import re
from typing import Any

import numpy as np
import torch

from .errors import FingerprintError
from .hashing import file_sha256

__all__ = ["SafeUnpickler", "PersistentObject", "EasyDict", "ALLOWED_GLOBALS", "read_pickle",
           "network_state", "generator_config", "load_nvidia_pickle", "convert_nvidia_pickle"]


# --- inert stand-ins ------------------------------------------------------------------------

class PersistentObject:
    """What ``_reconstruct_persistent_obj(meta)`` stood for: the data only, never the class."""

    __slots__ = ("class_name", "version", "type", "module_src", "state")

    def __init__(self, meta: Any) -> None:
        if not isinstance(meta, dict):
            raise FingerprintError("malformed persistent object in the pickle (meta is not a dict)")
        self.class_name = str(meta.get("class_name", "?"))
        self.version = meta.get("version")
        self.type = meta.get("type")
        src = meta.get("module_src")
        self.module_src = src if isinstance(src, str) else None  # kept as text: never compiled
        state = meta.get("state")
        self.state = dict(state) if isinstance(state, dict) else {}

    def __setstate__(self, state: Any) -> None:  # pragma: no cover - NVIDIA pickles never do this
        raise FingerprintError("malformed persistent object in the pickle (unexpected BUILD)")

    def __repr__(self) -> str:
        return f"<persistent {self.class_name} v{self.version}>"


def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    return PersistentObject(meta)


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a plain dict (attribute access for convenience)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.update(state)


class NumpyArray:
    """Stand-in for a pickled numpy array: holds the data as ``.array`` (no object dtypes)."""

    __slots__ = ("array",)

    def __init__(self) -> None:
        self.array = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise FingerprintError("malformed numpy array in the pickle")
        _version, shape, dtype, fortran, raw = state
        if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(raw, (bytes, bytearray)):
            raise FingerprintError("refusing to load a numpy array of Python objects from the pickle")
        arr = np.frombuffer(bytes(raw), dtype=dtype)
        self.array = arr.reshape(tuple(shape), order="F" if fortran else "C")


# --- guarded versions of the allowed callables -------------------------------------------------

def _load_storage_from_bytes(b: Any):
    """Replacement for ``torch.storage._load_from_bytes``: torch's restricted loader only."""
    if not isinstance(b, (bytes, bytearray)):
        raise FingerprintError("malformed tensor storage in the pickle")
    try:
        storage = torch.load(io.BytesIO(bytes(b)), weights_only=True, map_location="cpu")
    except Exception as e:
        raise FingerprintError(_storage_refusal(e)) from None
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise FingerprintError(f"tensor storage in the pickle holds a {type(storage).__name__}, not a storage")
    return storage


def _storage_refusal(e: Exception) -> str:
    """Our words for torch's refusal. Torch's own message advises retrying with
    ``weights_only=False``, which is exactly what would run the payload, so it is never passed on."""
    named = re.search(r"GLOBAL ([\w.]+)", str(e))
    if named:
        return (f"a tensor storage in the pickle calls {named.group(1)}, which is code, not tensor data; "
                "refusing it (nothing from the pickle was run)")
    return f"unreadable tensor storage in the pickle ({type(e).__name__}); nothing from the pickle was run"


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    if not isinstance(storage, torch.TypedStorage):
        raise FingerprintError("malformed tensor in the pickle (its storage is not a typed storage)")
    size, stride, offset = tuple(int(s) for s in size), tuple(int(s) for s in stride), int(storage_offset)
    # A view reaching past its storage would make torch read (and later copy) memory it does not own.
    if len(size) != len(stride) or min(size + stride + (offset,), default=0) < 0 or \
            (all(size) and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= storage.size()):
        raise FingerprintError(f"malformed tensor in the pickle: a {size} view reaches past its "
                               f"{storage.size()}-element storage")
    try:
        return torch._utils._rebuild_tensor_v2(storage, int(storage_offset), tuple(int(s) for s in size),
                                               tuple(int(s) for s in stride), False, collections.OrderedDict())
    except FingerprintError:
        raise
    except Exception as e:
        raise FingerprintError(f"malformed tensor in the pickle: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *state):
    if not isinstance(data, torch.Tensor):
        raise FingerprintError("malformed parameter in the pickle (its data is not a tensor)")
    return torch.nn.Parameter(data, requires_grad=False)


def _torch_size(dims=()):
    return torch.Size(tuple(int(d) for d in dims))


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, (bytes, bytearray)):
        raise FingerprintError("refusing to load a numpy scalar of Python objects from the pickle")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


def _numpy_dtype(obj, align=False, copy=False):
    if not isinstance(obj, str):
        raise FingerprintError("malformed numpy dtype in the pickle")
    return np.dtype(obj, align=bool(align), copy=bool(copy))


class _NdarrayType:
    """Stand-in for ``numpy.ndarray``: only meaningful as `_numpy_reconstruct`'s first argument."""


def _numpy_reconstruct(subtype, shape, dtype_code):
    if subtype is not _NdarrayType:
        raise FingerprintError("refusing to load a numpy array subclass from the pickle")
    return NumpyArray()


_NP_CORE = ("numpy.core.multiarray", "numpy._core.multiarray")

# (module, name) -> callable handed to the unpickler. Nothing outside this table can be loaded.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch", "Size"): _torch_size,
    ("numpy", "dtype"): _numpy_dtype,
    **{(m, "scalar"): _numpy_scalar for m in _NP_CORE},
    **{(m, "_reconstruct"): _numpy_reconstruct for m in _NP_CORE},
    ("numpy", "ndarray"): _NdarrayType,
    # NVIDIA's own globals, replaced by inert stand-ins:
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
}
_TORCH_DTYPES = {name for name in dir(torch) if isinstance(getattr(torch, name, None), torch.dtype)}


class SafeUnpickler(pickle.Unpickler):
    """A pickle reader that resolves globals from `ALLOWED_GLOBALS` only (and torch dtypes)."""

    def find_class(self, module: str, name: str):
        fn = ALLOWED_GLOBALS.get((module, name))
        if fn is not None:
            return fn
        if module == "torch" and name in _TORCH_DTYPES:
            return getattr(torch, name)
        raise FingerprintError(f"refusing to load {module}.{name} from the pickle: only tensors, numpy "
                               "scalars and StyleGAN2-ADA's own records are read, never code")

    def persistent_load(self, pid):
        raise FingerprintError("refusing to load the pickle: it uses persistent ids (not a StyleGAN2-ADA pickle)")


def _short(e: BaseException) -> str:
    s = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {s}" if s else type(e).__name__


MAX_PICKLE_BYTES = 4 << 30


def read_pickle(path: str | os.PathLike) -> Any:
    """The pickle's top-level object, with NVIDIA's networks as `PersistentObject` trees."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise FingerprintError(f"{path}: is a directory, not a StyleGAN2-ADA .pkl file")
    try:
        f = open(path, "rb")
    except OSError as e:
        raise FingerprintError(f"{path}: cannot open: {e.strerror or _short(e)}") from None
    with f:
        if not os.path.isfile(path) or os.fstat(f.fileno()).st_size > MAX_PICKLE_BYTES:
            raise FingerprintError(f"{path}: not a regular file of at most {MAX_PICKLE_BYTES >> 30} GB "
                                   "(NVIDIA's largest StyleGAN2-ADA pickles are ~0.4 GB)")
        head = f.read(2)
        f.seek(0)
        if head[:1] != b"\x80":
            if head == b"PK":
                raise FingerprintError(f"{path}: is a zip archive (a torch.save checkpoint?), not a StyleGAN2-ADA pickle")
            raise FingerprintError(f"{path}: not a pickle file")
        try:
            return SafeUnpickler(f).load()
        except FingerprintError as e:
            raise FingerprintError(f"{path}: {e}") from None
        except Exception as e:  # malformed data met by pickle or by an allowed constructor
            raise FingerprintError(f"{path}: not a readable StyleGAN2-ADA pickle ({_short(e)})") from None


def network_state(obj: PersistentObject, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten a persistent module tree to ``{dotted name: tensor}`` like ``Module.state_dict()``."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()

    def walk(o: Any, pre: str, depth: int) -> None:
        if depth > 64:
            raise FingerprintError("network tree in the pickle is nested too deeply")
        if id(o) in seen:  # a network is a tree; shared records would make this walk exponential
            raise FingerprintError(f"module {pre.rstrip('.') or '(root)'} appears twice in the pickle's network tree")
        seen.add(id(o))
        if isinstance(o, PersistentObject):
            st = o.state
        else:
            raise FingerprintError(f"module {pre.rstrip('.') or '(root)'} in the pickle is a {type(o).__name__}, "
                                   "not a StyleGAN2-ADA network record")
        params = st.get("_parameters") or {}
        buffers = st.get("_buffers") or {}
        modules = st.get("_modules") or {}
        if not all(isinstance(d, dict) for d in (params, buffers, modules)):
            raise FingerprintError(f"module {pre.rstrip('.') or '(root)'} in the pickle is malformed")
        skip = st.get("_non_persistent_buffers_set") or set()
        for name, t in list(params.items()) + [(k, v) for k, v in buffers.items() if k not in skip]:
            if t is None:
                continue
            if not isinstance(t, torch.Tensor):
                raise FingerprintError(f"{pre}{name} in the pickle is a {type(t).__name__}, not a tensor")
            out[pre + str(name)] = t
        for name, sub in modules.items():
            if sub is not None:
                walk(sub, f"{pre}{name}.", depth + 1)

    walk(obj, prefix, 0)
    return out


# Options of NVIDIA's generator that this project's generator implements only at their defaults.
_MAPPING_FIXED = {"activation": "lrelu", "layer_features": None}
_SYNTHESIS_FIXED = {"architecture": "skip", "resample_filter": [1, 3, 3, 1], "use_noise": True, "activation": "lrelu"}
_MAPPING_KNOWN = {"num_layers", "lr_multiplier", "embed_features", "w_avg_beta"} | set(_MAPPING_FIXED)
# num_fp16_res / fp16_channels_last / fused_modconv_default choose how NVIDIA computes, not what.
_SYNTHESIS_KNOWN = ({"channel_base", "channel_max", "conv_clamp", "num_fp16_res", "fp16_channels_last",
                     "fused_modconv_default"} | set(_SYNTHESIS_FIXED))
_G_ARGS = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs")


def generator_config(obj: PersistentObject, where: str = "G_ema") -> dict[str, Any]:
    """Keyword arguments for `readable_fp.stylegan2.Generator`, from the recorded init_kwargs."""
    st = obj.state
    kwargs = dict(st.get("_init_kwargs") or {})
    args = st.get("_init_args") or ()
    if not isinstance(args, (tuple, list)):
        args = ()
    for name, val in zip(_G_ARGS, args):
        kwargs.setdefault(name, val)
    for name in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"):
        if name not in kwargs and name in st:  # fall back to the attributes the module stored
            kwargs[name] = st[name]
    missing = [n for n in ("z_dim", "w_dim", "img_resolution", "img_channels") if n not in kwargs]
    if missing:
        raise FingerprintError(f"{where}: the pickle does not record {', '.join(missing)}; cannot rebuild the generator")
    c_dim = int(kwargs.get("c_dim") or 0)
    if c_dim:
        raise FingerprintError(f"{where} is a conditional generator (c_dim={c_dim}): only unconditional "
                               "StyleGAN2 generators (c_dim=0) are supported")
    mk = dict(kwargs.get("mapping_kwargs") or {})
    sk = dict(kwargs.get("synthesis_kwargs") or {})
    # stylegan3's networks_stylegan2.Generator takes the synthesis options as top-level **kwargs,
    # and its defaults differ: SynthesisBlock clamps at 256 where stylegan2-ada-pytorch's does not.
    top = [k for k in kwargs if k not in _G_ARGS and k in _SYNTHESIS_KNOWN]
    for k in top:
        sk.setdefault(k, kwargs.pop(k))
    if "synthesis_kwargs" in kwargs:
        default_clamp = None  # stylegan2-ada-pytorch (its train.py and legacy.py always record it anyway)
    elif top:
        default_clamp = 256  # NVlabs/stylegan3 training/networks_stylegan2.py; train.py records it only for --fp32
    else:
        raise FingerprintError(f"{where}: the pickle records no synthesis options, so which NVIDIA repository "
                               "wrote it (and so its conv_clamp default) cannot be told; not supported")
    unknown = sorted(set(mk) - _MAPPING_KNOWN) + sorted(set(sk) - _SYNTHESIS_KNOWN)
    unknown += sorted(set(kwargs) - set(_G_ARGS))
    if unknown:
        raise FingerprintError(f"{where}: unsupported generator option(s) {', '.join(map(str, unknown))} "
                               "(only NVIDIA's StyleGAN2 generator is supported)")
    for opts, fixed, group in ((mk, _MAPPING_FIXED, "mapping"), (sk, _SYNTHESIS_FIXED, "synthesis")):
        for k, want in fixed.items():
            got = opts.get(k, want)
            if k == "layer_features" and got is not None and int(got) == int(kwargs["w_dim"]):
                continue
            if (list(got) if isinstance(got, (list, tuple)) else got) != want:
                what = "architecture" if k == "architecture" else f"{group} {k}"
                raise FingerprintError(f"{where}: {what} {got!r} is not supported (only {want!r})")
    if mk.get("w_avg_beta", 0.995) is None:
        raise FingerprintError(f"{where}: the generator tracks no average W (w_avg_beta=None); not supported")
    conv_clamp = sk.get("conv_clamp", default_clamp)
    return dict(
        z_dim=int(kwargs["z_dim"]), w_dim=int(kwargs["w_dim"]),
        img_resolution=int(kwargs["img_resolution"]), img_channels=int(kwargs["img_channels"]),
        mapping_layers=int(mk.get("num_layers", 8)),
        channel_base=int(sk.get("channel_base", 32768)), channel_max=int(sk.get("channel_max", 512)),
        conv_clamp=conv_clamp,
        mapping_lr_multiplier=float(mk.get("lr_multiplier", 0.01)),
    )


def _standard_filter() -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = torch.outer(f, f)
    return f / f.sum()


def _network(data: Any, key: str, path: str) -> PersistentObject:
    if not isinstance(data, dict):
        raise FingerprintError(f"{path}: the pickle holds a {type(data).__name__}, not StyleGAN2-ADA's dict of networks")
    if key not in data:
        nets = [k for k, v in data.items() if isinstance(v, PersistentObject)]
        raise FingerprintError(f"{path}: no {key!r} in the pickle (networks: {', '.join(map(str, nets)) or 'none'})")
    obj = data[key]
    if not isinstance(obj, PersistentObject):
        raise FingerprintError(f"{path}: {key!r} is a {type(obj).__name__}, not a StyleGAN2-ADA network")
    if obj.class_name != "Generator":
        raise FingerprintError(f"{path}: {key!r} is a {obj.class_name}, not a Generator")
    return obj


def load_nvidia_pickle(path: str | os.PathLike, key: str = "G_ema"):
    """Build this project's `Generator` from network `key` of an NVIDIA StyleGAN2-ADA pickle."""
    from .stylegan2 import Generator

    path = os.fspath(path)
    obj = _network(read_pickle(path), key, path)
    cfg = generator_config(obj, f"{path}: {key}")
    src = network_state(obj)
    try:
        G = Generator(**cfg)
    except FingerprintError:
        raise
    except Exception as e:
        raise FingerprintError(f"{path}: cannot build a generator with {cfg}: {_short(e)}") from None
    want = G.state_dict()
    sd: dict[str, torch.Tensor] = {}
    for name, t in src.items():
        if name.endswith("resample_filter") and name not in want:
            # NVIDIA keeps the fixed [1,3,3,1] low-pass filter as a buffer; ours may not.
            if t.shape != (4, 4) or not torch.allclose(t.float(), _standard_filter()):
                raise FingerprintError(f"{path}: {key}.{name} is not the standard [1,3,3,1] filter; not supported")
            continue
        sd[name] = t.detach().to(torch.float32) if t.is_floating_point() else t.detach()
    missing = sorted(set(want) - set(sd))
    extra = sorted(set(sd) - set(want))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} (e.g. {missing[0]})")
        if extra:
            parts.append(f"unexpected {len(extra)} (e.g. {extra[0]})")
        raise FingerprintError(f"{path}: {key} does not match a StyleGAN2 generator of this configuration: {'; '.join(parts)}")
    bad = [n for n in want if tuple(want[n].shape) != tuple(sd[n].shape)]
    if bad:
        n = bad[0]
        raise FingerprintError(f"{path}: {key}.{n} has shape {list(sd[n].shape)}, expected {list(want[n].shape)}")
    G.load_state_dict(sd, strict=True)
    return G.eval().requires_grad_(False)


def convert_nvidia_pickle(pkl: str | os.PathLike, out: str | os.PathLike, key: str = "G_ema",
                          license: str = "", extra: dict | None = None, expect: dict | None = None) -> dict:
    """Convert network `key` of `pkl` to a safetensors file via `save_generator`; returns its extra meta.

    The meta records the source file name, the pickle's sha256 and the network key, then `extra`;
    ``license`` is left to the user (NVIDIA's official pickles are non-commercial). `expect`: config
    values the generator must have (e.g. ``{"img_resolution": 512}``), checked before anything is written.
    """
    from .stylegan2 import save_generator

    pkl, out = os.fspath(pkl), os.fspath(out)
    if os.path.isdir(out):
        raise FingerprintError(f"{out}: is a directory; give a file name")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise FingerprintError(f"{parent}: output directory does not exist")
    G = load_nvidia_pickle(pkl, key=key)
    wrong = {k: G.config[k] for k, v in (expect or {}).items() if G.config[k] != v}
    if wrong:
        k = next(iter(wrong))
        raise FingerprintError(f"{pkl}: {key} has {k} {wrong[k]}, expected {expect[k]}: not the generator asked for")
    meta = {"source": os.path.basename(pkl), "source_sha256": file_sha256(pkl), "source_key": key,
            "source_format": "stylegan2-ada-pytorch pickle", "license": license, **(extra or {})}
    save_generator(G, out, meta)
    return meta
