"""The library's modules import one another without a circle (function-level imports included),
and the Hub reader never imports the API that calls it."""
from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "readable_fp"


def _module(f: Path) -> str:
    parts = f.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    files = {_module(f): f for f in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for m, f in files.items():
        package = m if f.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                # `from . import x` loads submodule x; `from .m import x` loads m (and x, if a submodule)
                targets = [f"{target}.{a.name}" for a in node.names] + ([target] if node.module else [])
            else:
                continue
            graph[m] |= {t for t in targets if t in files and t != m}
    return graph


def test_no_import_cycles():
    try:
        list(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as e:
        pytest.fail(f"import cycle: {' -> '.join(e.args[1])}")


def test_hub_reader_does_not_import_the_api():
    graph = import_graph()
    seen, todo = set(), ["readable_fp.formats.hub"]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += graph[m]
    assert not seen & {"readable_fp.api", "readable_fp.compare", "readable_fp.null", "readable_fp"}
