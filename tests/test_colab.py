"""A chapter opened alone (Colab): its install cell, the generator behind it, and a real run.

Every chapter starts with the install cell of :mod:`ntkbook.pipeline.colab`: a no-op where
``ntkbook`` is importable, else ``pip install "ntkbook[book] @ git+URL"`` with the URL of
``_config.yml``, plus a shallow clone of the repository in the chapters that read its files.
The slow test builds the wheel, installs it into a fresh virtual environment and executes
a chapter from a folder that is not the checkout, as Colab would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jupytext
import pytest
import yaml

from ntkbook.pipeline import colab, paths

BOOK = Path(__file__).resolve().parent.parent
CONFIG_URL = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))["repository"]["url"].rstrip("/")
CHAPTERS = sorted((BOOK / "notebooks").glob("*.py"))
PIP_URL = re.compile(r'ntkbook\[book\] @ git\+\{NTKBOOK_REPOSITORY\}')
REPOSITORY_LINE = re.compile(r'^NTKBOOK_REPOSITORY = "([^"]*)"$', re.MULTILINE)


def _first_cell(source: Path):
    return jupytext.read(source).cells[0]


# ----------------------------------------------------------------------------- the committed cells


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_starts_with_the_install_cell_hidden_from_the_book(source):
    cell = _first_cell(source)
    assert cell.cell_type == "code" and colab.MARKER in cell.source, f"{source.name} does not start with the install cell"
    assert "remove-cell" in cell.metadata.get("tags", []), f"{source.name}: the install cell is not tagged remove-cell"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_every_install_cell_installs_from_exactly_the_url_of_config_yml(source):
    cell = _first_cell(source).source
    assert REPOSITORY_LINE.findall(cell) == [CONFIG_URL], (
        f"{source.name} installs from another URL than _config.yml's {CONFIG_URL} "
        f"(run: python -m ntkbook.pipeline.colab)")
    assert PIP_URL.search(cell), f"{source.name}: the install cell does not pip-install ntkbook[book] from it"


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_every_install_cell_is_what_the_generator_writes(source):
    text = source.read_text(encoding="utf-8")
    assert colab.with_install_cell(text, CONFIG_URL) == text, f"{source.name}: run python -m ntkbook.pipeline.colab"


def test_the_chapters_that_read_repository_files_clone_it_and_only_they():
    cloning = {s.stem for s in CHAPTERS if "git\", \"clone\"" in _first_cell(s).source}
    assert {"09_ablation_bscale", "14_reproduction_report", "16_running_at_scale"} <= cloning
    assert "01_empirical_ntk" not in cloning


def test_a_chapter_needs_the_checkout_when_it_imports_the_pipeline():
    assert colab.needs_checkout("# %%\nfrom ntkbook.pipeline.sweep import run_sweep\n")
    assert colab.needs_checkout("# %%\nimport ntkbook.pipeline.paths as p\n")
    assert not colab.needs_checkout("# %%\nfrom ntkbook.ntk import empirical_ntk\n# from ntkbook.pipeline import x\n")


# ----------------------------------------------------------------------------- the generator

TOY = """\
# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
# ---

# %% [markdown]
# # A toy chapter

