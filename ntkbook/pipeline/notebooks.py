"""The notebook pipeline: jupytext source -> checked parameters -> papermill run -> book page.

Each chapter is a jupytext percent-format ``notebooks/NAME.py``. Its cell tagged
``parameters`` declares every parameter with its paper-scale default (the ``full``
profile) and, in the line's comment, the values it accepts
(:mod:`ntkbook.pipeline.parameters`). A profile is a folder ``profiles/PROFILE/`` holding
one optional ``NAME.yaml`` of overrides per notebook; ``full`` needs no files.

A run

1. reads the source with jupytext and parses the ``parameters`` cell;
2. merges the profile's overrides with the caller's (``-p NAME VALUE``) and checks every
   name, type and range against the declaration, and checks that the executed notebook
   and its stamp can be written, *before anything runs* (papermill itself would only warn
   about an unknown name, and a bad output path would fail after the whole run);
3. executes with papermill in a private temporary folder and then writes the executed
   notebook into place atomically (:func:`ntkbook._io.write_bytes`: never through a
   symbolic link, never half-written, removed on any error or interrupt); what a killed
   run leaves behind is cleared by the next run of the same notebook;
4. writes a stamp (:mod:`ntkbook.pipeline.stamps`) recording each part of what the output
   depends on (the source, the effective parameters, the profile, the ``ntkbook`` package
   sources, the files it declares in ``depends_on``, whether the run was canonical), the
   hashes of the claim records the run saved, and where and when it ran, so an unchanged
   notebook is not executed again, a notebook whose records were changed since is, and a
   stale one can say why (:func:`chapter_status`).

**Where runs go.** A canonical run of profile P writes ``book/executed/P/NAME.ipynb``; the
``full`` folder is the committed snapshot the published book is built from
(:mod:`ntkbook.pipeline.site`), so an ad-hoc run may not replace it.

**Canonical runs.** Only a canonical run of a profile writes that profile's claim records
(:func:`ntkbook.pipeline.paths.claims_dir`: ``results/claims/ci/``, and for ``full`` the
committed ``book/measured/claims/full/``), the records the reproduction report reads: a
run with no overrides to the default output, as ``ntkbook run NAME [--profile P]`` and
``ntkbook book`` make; placing it (``--device``, ``--threads``) keeps it canonical. The
kernel learns this from its environment: ``NTKBOOK_PROFILE`` always,
``NTKBOOK_FORCE=1`` when the caller forces a rerun (then the experiment caches recompute
too), and ``NTKBOOK_CLAIMS_DIR`` only in a canonical run
(:func:`ntkbook.claims.registry.record_claim` saves nothing without it). Ad-hoc runs (``-p``,
``--output elsewhere``), sweeps and plain ``papermill`` therefore never touch the records.

Example::

    >>> from ntkbook.pipeline.notebooks import run_notebook
    >>> run_notebook("notebooks/01_empirical_ntk.py", profile="ci")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ntkbook import _io
from ntkbook._fingerprint import package_fingerprint
from ntkbook.pipeline import paths, stamps
from ntkbook.pipeline.parameters import (  # noqa: F401  (re-exported: the pipeline's one import)
    Constraint,
    ParameterError,
    declared_constraints,
    declared_parameters,
    parse_cli_value,
    profile_overrides,
    profile_path,
    read_parameters,
    validate_parameters,
)
from ntkbook.pipeline.paths import PROFILES  # noqa: F401
from ntkbook.pipeline.stamps import Inputs, Status

ENV_PROFILE, ENV_FORCE, ENV_CLAIMS_DIR = "NTKBOOK_PROFILE", "NTKBOOK_FORCE", "NTKBOOK_CLAIMS_DIR"
_WORKDIR_PREFIX = "ntkbook-run-"  # temporary folders: ntkbook-run-STEM-PID-XXXXXXXX


class NotebookFailed(RuntimeError):
    """A notebook raised while executing; the message names the notebook, cell and error."""


@dataclass
class RunResult:
    notebook: str
    output: Path
    parameters: dict[str, Any]
    executed: bool  # False when the stamp showed the output was up to date
    seconds: float = 0.0
    canonical: bool = False  # True when the run could write the profile's claim records
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- sources


def resolve_notebook(name: str | os.PathLike) -> Path:
    """Return the jupytext source for ``name`` (a path, a stem, or a stem without ``.py``)."""
    path = Path(name)
    notebook_dir = paths.NOTEBOOK_DIR
    candidates = [path, path.with_suffix(".py"), notebook_dir / path.name, notebook_dir / f"{path.stem}.py"]
    for candidate in candidates:
        if candidate.suffix == ".py" and candidate.is_file():
            return candidate.resolve()
    nested = sorted(notebook_dir.rglob(f"{path.stem}.py"))  # run notebooks live in notebooks/runs/
    if len(nested) == 1:
        return nested[0].resolve()
    known = ", ".join(sorted(p.stem for p in notebook_dir.glob("*.py")))
    raise FileNotFoundError(
        f"The notebook {str(name)!r} was not found: expected a jupytext .py source in "
        f"notebooks/. Known notebooks: {known}."
    )


def read_notebook(source: Path):
    import jupytext

    return jupytext.read(source)


def check_values(declared, from_profile: dict[str, Any], overrides: dict[str, Any], stem: str, profile: str) -> dict[str, Any]:
    """The effective parameters of a run: the profile's values, then ``overrides``, each checked.

    ``declared`` is :func:`read_parameters`'s result. A bad value raises
    :class:`ParameterError` naming the notebook, the parameter and, for a profile value,
    the profile file.
    """
    defaults = {k: p.default for k, p in declared.items()}
    constraints = {k: p.constraint for k, p in declared.items()}
    origin = paths.display_path(profile_path(profile, stem))
    validate_parameters(defaults, from_profile, stem, constraints=constraints, origin=origin)
    return validate_parameters(defaults, {**from_profile, **overrides}, stem, constraints=constraints)


# ----------------------------------------------------------------------------- incremental runs


def run_inputs(
    source: Path,
    parameters: dict[str, Any],
    profile: str,
    profile_text: str,
    depends_on: list[str] | None = None,
    *,
    canonical: bool = False,
    exclude: tuple[Path, ...] = (),
) -> Inputs:
    """Everything an executed notebook depends on, part by part (:class:`stamps.Inputs`).

    ``depends_on`` lists extra glob patterns (relative to the repository root, ``{profile}``
    replaced by the profile) whose files are hashed too: a notebook declares them in its
    metadata as ``ntkbook: {depends_on: [...]}``; the reproduction report uses it to rerun
    whenever a chapter saves a new claim record. ``exclude`` leaves out the run's own
    stamp, which a pattern may match. ``canonical`` is part of the inputs: an ad-hoc run
    that happens to use the profile's values wrote no records, so its output never stands
    for the canonical run. Placement parameters (``device``, ``threads``) are not inputs.
    """
    return Inputs(
        source=stamps.sha256_bytes(source.read_bytes()),
        parameters=json.loads(json.dumps(stamps.without_placement(parameters), default=str)),
        profile=profile,
        profile_file=stamps.sha256_bytes(profile_text.encode()),
        package=package_fingerprint(source),
        depends_on=stamps.depends_on_files(depends_on or [], profile, exclude),
        canonical=canonical,
    )


def run_fingerprint(*args, **kwargs) -> str:
    """The hash of :func:`run_inputs`: equal fingerprints mean an up-to-date output."""
    return run_inputs(*args, **kwargs).fingerprint()


_stamp_path = stamps.stamp_path


def is_up_to_date(output: Path, fingerprint: str) -> bool:
    """True when ``output`` exists, its stamp carries ``fingerprint``, and every claim record
    the stamped run saved is still there, unchanged."""
    if not output.is_file() or output.is_symlink():
        return False
    data = stamps.read_stamp(output)
    if data is None or data.get("fingerprint") != fingerprint:
        return False
    return not stamps.records_changed(data)


def _records_state(folder: Path | None) -> dict[str, tuple[int, int]]:
    if folder is None or not folder.is_dir():
        return {}
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(folder.glob("*.json")) if p.is_file()}


def _records_written(folder: Path | None, before: dict[str, tuple[int, int]], stem: str) -> dict[str, str]:
    """The records in ``folder`` that appeared or were replaced since ``before``, with their
    hashes, leaving out those of claims the registry gives to another chapter of the table of
    contents: chapters executed in parallel (``ntkbook book --workers``) write into the same
    folder at the same time, and each stamp keeps only its own chapter's records."""
    from ntkbook.claims.registry import CLAIMS

    after = _records_state(folder)
    chapters = set(toc_notebooks()) if paths.TOC_PATH.is_file() else set()
    others = {cid for cid, claim in CLAIMS.items() if claim.chapter != stem and claim.chapter in chapters}
    return {path: stamps.sha256_file(Path(path)) for path, state in after.items()
            if before.get(path) != state and Path(path).stem not in others}


