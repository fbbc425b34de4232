"""Bad input: every case exits non-zero with exactly one line on stderr, `readable-fp: error: ...`,
no traceback, no hang, and no output file (not even a partial one) left behind.

Each case runs the command line in a process of its own, with a time limit (see `results`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from helpers import LLAMA_TINY, save_tiny, word, write_tokenizer
from test_formats import write_gguf

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120


class _RunsCode:
    """Unpickling this would create a file: the proof that a checkpoint's pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_config(d: Path, **changes) -> Path:
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def _truncate(path: Path, keep: float = 0.5) -> None:
    b = path.read_bytes()
    path.write_bytes(b[: int(len(b) * keep)])


def _gguf_tensor_type_offset(path: Path, index: int = 0) -> int:
    """File offset of the ggml type id (uint32) in the tensor-info record of tensor `index`."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    f = reader.tensors[index].field  # parts: name length, name, n_dims, dims, type, data offset
    off = f.offset + sum(int(p.nbytes) for p in f.parts[:4])
    assert int(f.parts[4][0]) == int(reader.tensors[index].tensor_type)
    del reader
    return off


def _build_cases(root: Path) -> dict[str, dict]:
    """name -> {"args": CLI args, "out": output file that must not appear, "says": words the message must hold}."""
    good = root / "good"
    save_tiny("llama", good, **LLAMA_TINY)
    gguf_good = write_gguf(good, root / "good.gguf")
    cases: dict[str, dict] = {}

    def inv_case(name, model, says, *extra):
        out_dir = root / "out" / name
        out_dir.mkdir(parents=True)
        cases[name] = {"args": ["invariants", str(model), "-o", str(out_dir / "fp.safetensors"), *extra],
                       "out": out_dir, "says": says}

    def cmp_case(name, a, b, says):
        cases[name] = {"args": ["compare", str(a), str(b)], "out": None, "says": says}

    inv_case("missing_path", root / "does-not-exist", "no such file")
    inv_case("missing_relative_path", "./nope/model.gguf", "no such file")

    (root / "garbage.safetensors").write_bytes(os.urandom(4096))
    inv_case("garbage_safetensors_file", root / "garbage.safetensors", "not a model")
    (root / "garbage.gguf").write_bytes(os.urandom(4096))
    inv_case("garbage_gguf", root / "garbage.gguf", "unreadable GGUF")
    d = root / "garbage_dir"
    d.mkdir()
    shutil.copy(good / "config.json", d)
    (d / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00" + os.urandom(4096))
    inv_case("garbage_model_safetensors", d, "unreadable safetensors")

    d = _copy(good, root / "truncated_st")
    _truncate(d / "model.safetensors")
    inv_case("truncated_safetensors", d, "unreadable safetensors")
    shutil.copy(gguf_good, root / "truncated.gguf")
    _truncate(root / "truncated.gguf")
    inv_case("truncated_gguf", root / "truncated.gguf", "truncated")
    d = root / "truncated_bin"
    d.mkdir()
    shutil.copy(good / "config.json", d)
    torch.save(load_file(str(good / "model.safetensors")), d / "pytorch_model.bin")
    _truncate(d / "pytorch_model.bin")
    inv_case("truncated_bin", d, "unreadable PyTorch checkpoint")

    d = root / "config_only"
    d.mkdir()
    shutil.copy(good / "config.json", d)
    shutil.copy(good / "tokenizer.json", d)
    inv_case("config_without_weights", d, "no weights")
    d = _edit_config(_copy(good, root / "new_arch"), model_type="new_arch", architectures=["NewArchForCausalLM"])
    inv_case("unsupported_architecture", d, "unsupported architecture 'new_arch'")
    d = _edit_config(_copy(good, root / "mamba"), model_type="mamba", architectures=["MambaForCausalLM"])
    inv_case("state_space_model", d, "state-space model with no attention layers")
    d = _copy(good, root / "bad_json")
    (d / "config.json").write_text('{"model_type": "llama",')
    inv_case("invalid_json_config", d, "not valid JSON")

    for name, zipped in (("pickle_with_code", True), ("legacy_pickle_with_code", False)):
        d = root / name
        d.mkdir()
        shutil.copy(good / "config.json", d)
        marker = root / f"{name}.EXECUTED"
        torch.save({"model.embed_tokens.weight": torch.zeros(4, 4), "evil": _RunsCode(marker)},
                   d / "pytorch_model.bin", _use_new_zipfile_serialization=zipped)
        inv_case(name, d, "plain tensors")
        cases[name]["marker"] = marker

    d = _edit_config(_copy(good, root / "heads"), num_attention_heads=5, num_key_value_heads=5)
    inv_case("head_counts_do_not_fit", d, "heads")
    d = _copy(good, root / "q_shape")
    sd = load_file(str(d / "model.safetensors"))
    sd["model.layers.2.self_attn.q_proj.weight"] = torch.randn(64, 48)
    save_file(sd, str(d / "model.safetensors"), metadata={"format": "pt"})
    inv_case("q_proj_wrong_shape", d, "q has shape (64, 48)")

    shutil.copy(gguf_good, root / "unknown_type.gguf")
    off = _gguf_tensor_type_offset(root / "unknown_type.gguf")
    with open(root / "unknown_type.gguf", "r+b") as f:
        f.seek(off)
        f.write((250).to_bytes(4, "little"))
    inv_case("gguf_unknown_tensor_type", root / "unknown_type.gguf", "type id 250")

    cases["output_directory_missing"] = {
        "args": ["invariants", str(good), "-o", str(root / "no" / "such" / "dir" / "fp.safetensors")],
        "out": root / "no", "says": "output directory does not exist"}
    (root / "out_is_dir").mkdir()
    cases["output_is_a_directory"] = {"args": ["invariants", str(good), "-o", str(root / "out_is_dir")],
                                      "out": root / "out_is_dir", "says": "is a directory"}

    d = _copy(good, root / "other_vocab")  # shares only 30 ordinary token strings with `good`
    tokens = ["<s0>", "<s1>"] + [word(i) + "x" for i in range(480)] + [word(i) for i in range(30)]
    write_tokenizer(d, 512, tokens=tokens)
    cmp_case("too_few_shared_probe_tokens", good, d, "share only 30 probe tokens")

    fp = root / "fp.safetensors"
    # written in-process (fast); the truncated copy must fail to load in the CLI
    import readable_fp
    readable_fp.invariants(good, n_tokens=64, progress=False).save(fp)
    shutil.copy(fp, root / "truncated_fp.safetensors")
    _truncate(root / "truncated_fp.safetensors")
    cmp_case("truncated_invariants_file", root / "truncated_fp.safetensors", good, "unreadable invariants file")

    d = root / "lora_no_base"
    d.mkdir()
    (d / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 2,
                                                       "base_model_name_or_path": str(root / "gone")}))
    save_file({"base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight": torch.zeros(2, 64),
               "base_model.model.model.layers.2.self_attn.q_proj.lora_B.weight": torch.zeros(64, 2)},
              str(d / "adapter_model.safetensors"))
    inv_case("lora_base_missing", d, "no such file")

    # outputs that would destroy an input: refused, and the input left byte for byte
    def keep(*paths):
        return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}

    victim = shutil.copy(gguf_good, root / "victim.gguf")
    cases["output_is_the_input"] = {"args": ["invariants", str(victim), "-o", str(victim)], "out": None,
                                    "says": "is an input of this command", "keep": keep(victim)}
    d = _copy(good, root / "victim_dir")
    cases["output_over_config_json"] = {"args": ["latent", str(d), "-o", str(d / "config.json")], "out": None,
                                        "says": "model file in its folder", "keep": keep(d / "config.json")}
    cases["card_image_over_weights"] = {"args": ["card", str(d), "--image", str(d / "model.safetensors")], "out": None,
                                        "says": "model file in its folder", "keep": keep(d / "model.safetensors")}
    cases["private_terms_into_model_folder"] = {
        "args": ["fingerprint", str(d), "-o", str(d), "--save-invariants"], "out": None,
        "says": "model file in its folder", "keep": keep(d / "model.safetensors")}
    # paths that leave the model's folder, and files that are not regular files
    elsewhere = _copy(good, root / "elsewhere")
    for name, target in (("index_names_parent_dir", "../elsewhere/model.safetensors"),
                         ("index_names_absolute_path", str(elsewhere / "model.safetensors"))):
        d = _copy(good, root / name)
        (d / "model.safetensors").rename(d / "shard.safetensors")
        names = list(load_file(str(d / "shard.safetensors")))
        (d / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {n: target for n in names}}))
        inv_case(name, d, "a path outside the model's folder")
    d = _copy(good, root / "weights_link_out")
    (d / "model.safetensors").unlink()
    (d / "model.safetensors").symlink_to(elsewhere / "model.safetensors")
    inv_case("weights_are_a_link_out", d, "a link to a file outside the model's folder")
    d = _copy(good, root / "tokenizer_dev_zero")
    (d / "tokenizer.json").unlink()
    (d / "tokenizer.json").symlink_to("/dev/zero")
    inv_case("tokenizer_links_to_dev_zero", d, "a link to a file outside the model's folder")
    d = _copy(good, root / "weights_fifo")
    (d / "model.safetensors").unlink()
    os.mkfifo(d / "model.safetensors")
    inv_case("weights_are_a_fifo", d, "not a regular file")
    d = _copy(good, root / "weights_loop")
    (d / "model.safetensors").unlink()
    (d / "model.safetensors").symlink_to(d / "model.safetensors")
    inv_case("weights_are_a_symlink_loop", d, "symlink loop")
    os.mkfifo(root / "model_fifo.gguf")
    inv_case("gguf_is_a_fifo", root / "model_fifo.gguf", "not a regular file")

    # numbers that would allocate without bound, and values of the wrong kind
    d = _copy(good, root / "token_id_1e9")
    tj = json.loads((d / "tokenizer.json").read_text())
    tj["model"]["vocab"][word(9999)] = 10**9
    (d / "tokenizer.json").write_text(json.dumps(tj))
    inv_case("tokenizer_id_1e9", d, "ids from 0 to")
    inv_case("config_is_a_list", (lambda d: ((d / "config.json").write_text("[1, 2]"), d)[1])(_copy(good, root / "cfg_list")),
             "not a JSON object")
    inv_case("config_nested_deeply", (lambda d: ((d / "config.json").write_text("[" * 200000 + "]" * 200000), d)[1])(
        _copy(good, root / "cfg_deep")), "nested too deeply")
    d = _copy(good, root / "cfg_huge")
    with open(d / "config.json", "r+b") as f:
        f.truncate(17 * 2**20)
    inv_case("config_17_mb", d, "larger than any real file")
    for name, value in (("heads_zero", 0), ("heads_string", "8"), ("heads_float", 8.0)):
        inv_case(name, _edit_config(_copy(good, root / name), num_attention_heads=value), "num_attention_heads is")
    inv_case("layers_1e9_all", _edit_config(_copy(good, root / "layers_1e9"), num_hidden_layers=10**9),
             "num_hidden_layers is", "--layers", "all")
    d = _copy(good, root / "index_numbers")
    (d / "model.safetensors").rename(d / "shard.safetensors")
    (d / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"model.embed_tokens.weight": 3}}))
    inv_case("index_values_are_numbers", d, "weight_map must map")
    big_vocab = root / "big_vocab"  # 20,000 tokens: T = 20,000 would need 9.6 GB of terms
    save_tiny("llama", big_vocab, vocab_size=20000, **LLAMA_TINY)
    inv_case("tokens_1e9", big_vocab, "over the 8 GB budget", "--tokens", "1000000000")
    shutil.copy(gguf_good, root / "huge_dims.gguf")
    off = _gguf_tensor_type_offset(root / "huge_dims.gguf") - 8  # the last dimension, just before the type id
    with open(root / "huge_dims.gguf", "r+b") as f:
        f.seek(off)
        f.write((1 << 62).to_bytes(8, "little"))  # its byte size used to wrap around in int64
    inv_case("gguf_dims_2_62", root / "huge_dims.gguf", "runs past the end")
    shutil.copy(gguf_good, root / "zero_dim.gguf")
    with open(root / "zero_dim.gguf", "r+b") as f:
        f.seek(off)
        f.write((0).to_bytes(8, "little"))
    inv_case("gguf_zero_sized_tensor", root / "zero_dim.gguf", "cannot hold")
    d = root / "inflating_bin"
    d.mkdir()
    shutil.copy(good / "config.json", d)
    torch.save({"model.embed_tokens.weight": torch.zeros(4, 4)}, d / "plain.bin")
    import zipfile
    with zipfile.ZipFile(d / "plain.bin") as src, zipfile.ZipFile(d / "pytorch_model.bin", "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                data += b"\0" * (64 << 20)  # deflates to ~64 KB, inflates to 64 MB (2 GiB in the field)
            dst.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
    (d / "plain.bin").unlink()
    inv_case("bin_member_inflates", d, "inflates from")
    inv_case("hidden_size_zero", _edit_config(_copy(good, root / "hidden0"), hidden_size=0), "hidden_size is '0', not a whole number")
    inv_case("vocab_size_disagrees", _edit_config(_copy(good, root / "vocab_off"), vocab_size=1000), "config vocab_size is 1000")
    inv_case("head_dim_disagrees", _edit_config(_copy(good, root / "head_dim_off"), head_dim=4), "config head_dim is 4")
    d = _copy(good, root / "k_1d")
    sd = load_file(str(d / "model.safetensors"))
    sd["model.layers.2.self_attn.k_proj.weight"] = torch.randn(64 * 16)
    save_file(sd, str(d / "model.safetensors"), metadata={"format": "pt"})
    inv_case("k_proj_is_1d", d, "k has shape (1024,)")
    inv_case("model_type_with_terminal_escapes",
             _edit_config(_copy(good, root / "ansi"), model_type="\x1b[2J\x1b]0;pwned\x07llama\nreadable-fp: ok"),
             "unsupported architecture '\\x1b[2J\\x1b]0;pwned\\x07llama\\nreadable-fp: ok'")
    cmp_case("null_is_dev_zero", good, good, "not a regular file")
    cases["null_is_dev_zero"]["args"] += ["--null", "/dev/zero"]

    os.mkfifo(root / "fifo")
    cases["output_is_a_fifo"] = {"args": ["invariants", str(good), "-o", str(root / "fifo")], "out": None,
                                 "says": "not a regular file"}
    return cases


# Each case runs in a process of its own. Starting a fresh interpreter costs seconds (importing
# torch), so most cases fork from one driver interpreter that has imported readable_fp once:
# the child points file descriptors 1 and 2 at files, runs the console script's `main`, and
# exits with its code as `python -m readable_fp.cli` would (an uncaught exception prints its
# traceback). A few cases also run as a plain `python -m readable_fp.cli` to keep that honest.
_DRIVER = r"""
import json, os, sys, time, traceback
from readable_fp.cli import main
cases, timeout = json.load(open(sys.argv[1])), float(sys.argv[2])
results = {}
for name, c in cases.items():
    out, err = c["dir"] + "/stdout", c["dir"] + "/stderr"
    pid = os.fork()
    if pid == 0:
        rc = 1
        try:
            os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
            os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
            os.chdir(c["cwd"])
            opened = open(c["dir"] + "/opened", "w")
            def audit(event, args, log=opened):  # every file Python code opens from here on
                if event == "open" and args and isinstance(args[0], (str, bytes)) and log is not args[0]:
                    log.write(os.path.abspath(os.fsdecode(args[0])) + "\n")
            sys.addaudithook(audit)
            sys.argv = ["readable-fp", *c["args"]]
            try:
                rc = main(c["args"])
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
                rc = 1
            sys.stdout.flush()
            sys.stderr.flush()
            opened.flush()
        finally:
            os._exit(rc if isinstance(rc, int) else 1)
    t0, hung, peak_kb = time.monotonic(), False, None
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            peak_kb = usage.ru_maxrss
            break
        if time.monotonic() - t0 > timeout:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            hung, status = True, 9
            break
        time.sleep(0.01)
    results[name] = {"rc": os.waitstatus_to_exitcode(status) if not hung else None, "hung": hung,
                     "stdout": open(out).read(), "stderr": open(err).read(), "peak_mb": peak_kb and peak_kb / 1024,
                     "opened": open(c["dir"] + "/opened").read().split()}
