"""Which files of an upload make the model (readable_fp/upload_plan.py), without a browser: people
upload a model's whole folder, and the app must find the model in it, name what it leaves out
once, and refuse only what it cannot decide."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from readable_fp import app
from readable_fp.errors import FingerprintError
from readable_fp.upload_plan import plan

MODEL_CONFIG = json.dumps({"model_type": "bert", "hidden_size": 4})
POOLING_CONFIG = json.dumps({"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True})


def _upload(tmp_path: Path, files: dict[str, str | bytes]) -> list[str]:
    """Files as Gradio keeps uploads: each in its own folder, under its base name (`1_Pooling/config.json`
    arrives as `config.json`)."""
    out = []
    for i, (rel, data) in enumerate(files.items()):
        d = tmp_path / f"upload{i}"
        d.mkdir(parents=True)
        p = d / Path(rel).name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        out.append(str(p))
    return out


def test_a_downloaded_sentence_transformers_folder(tmp_path):
    files = _upload(tmp_path, {".gitattributes": "*", "README.md": "# card", "config.json": MODEL_CONFIG,
                               "1_Pooling/config.json": POOLING_CONFIG, "modules.json": "[]",
                               "model.safetensors": b"w", "onnx/model.onnx": b"o", "onnx/model_O1.onnx": b"o1",
                               "pytorch_model.bin": b"p", "tokenizer.json": "{}", "vocab.txt": "a\n",
                               "train_script.py": "print()"})
    p = plan(files)
    assert p.kind == "safetensors" and p.model_file is None
    assert sorted(p.files) == ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt"]
    assert json.loads(Path(p.files["config.json"]).read_text())["model_type"] == "bert"  # not 1_Pooling's
    assert p.ignored == [".gitattributes", "README.md", "modules.json", "model.onnx", "model_O1.onnx",
                         "pytorch_model.bin", "train_script.py"]
    line = p.summary()
    assert line.startswith("Found a Hugging Face model (safetensors): reading config.json, model.safetensors")
    assert "Not needed (7): .gitattributes, README.md" in line and "\n" not in line


@pytest.mark.parametrize("files, kind, single, ignored", [
    ({"m.gguf": b"g", "tokenizer.json": "{}", "config.json": MODEL_CONFIG, "README.md": "x"}, "gguf", "m.gguf",
     ["config.json", "README.md"]),  # GGUF carries its own config
    ({"model.onnx": b"o", "config.json": MODEL_CONFIG, "vocab.txt": "a\n"}, "onnx", "model.onnx", []),  # Optimum's layout
    ({"adapter_config.json": "{}", "adapter_model.safetensors": b"a", "README.md": "x"}, "lora", None, ["README.md"]),
    ({"m.gguf": b"g", "..evil.gguf": b"e", ".hidden.gguf": b"h", "a\x1bb.gguf": b"c"}, "gguf", "m.gguf",
     ["..evil.gguf", ".hidden.gguf", "a\x1bb.gguf"]),  # hidden or unprintable names are never part of a model
])
def test_kinds(tmp_path, files, kind, single, ignored):
    p = plan(_upload(tmp_path, files))
    assert (p.kind, p.model_file, p.ignored) == (kind, single, ignored)
    assert "\x1b" not in p.summary()  # shown escaped, never sent to the page


@pytest.mark.parametrize("files, says", [
    ({"a.gguf": b"1", "b.gguf": b"2"}, "2 model files (a.gguf, b.gguf): upload the one"),
    ({"model.onnx": b"1", "model_O1.onnx": b"2", "README.md": "x"}, "2 model files"),
    ({"model.safetensors": b"w", "tokenizer.json": "{}"}, "without the model's config.json"),
    ({"pytorch_model.bin": b"p", "config.json": MODEL_CONFIG}, "pickled weights are not opened here"),
    ({"notes.txt": "hi", "README.md": "x"}, "no model in the upload: give a .gguf or .onnx file, or a Hugging Face "
                                            "model's folder (config.json with its .safetensors files); not needed: "
                                            "notes.txt, README.md"),
])
def test_refusals(tmp_path, files, says):
    with pytest.raises(FingerprintError, match=_literal(says)):
        plan(_upload(tmp_path, files))


def test_names_that_collide(tmp_path):
    same = {"config.json": MODEL_CONFIG, "sub/config.json": MODEL_CONFIG, "model.safetensors": b"w"}
    assert sorted(plan(_upload(tmp_path / "same", same)).files) == ["config.json", "model.safetensors"]  # copies: one file
    two = {"config.json": MODEL_CONFIG, "sub/config.json": json.dumps({"model_type": "llama"}), "model.safetensors": b"w"}
    with pytest.raises(FingerprintError, match="2 different files named config.json"):
        plan(_upload(tmp_path / "two", two))
    shards = {"a/tokenizer.json": "{}", "b/tokenizer.json": "{ }", "config.json": MODEL_CONFIG, "model.safetensors": b"w"}
    with pytest.raises(FingerprintError, match="different files named tokenizer.json"):
        plan(_upload(tmp_path / "tok", shards))


def test_size_limit_counts_only_what_is_read(tmp_path):
    files = _upload(tmp_path, {"m.gguf": b"g" * 6, "README.md": "x" * 100})
    assert plan(files, limit=10).kind == "gguf"
    with pytest.raises(FingerprintError, match="at most"):
        plan(_upload(tmp_path / "big", {"m.gguf": b"g" * 11}), limit=10)


def test_stage_copies_only_the_model(tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    files = _upload(tmp_path / "up", {"m.gguf": b"g", "tokenizer.json": "{}", "README.md": "x", ".gitattributes": "*"})
    one = app.stage(files, staging)
    assert one.name == "m.gguf" and sorted(p.name for p in one.parent.iterdir()) == ["m.gguf", "tokenizer.json"]
    with pytest.raises(FingerprintError):
        app.stage(_upload(tmp_path / "bad", {"notes.txt": "x"}), tmp_path / "unused")
    assert not (tmp_path / "unused").exists()


def _literal(s: str) -> str:
    import re
    return re.escape(s)