# ----------------------------------------------------------------------------- targets and leftovers


def _absolute(path: str | os.PathLike) -> Path:
    """``path`` made absolute without following a link in its last component."""
    path = Path(path).expanduser()
    return Path(os.path.abspath(path.parent.resolve() / path.name)) if path.name else Path(os.path.abspath(path))


def check_targets(*targets: Path) -> None:
    """Raise :class:`ParameterError` unless a file can be written at every target.

    Refuses a symbolic link, a directory, a path under a regular file and a folder where
    no file can be created; checked before the notebook runs, so that a bad ``--output``
    costs nothing and leaves nothing behind.
    """
    for target in targets:
        try:
            _io.check_writable_target(target)
            with tempfile.TemporaryFile(dir=target.parent):  # os.access is not enough (root, read-only mounts)
                pass
        except OSError as err:
            text = str(err)
            if not text.startswith(("Refusing to write", "Cannot write")):
                text = f"Cannot write {target}: {err.strerror or text}."
            raise ParameterError(text) from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_leftovers(output: Path, stem: str) -> list[Path]:
    """Remove what killed runs of ``stem`` left behind; returns what was removed.

    That is: temporary writes beside the output and its stamp (``_io``'s ``.NAME.*.partial``
    files, and the ``.STEM.*.partial.ipynb`` files of earlier versions of the pipeline), and
    the temporary folders of runs whose process is gone.
    """
    removed = _io.remove_partials(output.parent, output.name)
    removed += _io.remove_partials(output.parent, _stamp_path(output).name)
    for old in output.parent.glob(f".{stem}.*.partial.ipynb"):
        if old.is_file() and not old.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
                removed.append(old)
    pattern = re.compile(rf"^{re.escape(_WORKDIR_PREFIX + stem)}-(\d+)-[^-]+$")
    for folder in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}{stem}-*"):
        match = pattern.match(folder.name)
        if match and folder.is_dir() and not folder.is_symlink() and not _pid_alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