json.dump(results, open(sys.argv[3], "w"))
"""
EXEC_CASES = ("missing_path", "pickle_with_code", "gguf_unknown_tensor_type")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    cases = _build_cases(root)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    spec = {}
    for name, case in cases.items():
        (root / "run" / name).mkdir(parents=True)
        spec[name] = {"args": [*case["args"], "--no-progress"], "cwd": str(root), "dir": str(root / "run" / name)}
    (root / "cases.json").write_text(json.dumps(spec))
    procs = {"driver": subprocess.Popen([sys.executable, "-c", _DRIVER, str(root / "cases.json"), str(TIMEOUT_S),
                                         str(root / "results.json")], cwd=root, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)}
    for name in EXEC_CASES:
        procs[name] = subprocess.Popen([sys.executable, "-m", "readable_fp.cli", *spec[name]["args"]], cwd=root,
                                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: dict[str, dict] = {}
    for name, p in procs.items():
        try:
            stdout, stderr = p.communicate(timeout=TIMEOUT_S * (len(cases) if name == "driver" else 1))
            hung = False
        except subprocess.TimeoutExpired:
            p.kill()
            stdout, stderr = p.communicate()
            hung = True
        if name == "driver":
            assert not hung and p.returncode == 0, f"the case driver failed: {stderr[-2000:]}"
            for case, r in json.loads((root / "results.json").read_text()).items():
                out[case] = {**cases[case], **r}
        else:
            out[f"{name} (exec)"] = {**cases[name], "rc": p.returncode, "stdout": stdout, "stderr": stderr,
                                     "hung": hung}
    return out


CASES = ["missing_path", "missing_relative_path", "garbage_safetensors_file", "garbage_gguf",
         "garbage_model_safetensors", "truncated_safetensors", "truncated_gguf", "truncated_bin",
         "config_without_weights", "unsupported_architecture", "state_space_model", "invalid_json_config", "pickle_with_code",
         "legacy_pickle_with_code", "head_counts_do_not_fit", "q_proj_wrong_shape", "gguf_unknown_tensor_type",
         "output_directory_missing", "output_is_a_directory", "too_few_shared_probe_tokens",
         "truncated_invariants_file", "lora_base_missing", "output_is_the_input", "output_over_config_json",
         "card_image_over_weights", "private_terms_into_model_folder", "output_is_a_fifo",
         "index_names_parent_dir", "index_names_absolute_path", "weights_are_a_link_out", "tokenizer_links_to_dev_zero",
         "weights_are_a_fifo", "weights_are_a_symlink_loop", "gguf_is_a_fifo", "tokenizer_id_1e9",
         "config_is_a_list", "config_nested_deeply", "config_17_mb", "heads_zero", "heads_string", "heads_float",
         "layers_1e9_all", "index_values_are_numbers", "tokens_1e9", "gguf_dims_2_62", "gguf_zero_sized_tensor",
         "bin_member_inflates", "null_is_dev_zero", "hidden_size_zero", "vocab_size_disagrees", "head_dim_disagrees",
         "k_proj_is_1d", "model_type_with_terminal_escapes"]


def _belongs(p: Path, r: dict) -> bool:
    """p is one of the case's inputs or outputs, or inside one."""
    for a in r["args"]:
        q = Path(a)
        if q.is_absolute() and (p == q.resolve() or p.is_relative_to(q.resolve())
                                or (not q.exists() and p.parent == q.resolve().parent)):
            return True
    return False


