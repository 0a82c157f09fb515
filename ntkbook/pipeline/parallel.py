"""The book's chapters executed side by side on a Dask cluster (``ntkbook book --workers N``).

The chapters of the book are independent, except those that read what other chapters
write: the reproduction report reads every claim record, the page on running at scale reads
the stamps. A notebook says so in its metadata (``ntkbook: {depends_on: [...]}``, see
:func:`ntkbook.pipeline.notebooks.run_inputs`); such a *reader* runs after all the others,
in reading order, in this process. Every other chapter that is not current becomes one
task on the cluster: a ``distributed.LocalCluster`` of ``workers`` single-threaded worker
processes by default, or the workers of the scheduler at ``scheduler``, which must share
this book's file system. Each task is :func:`ntkbook.pipeline.notebooks.run_notebook`
itself, so a chapter run on the cluster is the same canonical run, with the same stamp and
records, as one run alone.

Torch threads: each worker's chapters get ``cores // workers`` threads (at least one), set
as ``OMP_NUM_THREADS`` for the kernels the worker starts, so that N chapters side by side do
not each claim every core.

Cost: one kernel per running chapter, as many at once as there are workers; the wall time
is about the longest chain of chapters a worker gets, plus the readers. Progress: a
``tqdm.auto`` bar over the chapters as they finish, with their times.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ntkbook._validation import check_optional_int
from ntkbook.pipeline import paths
from ntkbook.pipeline.notebooks import NotebookFailed, chapter_status, read_notebook, resolve_notebook, run_notebook

__all__ = ["readers", "execute_chapters"]


def readers(stems: list[str]) -> list[str]:
    """The chapters among ``stems`` that read what other chapters write (their notebook
    declares ``depends_on``), in the order given: they run after every other chapter."""
    out = []
    for stem in stems:
        meta = read_notebook(resolve_notebook(stem)).metadata.get("ntkbook", {})
        if meta.get("depends_on"):
            out.append(stem)
    return out


def _run_chapter(task: dict[str, Any]) -> dict[str, Any]:
    """One chapter on a worker: its canonical run, with the worker's share of the cores."""
    os.environ["OMP_NUM_THREADS"] = str(task["threads"])
    os.environ["MKL_NUM_THREADS"] = str(task["threads"])
    if Path(task["root"]) != paths.ROOT:  # a worker started elsewhere: point it at this book
        paths.use_root(Path(task["root"]))
    try:
        result = run_notebook(task["stem"], profile=task["profile"], force=task["force"], progress=False,
                              placement=task["placement"])
    except NotebookFailed as err:
        return {"stem": task["stem"], "executed": False, "seconds": None, "error": str(err)}
    return {"stem": task["stem"], "executed": result.executed, "seconds": result.seconds if result.executed else None,
            "error": None}


def execute_chapters(
    stems: list[str],
    profile: str,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    placement: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> dict[str, float | None]:
    """Run the chapters ``stems`` of ``profile`` that are not current (all of them with
    ``force``), the independent ones on a Dask cluster and then the readers here.

    Parameters
    ----------
    stems : list of str
        The chapters, in reading order (``toc_notebooks()``).
    workers : int, optional
        Worker processes of the local cluster (default 2); ignored with ``scheduler``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``) instead of a local cluster.

    Returns {stem: seconds of its run, or None when it was current}. Raises
    :class:`NotebookFailed` naming every chapter that failed, after the others finished
    (a failed chapter keeps its previous snapshot).
    """
    from distributed import Client, LocalCluster, as_completed
    from tqdm.auto import tqdm

    workers = check_optional_int(workers, "workers", "execute_chapters")
    late = readers(stems)
    todo = [s for s in stems if s not in late and (force or chapter_status(s, profile).state != "current")]
    n_workers = workers or 2
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    tasks = [{"stem": s, "profile": profile, "force": force, "placement": placement or {}, "threads": threads,
              "root": str(paths.ROOT)} for s in todo]
    timings: dict[str, float | None] = {s: None for s in stems}
    failed: list[str] = []
    if tasks:
        where = f"the scheduler at {scheduler}" if scheduler else f"a local Dask cluster of {n_workers} workers"
        log(f"ntkbook: {len(tasks)} chapters on {where}, {threads} torch thread(s) each; then {', '.join(late) or 'no readers'}")
        cluster = None if scheduler else LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                                      dashboard_address=None)
        try:
            with Client(scheduler or cluster) as client:
                futures = [client.submit(_run_chapter, t, key=f"chapter-{t['stem']}", pure=False) for t in tasks]
                bar = tqdm(total=len(futures), desc="chapters", unit="chapter", disable=not progress)
                for future in as_completed(futures):
                    row = future.result()
                    timings[row["stem"]] = row["seconds"]
                    if row["error"]:
                        failed.append(row["stem"])
                        log(f"      {row['stem']}: FAILED: {row['error']}")
                    else:
                        done = f"executed in {row['seconds']:.1f} s" if row["executed"] else "up to date"
                        log(f"      {row['stem']}: {done}")
                    bar.update(1)
                bar.close()
        finally:
            if cluster is not None:
                cluster.close()
    for stem in late:
        if force or chapter_status(stem, profile).state != "current":
            result = run_notebook(stem, profile=profile, force=force, progress=False, placement=placement)
            timings[stem] = result.seconds if result.executed else None
            log(f"      {stem}: {f'executed in {result.seconds:.1f} s' if result.executed else 'up to date'}")
    if failed:
        raise NotebookFailed(f"{len(failed)} chapter(s) failed on the cluster: {', '.join(failed)}; "
                             "their previous runs were kept.")
    return timings