# ----------------------------------------------------------------------------- execution


def _describe_failure(err: Exception, notebook: str) -> str:
    """One clear line (notebook, cell, error) from a papermill failure."""
    exec_count = getattr(err, "exec_count", None)
    ename = getattr(err, "ename", type(err).__name__)
    evalue = getattr(err, "evalue", str(err))
    cell = f"cell {exec_count}" if exec_count is not None else "a cell"
    return f"Notebook {notebook!r} failed in {cell}: {ename}: {evalue}"


def kernel_environment(profile: str, force: bool, claims_dir: Path | None) -> dict[str, str]:
    """The environment a chapter's kernel runs in: this process's, with the three variables
    of "Canonical runs" above set or removed, and ``TQDM_DISABLE=1``: the bars of the
    library's loops (see :mod:`ntkbook._progress`) would only be recorded into the executed
    notebook, unseen; the one to watch is papermill's over the cells (``progress``)."""
    env = dict(os.environ)
    env["TQDM_DISABLE"] = "1"
    env[ENV_PROFILE] = profile
    env.pop(ENV_FORCE, None)
    env.pop(ENV_CLAIMS_DIR, None)
    if force:
        env[ENV_FORCE] = "1"
    if claims_dir is not None:
        env[ENV_CLAIMS_DIR] = str(claims_dir)
    # where a claim box below the full profile finds the paper-scale verdict it shows beside its own
    env["NTKBOOK_PAPER_SCALE_DIR"] = str(paths.records_root(paths.SNAPSHOT_PROFILE))
    return env