def test_every_case_is_listed(results):
    assert sorted(results) == sorted(CASES + [f"{c} (exec)" for c in EXEC_CASES])


@pytest.mark.parametrize("case", CASES + [f"{c} (exec)" for c in EXEC_CASES])
def test_bad_input_gives_one_clear_line(results, case):
    r = results[case]
    assert not r["hung"], f"{case}: still running after {TIMEOUT_S} s"
    assert r["rc"] not in (0, None) and r["rc"] > 0, (r["rc"], r["stderr"])
    assert "Traceback" not in r["stderr"] and "Traceback" not in r["stdout"]
    lines = r["stderr"].splitlines()
    assert len(lines) == 1, r["stderr"]
    assert all(c.isprintable() for c in lines[0]), "control characters from a file reached the terminal"
    line = lines[0]
    assert line.startswith("readable-fp: error: ") and len(line) > len("readable-fp: error: ") + 10, line
    assert "run with --debug" not in line, f"an unforeseen exception, not a FingerprintError: {line}"
    assert r["says"] in line, line
    assert r["stdout"] == "", r["stdout"]
    if r["out"] is not None:
        left = [p for p in Path(r["out"]).rglob("*") if p.is_file()] if Path(r["out"]).exists() else []
        assert not left, left
    if "marker" in r:
        assert not Path(r["marker"]).exists(), "the pickle's code was run"
    if "peak_mb" in r:  # forked from a driver that has imported torch (~0.4 GB of it shared)
        assert r["peak_mb"] < 1024, f"peak memory {r['peak_mb']:.0f} MB"
    root = Path(r["args"][1]).parent if len(r["args"]) > 1 else None
    for f in r.get("opened", []):  # files opened from Python; the tests' other models sit beside the input
        p = Path(f).resolve()
        if root is not None and p.is_relative_to(root.resolve()) and not _belongs(p, r):
            raise AssertionError(f"{case}: opened {p}, outside the model's folder")
    for path, sha in r.get("keep", {}).items():
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha, f"{path} was changed"
    if case == "output_is_a_fifo":
        assert Path(r["args"][-1]).is_fifo(), "the FIFO was replaced"


