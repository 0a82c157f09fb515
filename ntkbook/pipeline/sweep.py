"""Parameter sweeps: one papermill run per value, collected into one table.

``run_sweep(notebook, name, values)`` executes ``notebook`` once for each value of the
parameter ``name`` and returns a :class:`pandas.DataFrame` with one row per run: the
swept value, the run's status (``"ok"`` or ``"failed"``), its wall time, the error
message of a failed run, the path of the executed notebook, and every scalar the run
glued with ``myst_nb.glue`` (so a run notebook reports its results simply by gluing
them). The table is also written to ``OUTPUT_DIR/runs.csv``.

* Every value is validated against the notebook's declared parameters before the first
  run starts (a bad value stops the sweep with a :class:`ParameterError` naming it).
* Runs execute in parallel: on local worker processes by default, or on an existing
  Dask distributed cluster when ``scheduler`` gives its address, so a user who outgrows
  one machine needs no other tool.
* A failed run is recorded with its parameters and error; it neither stops nor corrupts
  the others (each run writes its own output atomically, see ``ntkbook.pipeline.notebooks``).

Example::

    >>> table = run_sweep("bscale_point", "fourier_scale", [0.1, 1.0, 10.0])  # doctest: +SKIP
    >>> table[["fourier_scale", "status", "test_mse"]]  # doctest: +SKIP
"""

from __future__ import annotations

import ast
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from ntkbook.pipeline.notebooks import (
    ROOT,
    ParameterError,
    declared_parameters,
    profile_overrides,
    read_notebook,
    resolve_notebook,
    run_notebook,
    validate_parameters,
)


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(value))


def collect_glued(path: str | os.PathLike) -> dict[str, Any]:
    """Every value an executed notebook glued with ``myst_nb.glue``, parsed back to Python
    where its plain-text form is a literal (numbers, strings, lists), else left as text."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    found: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook", {})
            key, prefix = record.get("name"), record.get("mime_prefix", "")
            text = output.get("data", {}).get(f"{prefix}text/plain")
            if key is None or text is None:
                continue
            try:
                found[key] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                if text.startswith("np.float") or text.startswith("np.int"):
                    found[key] = ast.literal_eval(text[text.index("(") + 1 : -1])
                else:
                    found[key] = text
    return found


def _run_one(task: dict[str, Any]) -> dict[str, Any]:
    """Execute one run; never raises (a failure becomes a row with status 'failed')."""
    start = time.perf_counter()
    row = {task["name"]: task["value"], "status": "ok", "seconds": 0.0, "error": "", "output": task["output"]}
    try:
        run_notebook(
            task["notebook"],
            parameters=task["parameters"],
            profile=task["profile"],
            output=task["output"],
            force=task["force"],
            progress=False,
        )
        glued = collect_glued(task["output"])
        row.update({k: v for k, v in glued.items() if isinstance(v, (int, float, str, bool)) and k not in row})
    except Exception as err:  # recorded, not raised: one failed run must not stop the others
        row["status"] = "failed"
        row["error"] = f"{type(err).__name__}: {err}"
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def run_sweep(
    notebook: str | os.PathLike,
    name: str,
    values: list[Any],
    *,
    profile: str = "ci",
    fixed: dict[str, Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    output_dir: str | os.PathLike | None = None,
    force: bool = False,
) -> pd.DataFrame:
    """Run ``notebook`` once per value of parameter ``name``; return the collected table.

    Parameters
    ----------
    notebook : str or path
        The run notebook (a jupytext source in ``notebooks/`` or below).
    name : str
        The parameter to sweep; ``values`` its values (validated before any run).
    profile : {"ci", "full"}
        Profile applied to every run, under ``fixed`` and the swept value.
    fixed : dict, optional
        Parameters held fixed across the runs.
    workers : int, optional
        Local worker processes (default: the number of CPUs, at most ``len(values)``).
    scheduler : str, optional
        Address of an existing Dask distributed scheduler (``tcp://host:8786``); the runs
        then execute on its workers, which must share this checkout's file system.
    output_dir : path, optional
        Where the executed runs and ``runs.csv`` go (default ``results/sweeps/NOTEBOOK-NAME``).
    """
    source = resolve_notebook(notebook)
    stem = source.stem
    if not isinstance(values, (list, tuple)) or len(values) == 0:
        raise ParameterError(f"The sweep over {name!r} needs a non-empty list of values. Got {values!r} instead.")
    declared = declared_parameters(read_notebook(source), stem)
    base, _ = profile_overrides(profile, stem)
    fixed = dict(fixed or {})
    for value in values:  # every value is checked before the first run starts
        validate_parameters(declared, {**base, **fixed, name: value}, stem)
    if workers is not None and workers < 1:
        raise ParameterError(f"The 'workers' parameter of run_sweep must be an int >= 1. Got {workers!r} instead.")

    out_dir = Path(output_dir) if output_dir is not None else ROOT / "results" / "sweeps" / f"{stem}-{name}"
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [
        {
            "notebook": str(source),
            "name": name,
            "value": value,
            "parameters": {**fixed, name: value},
            "profile": profile,
            "output": str(out_dir / f"{stem}-{name}={_slug(value)}.ipynb"),
            "force": force,
        }
        for value in values
    ]

    if scheduler is not None:
        from distributed import Client

        with Client(scheduler) as client:
            rows = client.gather(client.map(_run_one, tasks, pure=False))
    else:
        n = workers or min(len(tasks), os.cpu_count() or 1)
        if n == 1:
            rows = [_run_one(t) for t in tasks]
        else:
            with ProcessPoolExecutor(max_workers=n) as pool:
                rows = list(pool.map(_run_one, tasks))

    table = pd.DataFrame(rows)
    partial = out_dir / ".runs.csv.partial"
    table.to_csv(partial, index=False)
    os.replace(partial, out_dir / "runs.csv")
    return table