class _Kernel:
    """The kernel of one run: started in the run's environment, and interruptible from the
    thread that waits for the run (papermill itself runs in a worker thread, see
    :func:`_execute`)."""

    def __init__(self, env: dict[str, str], workdir: Path):
        self.env = env
        self.workdir = workdir  # the run's private folder: the kernel's connection file goes there too
        self.pid: int | None = None
        self.interrupted = threading.Event()

    def manager_class(self):
        """A kernel manager class that starts its kernel in ``self.env``, leaving the caller's
        own environment as it is (a chapter that runs a sweep keeps its NTKBOOK_CLAIMS_DIR)."""
        from jupyter_client import AsyncKernelManager

        kernel = self

        class _KernelManager(AsyncKernelManager):
            async def start_kernel(self, **kw):
                if kernel.interrupted.is_set():
                    raise RuntimeError("interrupted before the kernel started")
                if not self.connection_file:
                    self.connection_file = str(kernel.workdir / "kernel.json")
                result = await super().start_kernel(**{**kw, "env": dict(kernel.env)})
                kernel.pid = getattr(self.provisioner, "pid", None)
                return result

        return _KernelManager

    def signal(self, signum: int) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.pid, signum)


_INTERRUPT_GRACE_S = 10.0  # after Ctrl-C, how long the running cell gets to stop before the kernel is killed


def _execute(kernel: _Kernel, **papermill_kwargs) -> None:
    """``papermill.execute_notebook`` in a worker thread, with Ctrl-C handled here.

    In the main thread nbclient would take SIGINT for itself and shut the kernel down in
    the middle of a cell (a page of tracebacks). Here a Ctrl-C interrupts the running cell
    instead, as in Jupyter; the run then ends with papermill's own clean shutdown and this
    function raises ``KeyboardInterrupt``. A cell that ignores the interrupt for
    :data:`_INTERRUPT_GRACE_S` seconds, or a second Ctrl-C, kills the kernel.
    """
    import papermill

    outcome: dict[str, BaseException] = {}
    done = threading.Event()  # waited on, not Thread.join: a join interrupted by Ctrl-C marks a live thread stopped

    def work():
        try:
            papermill.execute_notebook(kernel_manager_class=kernel.manager_class(), **papermill_kwargs)
        except BaseException as err:  # handed to the waiting thread
            outcome["error"] = err
        finally:
            done.set()

    threading.Thread(target=work, name="ntkbook-papermill", daemon=True).start()
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        kernel.interrupted.set()
        deadline = time.monotonic() + _INTERRUPT_GRACE_S
        while not done.is_set():
            try:
                kernel.signal(signal.SIGKILL if time.monotonic() > deadline else signal.SIGINT)  # repeated: the kernel may be between cells
                done.wait(1.0)
            except KeyboardInterrupt:
                deadline = 0.0  # a second Ctrl-C: stop now
        raise
    if "error" in outcome:
        raise outcome["error"]


@dataclass
class Plan:
    """One run, decided before anything executes: what runs, with what, and where it goes."""

    source: Path
    stem: str
    notebook: Any  # the jupytext notebook
    profile: str
    effective: dict[str, Any]  # every parameter's value in this run
    passed: dict[str, Any]  # what papermill injects: the values that differ from the declaration
    placement: dict[str, Any]  # the placement values set for this run (device, threads)
    output: Path
    canonical: bool
    inputs: Inputs

    @property
    def stamp(self) -> Path:
        return stamps.stamp_path(self.output)