def test_stylegan2_import_does_not_overwrite_its_pickle(tmp_path):
    pkl = tmp_path / "net.pkl"
    pkl.write_bytes(b"not really a pickle")
    r = subprocess.run([sys.executable, "-m", "readable_fp.cli", "import-stylegan2", str(pkl), "-o", str(pkl)],
                       capture_output=True, text=True, timeout=TIMEOUT_S, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "is an input of this command" in r.stderr, r.stderr
    assert pkl.read_bytes() == b"not really a pickle"


def test_hugging_face_cache_snapshots_are_read(tmp_path):
    """huggingface_hub's cache links snapshots/<rev>/<file> to ../../blobs/<hash>: inside by design."""
    good = tmp_path / "good"
    save_tiny("llama", good, **LLAMA_TINY)
    repo = tmp_path / "hub" / "models--org--tiny"
    snap, blobs = repo / "snapshots" / "0123abc", repo / "blobs"
    snap.mkdir(parents=True)
    blobs.mkdir()
    for f in good.iterdir():
        blob = blobs / hashlib.sha256(f.read_bytes()).hexdigest()
        shutil.copy(f, blob)
        (snap / f.name).symlink_to(Path("../../blobs") / blob.name)
    import readable_fp

    a = readable_fp.invariants(snap, n_tokens=64, progress=False)
    b = readable_fp.invariants(good, n_tokens=64, progress=False)
    assert readable_fp.compare(a, b).ics > 99.99
