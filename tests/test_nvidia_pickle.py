"""Reading NVIDIA StyleGAN2-ADA pickles without running their code (pickles built by
tests/nvidia_pickles.py: NVIDIA's structure, with module source that must never run)."""
from __future__ import annotations

import collections
import hashlib
import os
import pickle
import sys

import numpy as np
import pytest
import torch

from readable_fp.cli import main
from readable_fp.errors import FingerprintError
from readable_fp.nvidia_pickle import SafeUnpickler, convert_nvidia_pickle, load_nvidia_pickle, read_pickle
from readable_fp.stylegan2 import Generator, load_generator

from nvidia_pickles import (CFG, NV_MODULES, Persistent, fake_nvidia_modules, nvidia_kwargs, source_generator,
                            write_nvidia_pickle)


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


def _sg3_kwargs(EasyDict, cfg=CFG, **top):
    """What NVlabs/stylegan3's train.py --cfg=stylegan2 records (no conv_clamp unless --fp32)."""
    return EasyDict(z_dim=cfg["z_dim"], w_dim=cfg["w_dim"], c_dim=0, img_resolution=cfg["img_resolution"],
                    img_channels=cfg["img_channels"], mapping_kwargs=EasyDict(num_layers=cfg["mapping_layers"]),
                    channel_base=cfg["channel_base"], channel_max=cfg["channel_max"], num_fp16_res=4,
                    fused_modconv_default="inference_only", **top)


def test_stylegan3_layout_without_conv_clamp_renders_like_the_clamped_reference(tmp_path):
    """stylegan3's SynthesisBlock clamps at 256 by default; a pickle that relies on it must not be
    read unclamped. Large biases push activations past 256, where the two differ."""
    from readable_fp.stylegan2 import render

    ref = source_generator(seed=3)  # conv_clamp=256: the reference
    with torch.no_grad():
        ref.synthesis.b4.conv1.bias.add_(400.0)
        ref.synthesis.b8.conv0.bias.add_(-300.0)
    pkl = write_nvidia_pickle(tmp_path / "sg3.pkl", ref, tmp_path / "EXECUTED", kwargs_fn=_sg3_kwargs)
    G = load_nvidia_pickle(pkl)
    assert G.config["conv_clamp"] == 256
    unclamped = Generator(**{**CFG, "conv_clamp": None}).eval()
    unclamped.load_state_dict(ref.state_dict())
    z = np.random.default_rng(0).standard_normal(CFG["z_dim"])
    peak = []
    unclamped.synthesis.b4.conv1.register_forward_hook(lambda m, i, out: peak.append(out.abs().max().item()))
    got, want, wrong = (np.asarray(render(z, g)) for g in (G, ref, unclamped))
    assert peak[0] > 256
    assert np.array_equal(got, want)
    mse = np.mean((wrong.astype(float) - want) ** 2)
    assert 10 * np.log10(255**2 / mse) < 20  # PSNR in dB: read unclamped, it is another picture


def test_conv_clamp_defaults_follow_the_repository_that_wrote_the_pickle(tmp_path, src_G):
    def ada_without_clamp(EasyDict, **kw):  # stylegan2-ada-pytorch's own default: no clamping
        k = nvidia_kwargs(EasyDict, **kw)
        del k["synthesis_kwargs"]["conv_clamp"]
        return k
    pkl = write_nvidia_pickle(tmp_path / "ada.pkl", src_G, tmp_path / "EXECUTED", kwargs_fn=ada_without_clamp)
    assert load_nvidia_pickle(pkl).config["conv_clamp"] is None
    pkl = write_nvidia_pickle(tmp_path / "fp32.pkl", src_G, tmp_path / "EXECUTED", kwargs_fn=_sg3_kwargs,
                              conv_clamp=None)  # stylegan3 --fp32 records None explicitly
    assert load_nvidia_pickle(pkl).config["conv_clamp"] is None

    def bare(EasyDict, **kw):  # neither layout's marks: which default applies cannot be told
        k = nvidia_kwargs(EasyDict, **kw)
        del k["synthesis_kwargs"]
        return k
    pkl = write_nvidia_pickle(tmp_path / "bare.pkl", src_G, tmp_path / "EXECUTED", kwargs_fn=bare)
    with pytest.raises(FingerprintError, match="records no synthesis options"):
        load_nvidia_pickle(pkl)


def test_a_storage_payload_calling_code_is_refused_without_torch_unsafe_advice(tmp_path, src_G):
    """The storage bytes go to torch.load(weights_only=True), which refuses them; its own message says
    to retry with weights_only=False, which would run the payload. Ours must not."""
    import io

    marker = tmp_path / "EXECUTED"
    payload = io.BytesIO()
    torch.save(Evil((os.system, (f"touch {marker}",))), payload, _use_new_zipfile_serialization=False)

    class Storage:
        def __reduce__(self):
            return torch.storage._load_from_bytes, (payload.getvalue(),)

    pkl = write_nvidia_pickle(tmp_path / "evil-storage.pkl", src_G, marker, extra={"payload": Storage()})
    with pytest.raises(FingerprintError) as e:
        load_nvidia_pickle(pkl)
    msg = str(e.value)
    assert f"calls {os.system.__module__}.system, which is code" in msg and "nothing from the pickle was run" in msg
    assert "weights_only" not in msg and "trust" not in msg.lower() and "\n" not in msg
    assert not marker.exists()
    assert main(["import-stylegan2", str(pkl), "-o", str(tmp_path / "g.safetensors")]) == 2
