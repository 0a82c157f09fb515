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
* A bar (``tqdm.auto``) advances as each run completes, in whatever order the workers
  finish (on Dask too, through ``distributed.as_completed``), and counts the failed runs;
  ``progress=False`` (``ntkbook sweep --quiet``) hides it. The table keeps the order of ``values``.

Example::

    >>> table = run_sweep("bscale_point", "fourier_scale", [0.1, 1.0, 10.0])  # doctest: +SKIP
    >>> table[["fourier_scale", "status", "test_mse"]]  # doctest: +SKIP
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd

from ntkbook import _io
from ntkbook._progress import progress_bar
from ntkbook.pipeline import paths
from ntkbook.pipeline.notebooks import (
    ParameterError,
    check_targets,
    check_values,
    profile_overrides,
    read_notebook,
    read_parameters,
    resolve_notebook,
    run_notebook,
)

SCHEDULER_TIMEOUT_S = 5  # how long to try to reach a Dask scheduler before giving up


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
    force: bool | None = None,
    progress: bool = True,
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
    force : bool, optional
        Rerun every point even when its saved run is up to date (default: what
        ``NTKBOOK_FORCE`` says in this process).
    progress : bool, default True
        Show a bar that advances as each run completes (see the module docstring).

    Every run is ad hoc (it has overrides and its own output): a sweep never writes the
    claim records of the chapters (see ``ntkbook.pipeline.notebooks``).
    """
    source = resolve_notebook(notebook)
    stem = source.stem
    if not isinstance(values, (list, tuple)) or len(values) == 0:
        raise ParameterError(f"The sweep over {name!r} needs a non-empty list of values. Got {values!r} instead.")
    declared = read_parameters(read_notebook(source), stem)
    base, _ = profile_overrides(profile, stem)
    fixed = dict(fixed or {})
    for value in values:  # every value is checked before the first run starts
        check_values(declared, base, {**fixed, name: value}, stem, profile)
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise ParameterError(f"The 'workers' parameter of run_sweep must be an int in the range [1, inf). Got {workers!r} instead.")

    out_dir = Path(output_dir) if output_dir is not None else paths.sweeps_dir() / f"{stem}-{name}"
    out_dir = out_dir.resolve()
    table_path = out_dir / "runs.csv"
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
    check_targets(table_path, *(Path(t["output"]) for t in tasks))  # a bad place fails before any run

    if not isinstance(progress, bool):
        raise ParameterError(f"The 'progress' parameter of run_sweep must be a bool. Got {progress!r} instead.")

    rows: list[dict[str, Any] | None] = [None] * len(tasks)
    with progress_bar(total=len(tasks), show=progress, desc=f"sweep {stem} over {name}", unit="run") as bar:
        def done(index: int, row: dict[str, Any]) -> None:
            rows[index] = row
            bar.update()
            failed = sum(r is not None and r["status"] != "ok" for r in rows)
            if failed:
                bar.set_postfix(failed=failed)

        if scheduler is not None:
            from distributed import as_completed as dask_as_completed

            with _connect(scheduler) as client:
                futures = client.map(_run_one, tasks, pure=False)
                index = {f.key: i for i, f in enumerate(futures)}
                for future in dask_as_completed(futures):
                    done(index[future.key], future.result())
        else:
            n = workers or min(len(tasks), os.cpu_count() or 1)
            if n == 1:
                for i, t in enumerate(tasks):
                    done(i, _run_one(t))
            else:
                with ProcessPoolExecutor(max_workers=n) as pool:
                    futures = {pool.submit(_run_one, t): i for i, t in enumerate(tasks)}
                    for future in as_completed(futures):
                        done(futures[future], future.result())

    table = pd.DataFrame(rows)
    with _io.atomic_open(table_path) as fh:  # a partial file of its own: concurrent sweeps never share one
        table.to_csv(fh, index=False)
    return table


def _connect(scheduler: str):
    """A Dask client of the scheduler at ``scheduler``; one clear error if it cannot be reached."""
    from distributed import Client

    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise ParameterError(
            f"Cannot reach the Dask scheduler at {scheduler!r} within {SCHEDULER_TIMEOUT_S} s ({reason}). "
            "Start it, or check the address (e.g. tcp://host:8786)."
        ) from None


@contextlib.contextmanager
def filtered_stderr(drop: str = "Kernel is running over TCP without encryption"):
    """Capture what child processes write to file descriptor 2 and write it back without the
    lines containing ``drop`` (by default the Jupyter kernel's transport warning, which every
    papermill run of a sweep prints). Everything else on stderr is kept, in order."""
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [line for line in tmp.read().decode(errors="replace").splitlines() if drop not in line]
            if kept:
                print("\n".join(kept), file=sys.stderr)
