"""The notebook pipeline: jupytext source -> validated parameters -> papermill run -> book page.

Each chapter is a jupytext percent-format ``notebooks/NAME.py``. Its cell tagged
``parameters`` declares every parameter with its paper-scale default (the ``full``
profile). A profile is a folder ``profiles/PROFILE/`` holding one optional
``NAME.yaml`` of overrides per notebook; ``full`` needs no files.

A run

1. reads the source with jupytext and parses the ``parameters`` cell with ``ast``
   (each parameter is a plain ``name = literal`` assignment);
2. merges the profile's overrides with the user's ``-p NAME VALUE`` pairs and checks
   every name and type against the declaration *before anything runs* (papermill
   itself would only warn about an unknown name);
3. executes with papermill into a temporary file beside the destination and moves it
   into place with ``os.replace``, so a failed run never leaves a half-written
   notebook where the book reads from;
4. writes a stamp recording the hash of everything the output depends on (the
   source, the effective parameters, the profile, the ``ntkbook`` package sources),
   so an unchanged notebook is not executed again.

Example::

    >>> from ntkbook.pipeline.notebooks import run_notebook
    >>> run_notebook("notebooks/01_empirical_ntk.py", profile="ci")  # doctest: +SKIP
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ntkbook.pipeline.paths import EXECUTED_DIR, NOTEBOOK_DIR, PACKAGE_DIR, PROFILE_DIR, PROFILES, ROOT  # noqa: F401


class ParameterError(ValueError):
    """A parameter override that does not match the notebook's declaration."""


class NotebookFailed(RuntimeError):
    """A notebook raised while executing; the message names the notebook, cell and error."""


@dataclass
class RunResult:
    notebook: str
    output: Path
    parameters: dict[str, Any]
    executed: bool  # False when the stamp showed the output was up to date
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- sources


def resolve_notebook(name: str | os.PathLike) -> Path:
    """Return the jupytext source for ``name`` (a path, a stem, or a stem without ``.py``)."""
    path = Path(name)
    candidates = [path, path.with_suffix(".py"), NOTEBOOK_DIR / path.name, NOTEBOOK_DIR / f"{path.stem}.py"]
    for candidate in candidates:
        if candidate.suffix == ".py" and candidate.is_file():
            return candidate.resolve()
    nested = sorted(NOTEBOOK_DIR.rglob(f"{path.stem}.py"))  # run notebooks live in notebooks/runs/
    if len(nested) == 1:
        return nested[0].resolve()
    known = ", ".join(sorted(p.stem for p in NOTEBOOK_DIR.glob("*.py")))
    raise FileNotFoundError(
        f"The notebook {str(name)!r} was not found: expected a jupytext .py source in "
        f"notebooks/. Known notebooks: {known}."
    )


def read_notebook(source: Path):
    import jupytext

    return jupytext.read(source)


def declared_parameters(notebook, name: str = "notebook") -> dict[str, Any]:
    """Parse the cell tagged ``parameters`` into ``{name: default}``.

    Every statement in that cell must be ``NAME = <literal>`` so that the declared
    type of each parameter is the type of its default.
    """
    cells = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(
            f"Notebook {name!r} must have exactly one cell tagged 'parameters'; found {len(cells)}."
        )
    tree = ast.parse(cells[0].source)
    params: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring-like comment string
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            raise ParameterError(
                f"Notebook {name!r}: the parameters cell may only hold 'name = literal' lines; "
                f"line {stmt.lineno} is not one."
            )
        try:
            params[stmt.targets[0].id] = ast.literal_eval(stmt.value)
        except ValueError as err:
            raise ParameterError(
                f"Notebook {name!r}: the default of parameter {stmt.targets[0].id!r} on line "
                f"{stmt.lineno} must be a literal (number, string, bool, None, list, dict)."
            ) from err
    return params


# ----------------------------------------------------------------------------- validation


def _type_name(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, list):
        inner = sorted({_type_name(v) for v in value})
        return f"list[{' | '.join(inner)}]" if inner else "list"
    return type(value).__name__


def _conforms(value: Any, default: Any) -> bool:
    """True when ``value`` may replace ``default`` (ints may stand for floats)."""
    if default is None:
        return True  # None declares "any value, or none"
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, list):
        if not isinstance(value, list):
            return False
        kinds = [v for v in default if v is not None]
        return not kinds or all(any(_conforms(v, k) for k in kinds) for v in value)
    return isinstance(value, type(default))


def validate_parameters(declared: dict[str, Any], overrides: dict[str, Any], notebook: str) -> dict[str, Any]:
    """Check every override against the declaration; return the effective parameters."""
    for key, value in overrides.items():
        if key not in declared:
            raise ParameterError(
                f"Notebook {notebook!r} has no parameter {key!r}. "
                f"Declared parameters: {', '.join(sorted(declared))}."
            )
        if not _conforms(value, declared[key]):
            raise ParameterError(
                f"The parameter {key!r} of notebook {notebook!r} must be of type "
                f"{_type_name(declared[key])} (its default is {declared[key]!r}). "
                f"Got {value!r} of type {_type_name(value)} instead."
            )
    return {**declared, **overrides}


def parse_cli_value(text: str) -> Any:
    """Parse a ``-p NAME VALUE`` value the way papermill's ``-y`` does: as YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def profile_overrides(profile: str, stem: str) -> tuple[dict[str, Any], str]:
    """Return the profile's overrides for a notebook and the text they were read from."""
    if profile not in PROFILES:
        raise ParameterError(f"The profile must be one of {', '.join(PROFILES)}. Got {profile!r} instead.")
    path = PROFILE_DIR / profile / f"{stem}.yaml"
    if not path.is_file():
        return {}, ""
    text = path.read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ParameterError(f"The profile file profiles/{profile}/{stem}.yaml must hold a mapping of parameter names to values.")
    return data, text


