"""The package installs anywhere: ranges not pins, extras for the book, a wheel that works alone.

The slow tests build the wheel from a copy of the sources, install it (not editable) with its
core dependencies only into a fresh virtual environment, and use it from another directory.
The dependencies come at the versions of requirements.lock (hashes stripped: constraints
cannot carry them), so pip takes torch 2.13.0 and the rest from its cache or the registry.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

# Top-level modules that belong to the book, the notebooks or the cluster, never to the library.
HEAVY = ("jupyter", "jupyter_book", "jupyter_client", "jupyter_core", "jupytext", "nbformat", "nbclient",
         "papermill", "ipykernel", "IPython", "sphinx", "sphinxcontrib", "myst_nb", "myst_parser", "dask",
         "distributed", "playwright", "pytest")
LIBRARY = ("ntkbook", "ntkbook.ntk", "ntkbook.models", "ntkbook.analytic", "ntkbook.data", "ntkbook.train",
           "ntkbook.regression", "ntkbook.stats")
TEST_TOOLS = ("pytest", "pytest-timeout", "playwright", "ruff")

# Run by the interpreter under test: import the library, compute an NTK two ways, report.
PROBE = f"""
import importlib, json, sys
import torch
for name in {LIBRARY!r}:
    importlib.import_module(name)
from ntkbook.ntk import empirical_ntk
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
x = torch.randn(5, 3)
k = empirical_ntk(model, x)  # (5, 5)
k_jac = empirical_ntk(model, x, method="jacobian")
heavy = sorted({{m for m in sys.modules if m.split(".")[0] in {HEAVY!r} or m.startswith("sphinx_")}})
print(json.dumps({{"file": sys.modules["ntkbook"].__file__, "shape": list(k.shape),
                   "max_diff": float((k - k_jac).abs().max()), "min_eig": float(torch.linalg.eigvalsh(k).min()),
                   "heavy": heavy}}))
"""


def _locked_constraints(path: Path) -> Path:
    """requirements.lock's ``name==version`` pins, without hashes, as a pip constraints file."""
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    path.write_text("".join(line.split()[0] + "\n" for line in lines if re.match(r"[A-Za-z0-9]", line)))
    return path


