"""The package's layers: the library never knows about the book, imports flow one way.

    library (ntk, analytic, models, data, train, regression, stats, _validation, _io, _fingerprint)
      <- experiments/  <- claims/  <- pipeline/          (plots/ read results, beside claims)

Read from the source with ``ast``, so a test fails the day someone adds an upward import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ntkbook"
LAYERS = {"library": 0, "experiments": 1, "plots": 2, "claims": 2, "pipeline": 3,
          "__main__": 4}  # python -m ntkbook: the command line, above the pipeline it calls
BOOK_TOOLS = ("papermill", "jupytext", "myst_nb", "sphinx", "jupyter_book", "dask", "distributed", "IPython", "nbformat")


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "library"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        yield name, path


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize("name,path", list(_modules()), ids=lambda v: str(v) if isinstance(v, str) else "")
def test_imports_flow_down_the_layers(name, path):
    mine = _layer(name)
    for imported in _imports(path):
        if not imported.startswith("ntkbook.") and imported != "ntkbook":
            continue
        theirs = _layer(imported)
        assert LAYERS[theirs] < LAYERS[mine] or theirs == mine or imported == "ntkbook", (
            f"{name} ({mine}) imports {imported} ({theirs}): imports must flow from pipeline to claims "
            f"and plots to experiments to the library, never back up")


@pytest.mark.parametrize("name,path", [(n, p) for n, p in _modules() if _layer(n) in ("library", "experiments")],
                         ids=lambda v: str(v) if isinstance(v, str) else "")
def test_library_and_experiments_import_no_book_tools(name, path):
    bad = [m for m in _imports(path) if m.split(".")[0] in BOOK_TOOLS]
    assert not bad, f"{name} imports {bad}: the library and the experiments must run without Jupyter, papermill, Sphinx or Dask"


def test_library_imports_without_loading_book_tools():
    code = ("import sys, ntkbook.ntk, ntkbook.models, ntkbook.analytic, ntkbook.data, ntkbook.train, "
            "ntkbook.regression, ntkbook.stats; "
            f"print(','.join(m for m in {BOOK_TOOLS!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing the library loaded {out.stdout.strip()}"