def plan_run(
    name: str | os.PathLike,
    *,
    parameters: dict[str, Any] | None = None,
    profile: str = "ci",
    output: str | os.PathLike | None = None,
    placement: dict[str, Any] | None = None,
    check_output: bool = True,
) -> Plan:
    """Check a run's parameters and output and compute its inputs, without running it.

    ``placement`` sets placement parameters (``device``, ``threads``) in the notebooks that
    declare them and is ignored by the others; unlike ``parameters`` it keeps a run canonical.
    Raises :class:`ParameterError` for a bad value or (with ``check_output``) a bad output,
    and for an ad-hoc run that would replace the committed snapshot.
    """
    source = resolve_notebook(name)
    stem = source.stem
    nb = read_notebook(source)
    declared = read_parameters(nb, stem)
    from_profile, profile_text = profile_overrides(profile, stem)
    for key in placement or {}:
        if key not in stamps.PLACEMENT:
            raise ParameterError(f"The placement of a run may set only {', '.join(stamps.PLACEMENT)}. Got {key!r} instead.")
    placed = {k: v for k, v in (placement or {}).items() if k in declared and v is not None}
    overrides = dict(parameters or {})
    effective = check_values(declared, from_profile, {**placed, **overrides}, stem, profile)
    injected = set(from_profile) | set(placed) | set(overrides)
    passed = {k: v for k, v in effective.items() if k in injected}
    if "profile" in declared and "profile" not in passed:
        passed["profile"] = effective["profile"] = profile  # chapters print which profile made their figures

    default_out = _absolute(paths.executed_dir(profile) / f"{stem}.ipynb")
    out = _absolute(output) if output is not None else default_out
    canonical = not overrides and out == default_out
    if profile == paths.SNAPSHOT_PROFILE and out == default_out and not canonical:
        raise ParameterError(
            f"An ad-hoc run (-p) of notebook {stem!r} cannot replace the committed {profile}-profile snapshot "
            f"{paths.display_path(out)}; give --output PATH for it, or drop the -p overrides."
        )
    if check_output:
        check_targets(out, stamps.stamp_path(out))
    depends_on = nb.metadata.get("ntkbook", {}).get("depends_on", [])
    inputs = run_inputs(source, {**effective, "profile": profile}, profile, profile_text, depends_on,
                        canonical=canonical, exclude=(stamps.stamp_path(out),))
    return Plan(source, stem, nb, profile, effective, passed, placed, out, canonical, inputs)


def chapter_status(name: str | os.PathLike, profile: str) -> Status:
    """Whether the canonical run of ``profile`` in its executed folder is current, stale (and
    why) or missing: the test that decides both a rerun and the page's banner."""
    plan = plan_run(name, profile=profile, check_output=False)
    stamp = stamps.read_stamp(plan.output)
    if not plan.output.is_file() or plan.output.is_symlink():
        return Status(plan.stem, profile, plan.output, "missing")
    if stamp is not None and stamp.get("fingerprint") == plan.inputs.fingerprint():
        changed = stamps.records_changed(stamp)
        if not changed:
            return Status(plan.stem, profile, plan.output, "current", [], stamp)
        return Status(plan.stem, profile, plan.output, "stale",
                      [f"claim records it saved changed since: {', '.join(changed)}"], stamp)
    return Status(plan.stem, profile, plan.output, "stale",
                  stamps.differences(stamp, plan.inputs, stamps.package_parts(plan.source)), stamp)


