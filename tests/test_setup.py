"""The set-up is reproducible: pins agree everywhere and notebooks stay paired."""

import re
from pathlib import Path

import jupytext
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _lock_pins():
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    return {l.split("==")[0].lower(): l.split("==")[1] for l in lines if "==" in l and not l.startswith("#")}


def test_environment_yml_lists_exactly_the_locked_packages_and_versions():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pins = {p.split("==")[0].lower(): p.split("==")[1] for p in pip_section if "==" in p}
    assert pins == _lock_pins()


def test_torch_is_pinned_to_2_13_0_and_torchvision_is_not_used():
    pins = _lock_pins()
    assert pins["torch"] == "2.13.0"
    assert "torchvision" not in pins
    for path in (ROOT / "ntkbook").rglob("*.py"):
        assert not re.search(r"^\s*(import|from) torchvision", path.read_text(), re.M), f"{path.name} imports torchvision"


def test_every_direct_dependency_is_locked():
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = deps["dependencies"] + deps["optional-dependencies"]["test"]
    pins = _lock_pins()
    for spec in names:
        name = re.split(r"[<>=\[ ]", spec)[0].lower()
        assert name in pins, f"{name} is a dependency but not in requirements.lock"


def test_every_notebook_source_has_a_paired_ipynb_with_the_same_cells():
    for source in sorted((ROOT / "notebooks").rglob("*.py")):
        paired = source.with_suffix(".ipynb")
        assert paired.is_file(), f"{source.name} has no paired .ipynb (run: make sync)"
        a, b = jupytext.read(source), jupytext.read(paired)
        assert [c.source for c in a.cells] == [c.source for c in b.cells], f"{paired.name} is out of sync (run: make sync)"
        assert all(not c.get("outputs") for c in b.cells if c.cell_type == "code"), f"{paired.name} holds outputs"


def test_no_file_names_a_machine_path():
    pattern = re.compile(r"/(work|root|home|tmp)/[A-Za-z]")
    local = ROOT / "book" / "executed" / "ci"  # the ci runs of `make test`: not committed
    for path in ROOT.rglob("*"):
        if any(part in {".venv", "_build", ".git", "chapters", "__pycache__", ".pytest_cache", "results"} for part in path.parts):
            continue
        if path.is_relative_to(local):
            continue
        if path.is_file() and path.suffix in {".py", ".md", ".yml", ".yaml", ".toml", ".cfg", ".txt", ".ipynb"} and path.name != "test_setup.py":
            assert not pattern.search(path.read_text(errors="ignore")), f"{path.relative_to(ROOT)} names a machine path"
