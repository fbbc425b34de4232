"""The command line: help, the compare table, --json, and the invariants summary."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import readable_fp
from readable_fp.cli import main

from helpers import LLAMA_TINY, perturbed_copy, save_tiny

N = 64


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny llama and a lightly perturbed copy of it (related, not identical)."""
    root = tmp_path_factory.mktemp("cli")
    save_tiny("llama", root / "a", **LLAMA_TINY)
    return root / "a", perturbed_copy(root / "a", root / "b", 0.01)


def run(capsys, *args):
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _script() -> list[str]:
    exe = Path(sysconfig.get_path("scripts")) / "readable-fp"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "readable_fp.cli"]


def test_console_script_help():
    p = subprocess.run([*_script(), "--help"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage: readable-fp")
    for word in ("compare", "invariants", "--version", "--debug", "safetensors", ".gguf", "LoRA"):
        assert word in p.stdout
    assert p.stderr == ""


@pytest.mark.parametrize("command, options", [
    ("compare", ["MODEL_A", "MODEL_B", "--base-a", "--base-b", "--json", "--tokens", "--layers", "--no-progress"]),
    ("invariants", ["MODEL", "--output", "--base", "--tokens", "--layers", "--no-progress"]),
])
def test_subcommand_help(capsys, command, options):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: readable-fp {command}")
    for o in options:
        assert o in out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"readable-fp {readable_fp.__version__}"


def test_no_command_prints_help_and_fails(capsys):
    code, out, _ = run(capsys)
    assert code != 0 and out.startswith("usage: readable-fp")


def test_compare_prints_the_table(capsys, models):
    a, b = models
    code, out, err = run(capsys, "compare", a, b, "--tokens", N, "--no-progress")
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    m = re.fullmatch(r"ICS\s+(\d+\.\d\d) / 100\s+\((\d+) probe tokens\)", lines[0])
    assert m, lines[0]
    ics, n = float(m.group(1)), int(m.group(2))
    assert n == N and 50 < ics < 100
    assert lines[1].startswith("verdict: ")
    blank = lines.index("")
    assert blank > 2 and all(ln.startswith("why: ") for ln in lines[2:blank])  # the pattern in words
    lines = lines[blank - 2:]  # the table, as if the verdict were followed by one why line
    assert lines[3].split() == ["term", "layer", "A", "layer", "B", "ICS"]
    rows = [ln.split() for ln in lines[4:10]]
    assert [(r[0], r[1], r[2]) for r in rows] == [(t, i, i) for i in ("1", "2") for t in ("attn", "ov", "ffn")]
    per_term = [float(r[3]) for r in rows]
    assert sum(per_term) / 6 == pytest.approx(ics, abs=0.01)
    assert lines[10] == ""
    assert lines[11].split() == ["format", "arch", "dtype", "read", "seconds", "source"]
    for tag, line, src in zip("AB", lines[12:14], (a, b)):
        f = line.split()
        assert f[0] == tag and f[1] == "safetensors" and f[2] == "llama" and f[3] == "f32"
        assert f[5] == "KB" and float(f[4]) > 0
        assert f[-1] == str(src)
    assert len(lines) == 14


def test_compare_json(capsys, models):
    a, b = models
    code, out, err = run(capsys, "compare", a, b, "--tokens", N, "--json", "--no-progress")
    assert code == 0, err
    d = json.loads(out)
    assert set(d) >= {"ics", "n_tokens", "terms", "models"}
    assert d["n_tokens"] == N and 50 < d["ics"] < 100
    assert len(d["terms"]) == 6
    for t in d["terms"]:
        assert set(t) == {"term", "layer_a", "layer_b", "ics"} and t["term"] in ("attn", "ov", "ffn")
    assert len(d["models"]) == 2
    for m, src in zip(d["models"], (a, b)):
        assert m["format"] == "safetensors" and m["architecture"] == "llama" and m["source"] == str(src)
        assert m["bytes_read"] > 0 and "tensors" not in m
    # the table and the JSON tell the same number
    _, table, _ = run(capsys, "compare", a, b, "--tokens", N, "--no-progress")
    assert f"ICS {d['ics']:6.2f} / 100" in table


def test_compare_layers_all(capsys, models):
    a, b = models
    code, out, err = run(capsys, "compare", a, b, "--tokens", N, "--layers", "all", "--json", "--no-progress")
    assert code == 0, err
    d = json.loads(out)
    assert [(t["layer_a"], t["term"]) for t in d["terms"]] == [(i, t) for i in range(3) for t in ("attn", "ov", "ffn")]


def test_invariants_writes_a_file_and_a_summary(capsys, models, tmp_path):
    a, b = models
    out_file = tmp_path / "a.safetensors"
    code, out, err = run(capsys, "invariants", a, "-o", out_file, "--tokens", N, "--no-progress")
    assert code == 0, err
    assert out.strip() == (f"wrote {out_file}: {N} probe tokens, layers [1, 2] of 3, 6 terms "
                           "(private: do not publish)")
    assert out_file.is_file() and not list(tmp_path.glob("*.partial"))
    inv = readable_fp.load(out_file)
    assert len(inv.probes) == N and inv.layers == [1, 2]
    # the file compares like the model it came from
    code, out, err = run(capsys, "compare", out_file, b, "--json", "--no-progress")
    assert code == 0, err
    from_file = json.loads(out)
    assert from_file["models"][0]["format"] == "invariants file"
    code, out, _ = run(capsys, "compare", a, b, "--tokens", N, "--json", "--no-progress")
    assert from_file["ics"] == pytest.approx(json.loads(out)["ics"], abs=0.01)


def test_invariants_overwrites_an_existing_file(capsys, models, tmp_path):
    a, _ = models
    out_file = tmp_path / "fp.safetensors"
    out_file.write_bytes(b"old")
    code, _, err = run(capsys, "invariants", a, "-o", out_file, "--tokens", N, "--no-progress")
    assert code == 0, err
    assert readable_fp.load(out_file).n_layers == 3


def test_progress_goes_to_stderr_only(capsys, models, tmp_path):
    a, _ = models
    code, out, _ = run(capsys, "invariants", a, "-o", tmp_path / "p.safetensors", "--tokens", N)
    assert code == 0
    assert out.startswith("wrote ") and len(out.splitlines()) == 1


def test_library_warnings_do_not_reach_the_user(monkeypatch, capsys):
    """A library's warnings (warnings module or logging) would be extra stderr lines beside ours."""
    import logging
    import warnings

    from readable_fp import cli
    from readable_fp.errors import FingerprintError

    def noisy(args):
        warnings.warn("The given NumPy array is not writable", UserWarning)
        logging.getLogger("gguf.gguf_reader").warning("tensor data is not aligned")
        raise FingerprintError("the one line")

    monkeypatch.setattr(cli, "_run", noisy)
    assert cli.main(["invariants", "x", "-o", "y"]) == 2
    assert capsys.readouterr().err == "readable-fp: error: the one line\n"


def test_supported_lists_every_adapter_and_the_readme_table_is_generated_from_it(capsys):
    """One source for the supported list: the adapters. `readable-fp supported --markdown` is the
    README's table, verbatim (regenerate it with that command when an adapter changes)."""
    from readable_fp.adapters import supported, supported_markdown

    assert main(["supported"]) == 0
    out = capsys.readouterr().out
    for family in ("llama", "qwen3_moe", "deepseek_v3", "qwen3_5_text", "roberta", "gpt_oss"):
        assert family in supported() and family in out, family
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("<!-- supported:start -->\n", 1)[1].split("<!-- supported:end -->", 1)[0]
    assert table.strip() == supported_markdown().strip()