# ----------------------------------------------------------------------------- incremental runs


def package_fingerprint() -> str:
    """Hash of every ``ntkbook`` source file: a change to the package reruns every notebook."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run_fingerprint(
    source: Path, parameters: dict[str, Any], profile: str, profile_text: str, depends_on: list[str] | None = None
) -> str:
    """Hash of everything an executed notebook depends on.

    ``depends_on`` lists extra glob patterns (relative to the repository root, ``{profile}``
    replaced by the profile) whose files are hashed too: a notebook declares them in its
    metadata as ``ntkbook: {depends_on: [...]}``; the reproduction report uses it to rerun
    whenever a chapter saves a new claim record.
    """
    digest = hashlib.sha256()
    digest.update(source.read_bytes())
    for pattern in depends_on or []:
        for path in sorted(ROOT.glob(pattern.format(profile=profile))):
            if path.is_file():
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True, default=str).encode())
    digest.update(profile.encode())
    digest.update(profile_text.encode())
    digest.update(package_fingerprint().encode())
    return digest.hexdigest()


def _stamp_path(output: Path) -> Path:
    return output.with_name(f".{output.stem}.stamp.json")


def is_up_to_date(output: Path, fingerprint: str) -> bool:
    stamp = _stamp_path(output)
    if not (output.is_file() and stamp.is_file()):
        return False
    try:
        return json.loads(stamp.read_text()).get("fingerprint") == fingerprint
    except json.JSONDecodeError:
        return False


# ----------------------------------------------------------------------------- execution


def _describe_failure(err: Exception, notebook: str) -> str:
    """One clear line (notebook, cell, error) from a papermill failure."""
    exec_count = getattr(err, "exec_count", None)
    ename = getattr(err, "ename", type(err).__name__)
    evalue = getattr(err, "evalue", str(err))
    cell = f"cell {exec_count}" if exec_count is not None else "a cell"
    return f"Notebook {notebook!r} failed in {cell}: {ename}: {evalue}"


def run_notebook(
    name: str | os.PathLike,
    *,
    parameters: dict[str, Any] | None = None,
    profile: str = "ci",
    output: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = True,
    cwd: str | os.PathLike | None = None,
) -> RunResult:
    """Execute one notebook with papermill under a profile and explicit overrides.

    Parameters
    ----------
    name : str or path
        The jupytext source (``notebooks/NAME.py``) or its stem.
    parameters : dict, optional
        Overrides on top of the profile's; validated against the declaration.
    profile : {"ci", "full"}
        ``full`` runs the paper-scale defaults; ``ci`` applies ``profiles/ci/NAME.yaml``.
    output : path, optional
        Where the executed ``.ipynb`` goes; default ``book/chapters/NAME.ipynb``.
    force : bool
        Execute even when the stamp says the output is up to date.
    """
    import time

    import papermill

    source = resolve_notebook(name)
    stem = source.stem
    nb = read_notebook(source)
    declared = declared_parameters(nb, stem)
    from_profile, profile_text = profile_overrides(profile, stem)
    overrides = {**from_profile, **(parameters or {})}
    effective = validate_parameters(declared, overrides, stem)
    passed = dict(overrides)
    if "profile" in declared and "profile" not in passed:
        passed["profile"] = profile  # chapters print which profile made their figures

    out = Path(output) if output is not None else EXECUTED_DIR / f"{stem}.ipynb"
    out = out.resolve()
    depends_on = nb.metadata.get("ntkbook", {}).get("depends_on", [])
    fingerprint = run_fingerprint(source, {**effective, "profile": profile}, profile, profile_text, depends_on)
    if not force and is_up_to_date(out, fingerprint):
        return RunResult(stem, out, effective, executed=False)

    out.parent.mkdir(parents=True, exist_ok=True)
    import nbformat

    # papermill reads .ipynb: convert the jupytext source to a temporary input notebook.
    with tempfile.TemporaryDirectory(prefix=f"ntkbook-{stem}-") as tmp:
        src_ipynb = Path(tmp) / f"{stem}.ipynb"
        nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
        nbformat.write(nb, src_ipynb)
        fd, partial = tempfile.mkstemp(prefix=f".{stem}.", suffix=".partial.ipynb", dir=out.parent)
        os.close(fd)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(src_ipynb),
                partial,
                parameters=passed,
                kernel_name="python3",
                progress_bar=progress,
                cwd=str(cwd if cwd is not None else ROOT),
                log_output=False,
            )
        except Exception as err:  # papermill raises PapermillExecutionError with the cell details
            Path(partial).unlink(missing_ok=True)
            raise NotebookFailed(_describe_failure(err, stem)) from err
        seconds = time.perf_counter() - start
        os.replace(partial, out)
    _stamp_path(out).write_text(
        json.dumps({"fingerprint": fingerprint, "profile": profile, "parameters": effective, "seconds": seconds}, default=str, indent=1)
    )
    return RunResult(stem, out, effective, executed=True, seconds=seconds)


def toc_notebooks(toc_path: str | os.PathLike = ROOT / "_toc.yml") -> list[str]:
    """The stems of the executed chapters listed in ``_toc.yml``, in reading order."""
    data = yaml.safe_load(Path(toc_path).read_text())
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            f = node.get("file")
            if isinstance(f, str) and f.startswith("book/chapters/"):
                found.append(Path(f).stem)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    return found
