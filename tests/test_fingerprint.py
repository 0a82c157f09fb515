"""The import closure behind a chapter's stamp: what it reaches, what it leaves out."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from ntkbook import _fingerprint
from ntkbook._fingerprint import PACKAGE_DIR, modules_read_by, package_fingerprint


def _notebook(tmp_path: Path, code: str, suffix: str = ".py") -> Path:
    path = tmp_path / f"nb{suffix}"
    if suffix == ".ipynb":
        path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": "import ntkbook.models"},
                                              {"cell_type": "code", "source": code}]}))
    else:
        path.write_text(code)
    return path


def test_a_notebook_reaches_what_it_imports_and_what_that_imports_but_nothing_else(tmp_path):
    files = modules_read_by(_notebook(tmp_path, "from ntkbook.stats import t_interval\n"))
    assert {"__init__.py", "stats.py", "_validation.py"} <= set(files)
    assert "models.py" not in files and "plots/core.py" not in files


def test_imports_inside_functions_and_parenthesised_lists_count(tmp_path):
    code = "%matplotlib inline\nfrom ntkbook.plots import (figure,\n    glue_figure)\nfrom ntkbook.data import load_dataset\n"
    files = modules_read_by(_notebook(tmp_path, code, ".ipynb"))
    assert "plots/core.py" in files and "data/registry.py" in files
    assert "models.py" not in files  # only in a markdown cell
    # ntkbook.experiments.runs imports ntkbook.models only inside functions, or at the top: either way it is reached
    assert "models.py" in modules_read_by(_notebook(tmp_path, "import ntkbook.experiments.benchmarks\n"))


def test_the_fingerprint_follows_the_files_reached(tmp_path, monkeypatch):
    pkg = tmp_path / "ntkbook"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from . import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ntkbook import c\n")
    (pkg / "c.py").write_text("x = 1\n")
    (pkg / "unused.py").write_text("y = 1\n")
    monkeypatch.setattr(_fingerprint, "PACKAGE_DIR", pkg)
    nb = _notebook(tmp_path, "from ntkbook.sub.a import f\n")
    assert list(modules_read_by(nb)) == ["__init__.py", "c.py", "sub/__init__.py", "sub/a.py", "sub/b.py"]
    before = package_fingerprint(nb)
    (pkg / "unused.py").write_text("y = 2\n")
    (pkg / "new.py").write_text("z = 0\n")
    assert package_fingerprint(nb) == before
    (pkg / "c.py").write_text("x = 2\n")
    assert package_fingerprint(nb) != before


@pytest.mark.parametrize("path", sorted(PACKAGE_DIR.rglob("*.py")), ids=lambda p: p.relative_to(PACKAGE_DIR).as_posix())
def test_no_module_imports_by_a_computed_name(path):
    """The closure follows import statements only; an importlib call would escape it."""
    tree = ast.parse(path.read_bytes())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    assert not ({"importlib", "import_module", "__import__"} & (names | imported))