def run_notebook(
    name: str | os.PathLike,
    *,
    parameters: dict[str, Any] | None = None,
    profile: str = "ci",
    output: str | os.PathLike | None = None,
    force: bool | None = None,
    progress: bool = True,
    cwd: str | os.PathLike | None = None,
    placement: dict[str, Any] | None = None,
) -> RunResult:
    """Execute one notebook with papermill under a profile and explicit overrides.

    Parameters
    ----------
    name : str or path
        The jupytext source (``notebooks/NAME.py``) or its stem.
    parameters : dict, optional
        Overrides on top of the profile's; checked against the declaration. Any override
        makes the run ad hoc: it saves no claim records.
    profile : {"ci", "full"}
        ``full`` runs the paper-scale defaults; ``ci`` applies ``profiles/ci/NAME.yaml``.
    output : path, optional
        Where the executed ``.ipynb`` goes; default ``book/executed/PROFILE/NAME.ipynb``
        (for ``full``, the committed snapshot). Any other place makes the run ad hoc.
    force : bool, optional
        Execute even when the stamp says the output is up to date, and have the
        experiment caches recompute (``NTKBOOK_FORCE=1``). Default: what ``NTKBOOK_FORCE``
        says in this process.
    placement : dict, optional
        ``{"device": "cuda", "threads": 0}``: where the notebooks that declare these
        parameters compute. Recorded in the stamp; the run stays canonical.

    Raises
    ------
    ParameterError
        A bad parameter, profile file or output path, before anything runs.
    NotebookFailed
        A cell raised; the previous output is left as it was.
    """
    if force is None:
        force = os.environ.get(ENV_FORCE) == "1"
    plan = plan_run(name, parameters=parameters, profile=profile, output=output, placement=placement)
    stem, out, canonical = plan.stem, plan.output, plan.canonical
    fingerprint = plan.inputs.fingerprint()
    if not force and is_up_to_date(out, fingerprint):
        return RunResult(stem, out, plan.effective, executed=False, canonical=canonical)

    import nbformat

    remove_leftovers(out, stem)
    claims_dir = paths.claims_dir(profile) if canonical else None
    env = kernel_environment(profile, force, claims_dir)
    before = _records_state(claims_dir)
    made_from = stamps.checkout()  # before the run: the commit the sources came from
    workdir = Path(tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{stem}-{os.getpid()}-"))
    try:
        # papermill reads .ipynb: convert the jupytext source to an input notebook, and let
        # it write its progress into the same private folder, never beside the output
        nb = plan.notebook
        src_ipynb, executed = workdir / f"{stem}.ipynb", workdir / f"{stem}.executed.ipynb"
        nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
        nbformat.write(nb, src_ipynb)
        start = time.perf_counter()
        kernel = _Kernel(env, workdir)
        try:
            _execute(
                kernel,
                input_path=str(src_ipynb),
                output_path=str(executed),
                parameters=plan.passed,
                kernel_name="python3",
                progress_bar=progress,
                cwd=str(cwd if cwd is not None else paths.ROOT),
                log_output=False,
            )
        except Exception as err:  # papermill raises PapermillExecutionError with the cell details
            if kernel.interrupted.is_set():
                raise KeyboardInterrupt from None
            raise NotebookFailed(_describe_failure(err, stem)) from err
        seconds = time.perf_counter() - start
        data = stamps.sanitize(nbformat.read(executed, as_version=4), stem, out)
        body = nbformat.writes(data).encode("utf-8")
        _io.write_bytes(out, body)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _io.write_json(plan.stamp, {
        "version": stamps.STAMP_VERSION,
        "fingerprint": fingerprint,
        "profile": profile,
        "canonical": canonical,
        "parameters": plan.effective,
        "placement": plan.placement,
        "inputs": plan.inputs.as_dict(),
        "package_parts": stamps.package_parts(plan.source),
        "seconds": seconds,
        "finished": stamps.utc_now(),
        **made_from,
        "machine": stamps.machine(),
        "records": stamps.record_hashes(_records_written(claims_dir, before, stem)),
    }, default=str)
    return RunResult(stem, out, plan.effective, executed=True, seconds=seconds, canonical=canonical,
                     extra={"oversized": stamps.oversized(data, len(body))})


def toc_notebooks(toc_path: str | os.PathLike | None = None) -> list[str]:
    """The stems of the executed chapters listed in ``_toc.yml``, in reading order."""
    data = yaml.safe_load(Path(toc_path or paths.TOC_PATH).read_text(encoding="utf-8"))
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            f = node.get("file")
            if isinstance(f, str) and f.startswith(paths.TOC_CHAPTER_PREFIX):
                found.append(Path(f).stem)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    return found