# %%
import ntkbook
"""


def test_the_generator_rewrites_the_cells_when_the_url_changes_and_leaves_the_rest(tmp_path):
    source = tmp_path / "toy.py"
    source.write_text(TOY)
    assert colab.write_install_cells("https://github.com/a/one", tmp_path, sync=False) == [source]
    assert colab.write_install_cells("https://github.com/b/two", tmp_path, sync=False) == [source]
    text = source.read_text()
    assert REPOSITORY_LINE.findall(text) == ["https://github.com/b/two"]
    assert text.count(colab.MARKER) == 1
    assert text.replace(colab.current_install_cell(text), "") == TOY


def test_the_generator_leaves_an_up_to_date_chapter_untouched(tmp_path):
    source = tmp_path / "toy.py"
    source.write_text(colab.with_install_cell(TOY, "https://github.com/a/one"))
    assert colab.write_install_cells("https://github.com/a/one", tmp_path, sync=False) == []


def test_the_generator_reads_the_url_from_config_yml():
    assert colab.repository_url(BOOK / "_config.yml") == CONFIG_URL


def test_a_config_without_an_https_repository_url_is_refused_naming_the_key(tmp_path):
    config = tmp_path / "_config.yml"
    config.write_text("repository:\n  branch: main\n")
    with pytest.raises(ValueError, match="'repository.url' of .* must be an https URL"):
        colab.repository_url(config)


def test_the_generator_syncs_the_paired_notebook(tmp_path):
    source = tmp_path / "toy.py"
    source.write_text(TOY)
    colab.write_install_cells("https://github.com/a/one", tmp_path)
    assert colab.MARKER in jupytext.read(tmp_path / "toy.ipynb").cells[0].source


def test_python_m_colab_check_reports_a_stale_cell_and_exits_1(tmp_path, monkeypatch, capsys):
    (tmp_path / "toy.py").write_text(TOY)
    monkeypatch.setattr(paths, "NOTEBOOK_DIR", tmp_path)
    assert colab.main(["--check"]) == 1
    assert "toy.py: install cell out of date" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the cell, executed


def _run_cell(source: str, monkeypatch) -> list:
    """Execute an install cell here, with subprocess.run recorded instead of run."""
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    exec(compile(source, "install-cell", "exec"), {})
    return calls


def test_where_ntkbook_is_importable_the_install_cell_runs_nothing(monkeypatch):
    assert _run_cell(colab.install_cell(CONFIG_URL, checkout=False), monkeypatch) == []


def test_where_ntkbook_is_missing_the_install_cell_pip_installs_it_from_the_repository(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ntkbook" else real(name, *a))
    calls = _run_cell(colab.install_cell(CONFIG_URL, checkout=False), monkeypatch)
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", f"ntkbook[book] @ git+{CONFIG_URL}"]]


@pytest.fixture
def lone(tmp_path, monkeypatch):
    """A working folder in no book, every path of ntkbook.pipeline.paths restored afterwards."""
    for name in ("ROOT", "NOTEBOOK_DIR", "PROFILE_DIR", "EXECUTED_DIR", "MEASURED_DIR", "TOC_PATH",
                 "CONFIG_PATH", "BUILD_DIR", "RESULTS_DIR"):
        monkeypatch.setattr(paths, name, getattr(paths, name))
    monkeypatch.setenv(paths.ROOT_ENV, "placeholder")  # teardown then removes what use_root exports
    monkeypatch.delenv(paths.ROOT_ENV)
    monkeypatch.setattr(paths, "PACKAGE_DIR", tmp_path / "site-packages" / "ntkbook")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_lone_chapter_that_reads_repository_files_clones_it_and_points_the_root_there(lone, monkeypatch):
    def fake_clone(cmd, **kw):  # what `git clone URL DIR` leaves: a book
        (lone / cmd[-1] / "notebooks").mkdir(parents=True)
        (lone / cmd[-1] / "_toc.yml").write_text("root: intro\n")
        calls.append(cmd)

    calls = []
    monkeypatch.setattr(subprocess, "run", fake_clone)
    exec(compile(colab.install_cell(CONFIG_URL, checkout=True), "install-cell", "exec"), {})
    clone = (lone / colab.CLONE_DIR).resolve()
    assert calls == [["git", "clone", "--quiet", "--depth", "1", CONFIG_URL, colab.CLONE_DIR]]
    assert paths.ROOT == clone and os.environ[paths.ROOT_ENV] == str(clone)


def test_a_lone_chapter_run_again_reuses_its_clone(lone, monkeypatch):
    (lone / colab.CLONE_DIR / "notebooks").mkdir(parents=True)
    (lone / colab.CLONE_DIR / "_toc.yml").write_text("root: intro\n")
    assert _run_cell(colab.install_cell(CONFIG_URL, checkout=True), monkeypatch) == []
    assert paths.ROOT == (lone / colab.CLONE_DIR).resolve()


def test_a_chapter_inside_a_book_clones_nothing(lone, monkeypatch):
    (lone / "notebooks").mkdir()
    (lone / "_toc.yml").write_text("root: intro\n")
    assert _run_cell(colab.install_cell(CONFIG_URL, checkout=True), monkeypatch) == []


# ----------------------------------------------------------------------------- a fresh environment

PACKAGE_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in", "README.md", "LICENSE",
                 "LICENSE-CONTENT.md", "CITATION.cff")
BOOK_TOOLS = ["papermill", "ipykernel", "myst-nb", "jupytext"]  # if the wheel had no [book] extra


def _build_wheel(dest: Path) -> Path:
    """The wheel, built from a copy of the package's files (no build/ left in the checkout)."""
    src = dest / "src"
    src.mkdir(parents=True)
    for name in PACKAGE_FILES:
        if (BOOK / name).exists():
            shutil.copy2(BOOK / name, src / name)
    shutil.copytree(BOOK / "ntkbook", src / "ntkbook", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(dest / "dist"), str(src)], check=True, timeout=300)
    (wheel,) = (dest / "dist").glob("ntkbook-*.whl")
    return wheel