def _probe(python: Path | str, cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["OMP_NUM_THREADS"] = "1"
    out = subprocess.run([str(python), "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


# ---------------------------------------------------------------------------------------------
# Dependencies, extras and the licence
# ---------------------------------------------------------------------------------------------

def test_core_dependencies_are_ranges_with_a_lower_bound_each():
    for spec in PROJECT["dependencies"]:
        req = Requirement(spec)
        assert any(s.operator == ">=" for s in req.specifier), f"{req.name} has no lower bound"
        assert not any(s.operator in {"==", "==="} for s in req.specifier), f"{req.name} is pinned exactly: pins belong in requirements.lock"


def test_core_dependencies_admit_the_locked_versions():
    from test_setup import _lock_pins

    pins = _lock_pins()
    for spec in PROJECT["dependencies"]:
        req = Requirement(spec)
        assert req.specifier.contains(pins[req.name.lower()]), f"{spec} excludes the locked {req.name}=={pins[req.name.lower()]}"


def test_book_and_dask_packages_are_extras_not_core_dependencies():
    core = {Requirement(s).name.lower() for s in PROJECT["dependencies"]}
    extras = PROJECT["optional-dependencies"]
    assert {"jupyter-book", "myst-nb", "papermill", "jupytext", "ipykernel"} <= {Requirement(s).name for s in extras["book"]}
    assert [Requirement(s).name for s in extras["dask"]] == ["dask"]
    assert not core & {"jupyter-book", "myst-nb", "papermill", "jupytext", "ipykernel", "dask", "sphinx"}


def test_licence_is_an_spdx_expression_with_its_files_present():
    assert PROJECT["license"] == "MIT"
    for name in PROJECT["license-files"]:
        assert (ROOT / name).is_file(), f"license-files names {name}, which does not exist"


# ---------------------------------------------------------------------------------------------
# Binder and pre-commit
# ---------------------------------------------------------------------------------------------

def test_binder_folder_has_requirements_and_an_executable_post_build():
    assert (ROOT / "binder" / "requirements.txt").is_file()
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.is_file() and os.access(post_build, os.X_OK), "binder/postBuild must be executable"
    assert re.search(r"pip install[^\n]* \"?\.(\[book\])?\"?\s*$", post_build.read_text(), re.M), "postBuild must install the package"


def test_binder_pins_the_cpu_build_of_the_locked_torch():
    from test_setup import _lock_pins

    lines = [line.strip() for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines()]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert f"torch=={_lock_pins()['torch']}+cpu" in lines


def test_binder_installs_no_test_tools():
    files = [p for p in (ROOT / "binder").iterdir() if p.is_file()]
    text = "\n".join(line for p in files for line in p.read_text().splitlines() if not line.lstrip().startswith("#"))
    for tool in TEST_TOOLS:
        assert not re.search(rf"(^|[\s\[,]){re.escape(tool)}([\s\],=<>]|$)", text, re.M), f"binder installs {tool}"
    assert not re.search(r"\[[^\]]*\b(test|all)\b[^\]]*\]", text), "binder installs the [test] or [all] extra"


def test_pre_commit_runs_ruff_and_the_jupytext_pairing_check():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert "ruff" in hooks["ruff"]["entry"] and "check" in hooks["ruff"]["entry"]
    assert "jupytext --sync" in hooks["jupytext-sync"]["entry"]


# ---------------------------------------------------------------------------------------------
# The library imports without the book's packages (in this environment, where they exist)
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_importing_the_library_loads_no_jupyter_papermill_sphinx_or_dask_module(tmp_path):
    # Here the extras are installed, so a stray top-level import would load them.
    assert _probe(sys.executable, tmp_path)["heavy"] == []


# ---------------------------------------------------------------------------------------------
# The wheel, installed alone into a fresh virtual environment
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory):
    """Build the wheel, install it with its core dependencies only; the sizes and times it took."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"  # a copy: building in the checkout would leave build/ and egg-info there
    src.mkdir()
    for name in ("pyproject.toml", "README.md", *PROJECT["license-files"]):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "ntkbook", src / "ntkbook", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                            str(work / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next((work / "dist").glob("ntkbook-*.whl"))

    venv = work / "venv"
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=300)
    if made.returncode != 0:
        pytest.skip(f"cannot create a virtual environment with {sys.executable} -m venv: {made.stderr[-500:]}")
    python = venv / "bin" / "python"
    start = time.perf_counter()
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-c",
                              str(_locked_constraints(work / "constraints.txt")), str(wheel)],
                             capture_output=True, text=True, timeout=1500)
    seconds = time.perf_counter() - start
    assert install.returncode == 0, install.stderr[-3000:]
    site = next((venv / "lib").glob("python*/site-packages"))
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size / 1e3:.0f} kB; core install: "
          f"{_du(site) / 1e6:.0f} MB of site-packages in {seconds:.0f} s")
    return {"wheel": wheel, "python": python, "site": site, "elsewhere": tmp_path_factory.mktemp("elsewhere")}


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_wheel_installed_without_extras_computes_an_ntk_from_another_directory(installed_wheel):
    result = _probe(installed_wheel["python"], installed_wheel["elsewhere"])
    assert Path(result["file"]).is_relative_to(installed_wheel["site"]), f"ntkbook came from {result['file']}, not the wheel"
    assert result["shape"] == [5, 5]
    assert result["max_diff"] < 1e-4  # auto agrees with Jacobian contraction
    assert result["min_eig"] > -1e-4  # a Gram matrix J J^T: positive semi-definite


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_wheel_installed_without_extras_brings_no_book_or_dask_package(installed_wheel):
    names = {p.name.split("-")[0].lower() for p in installed_wheel["site"].glob("*.dist-info")}
    assert not names & {"jupyter_book", "myst_nb", "papermill", "jupytext", "ipykernel", "sphinx", "dask", "distributed"}


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_wheel_carries_the_licence_files_and_an_spdx_licence(installed_wheel):
    with zipfile.ZipFile(installed_wheel["wheel"]) as whl:
        names = whl.namelist()
        metadata = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata
    for name in PROJECT["license-files"]:
        assert any(n.endswith(f".dist-info/licenses/{name}") for n in names), f"the wheel lacks {name}"