def _extras(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode()
    return set(re.findall(r"^Provides-Extra: (\S+)$", text, re.MULTILINE))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A virtual environment holding the wheel (with the book's tools) and nothing of the
    checkout, and the environment of a Colab-like process: no checkout on the path, no
    root named, HOME in a scratch folder."""
    base = tmp_path_factory.mktemp("fresh")
    wheel = _build_wheel(base / "wheel")
    venv, home = base / "venv", base / "home"
    home.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    tools = [f"{wheel}[book]"] if "book" in _extras(wheel) else [str(wheel), *BOOK_TOOLS]
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-compile", *tools, "torch==2.13.0"],
                   check=True, timeout=1200)
    subprocess.run([str(python), "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
                   check=True, timeout=120, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "NTKBOOK_ROOT", "JUPYTER", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               JUPYTER_PATH=str(venv / "share" / "jupyter"), OMP_NUM_THREADS="1")
    return python, env


def _freeze(python: Path, env: dict) -> str:
    return subprocess.run([str(python), "-m", "pip", "freeze"], env=env, capture_output=True, text=True,
                          check=True, timeout=120).stdout


def _papermill(python: Path, env: dict, notebook: Path, parameters: dict) -> Path:
    """Execute ``notebook`` in its own folder, as Colab would; return the executed copy."""
    params, out = notebook.with_name("params.yaml"), notebook.with_name("out.ipynb")
    params.write_text(yaml.safe_dump(parameters))
    run = subprocess.run([str(python), "-m", "papermill", str(notebook), str(out), "-f", str(params),
                          "-k", "python3", "--cwd", str(notebook.parent)], cwd=notebook.parent, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return out


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_fresh_environment_imports_ntkbook_from_the_wheel_not_the_checkout(fresh, tmp_path):
    python, env = fresh
    where = subprocess.run([str(python), "-c", "import ntkbook, sys; print(ntkbook.__file__); print(sys.path)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=120)
    assert where.stdout.splitlines()[0].startswith(str(python.parent.parent)), where.stdout
    assert str(BOOK) not in where.stdout, "the checkout is on the fresh environment's path"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_chapter_runs_from_the_wheel_alone_and_its_install_cell_does_nothing(fresh, tmp_path):
    python, env = fresh
    bin_dir = tmp_path / "bin"  # a `git` that records being called (pip would call it for a git+ URL)
    bin_dir.mkdir()
    (bin_dir / "git").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'git-calls'}\nexit 1\n")
    (bin_dir / "git").chmod(0o755)
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"}
    before = _freeze(python, env)
    (tmp_path / "colab").mkdir()
    notebook = Path(shutil.copy2(BOOK / "notebooks" / "01_empirical_ntk.ipynb", tmp_path / "colab"))
    ci = yaml.safe_load((BOOK / "profiles" / "ci" / "01_empirical_ntk.yaml").read_text())
    executed = jupytext.read(_papermill(python, env, notebook, {**ci, "profile": "ci"}))
    assert colab.MARKER in executed.cells[0].source and executed.cells[0].outputs == []
    assert not (tmp_path / "git-calls").exists(), "the install cell called git although ntkbook was importable"
    assert _freeze(python, env) == before, "the install cell changed the environment although ntkbook was importable"
    assert not any(python.parent.parent.glob("lib/python*/site-packages/results")), "results went into site-packages"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_lone_report_chapter_clones_the_repository_and_reads_its_records(fresh, tmp_path):
    python, env = fresh
    (tmp_path / "colab").mkdir()
    notebook = tmp_path / "colab" / "14_reproduction_report.ipynb"
    nb = jupytext.read(BOOK / "notebooks" / "14_reproduction_report.ipynb")
    local = f"file://{BOOK}"  # the repository, as the committed commit a clone would fetch
    nb.cells[0].source = nb.cells[0].source.replace(f'"{CONFIG_URL}"', f'"{local}"')
    jupytext.write(nb, notebook)
    _papermill(python, env, notebook, {"profile": "ci"})
    clone = tmp_path / "colab" / colab.CLONE_DIR
    assert (clone / "_toc.yml").is_file() and (clone / "book" / "measured").is_dir()
