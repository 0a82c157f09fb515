"""The ``ntkbook`` command: run one chapter, sweep a parameter, or build the whole book.

    ntkbook [--root PATH] [--quiet] [--version] COMMAND ...     (or: python -m ntkbook ...)
    ntkbook run NOTEBOOK [-p NAME VALUE]... [--profile ci|full] [--output PATH] [--force] [--device D] [--threads N]
    ntkbook sweep NOTEBOOK -p NAME V1,V2,... [--profile ci|full] [--workers N] [--scheduler ADDRESS]
    ntkbook book [--profile ci|full] [--force] [--no-build] [--device D] [--threads N]
    ntkbook status [--profile ci|full]
    ntkbook params NOTEBOOK

``--root PATH`` names the book (the folder with ``_toc.yml`` and ``notebooks/``) for any
command; without it the book is found as ``ntkbook.pipeline.paths`` says. ``--quiet`` hides
the progress bars: papermill's over the cells of ``ntkbook run``, the sweep's over its runs,
and the bar of ``ntkbook book`` over its chapters, whose estimate of the time left comes from
the ``seconds`` recorded in each chapter's stamp by its previous run. ``ntkbook params``
lists a chapter's parameters: type, default, allowed values (from the constraint comments
of its parameters cell) and the values of the ``ci`` and ``full`` profiles.

``ntkbook book`` without ``--profile`` executes nothing: it builds the published book
(``_build/html``) from the committed ``full``-profile snapshot in ``book/executed/full/``,
each page under a banner naming the run that produced it, or saying that it is stale (and
why) or was never run. ``--profile full`` first executes the chapters whose snapshot is
stale or missing, at paper scale, into that snapshot; ``--profile ci`` executes the
smoke run into ``book/executed/ci/`` and builds it into ``_build/ci/html``. ``--device``
and ``--threads`` place the chapters that declare those parameters without making the run
ad hoc. ``ntkbook status`` lists each chapter's run in a profile: current, stale (why) or
missing.

Exit status: 0 on success, 1 when a notebook or the book build fails (one line naming
the notebook, the cell and the error) or a run of a sweep failed, 2 for bad arguments,
parameters, profile files, output paths or book root (refused before anything runs),
130 when interrupted (Ctrl-C): the run's temporary files are removed and the previous
outputs are left as they were.

Only ``ntkbook run NAME [--profile P]`` (no ``-p``, no ``--output``) and ``ntkbook book``
are canonical runs, which save the claim records the reproduction report reads.
An ad-hoc run may not replace the committed ``full`` snapshot (exit 2: give ``--output``).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import ntkbook
from ntkbook import _io
from ntkbook._progress import progress_bar
from ntkbook.pipeline import paths
from ntkbook.pipeline.notebooks import (
    PROFILES,
    NotebookFailed,
    ParameterError,
    chapter_status,
    parse_cli_value,
    profile_overrides,
    read_notebook,
    read_parameters,
    resolve_notebook,
    run_notebook,
    toc_notebooks,
)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _pairs(values: list[list[str]] | None) -> dict:
    return {name: parse_cli_value(value) for name, value in (values or [])}


def _placement(args) -> dict:
    return {k: v for k, v in {"device": args.device, "threads": args.threads}.items() if v is not None}


def _cmd_run(args) -> int:
    params = _pairs(args.parameter)
    _say(f"ntkbook: running {args.notebook} (profile {args.profile})")
    result = run_notebook(
        args.notebook, parameters=params, profile=args.profile, output=args.output, force=args.force,
        progress=not args.quiet,
        placement=_placement(args),
    )
    state = f"executed in {result.seconds:.1f} s" if result.executed else "up to date, not rerun"
    kind = "" if result.canonical else " (ad hoc: no claim records saved)"
    _say(f"ntkbook: {result.notebook}: {state} -> {paths.display_path(result.output)}{kind}")
    _warn_size(result)
    return 0


def _warn_size(result) -> None:
    for problem in result.extra.get("oversized", []):
        _say(f"ntkbook: warning: {result.notebook} is over the size budget of an executed chapter: {problem}")


def _cmd_sweep(args) -> int:
    from ntkbook.pipeline.sweep import run_sweep

    params = dict(args.parameter or [])
    if len(params) != 1:
        raise ParameterError("ntkbook sweep takes exactly one '-p NAME V1,V2,...' to sweep over.")
    (name, values), = params.items()
    fixed = _pairs(args.fixed)
    table = run_sweep(
        args.notebook,
        name,
        [parse_cli_value(v) for v in values.split(",")],
        profile=args.profile,
        fixed=fixed,
        workers=args.workers,
        scheduler=args.scheduler,
        output_dir=args.output_dir,
        progress=not args.quiet,
    )
    _say(table.to_string(index=False))
    return 0 if (table["status"] == "ok").all() else 1


def _cmd_book(args) -> int:
    from ntkbook.pipeline.site import build_book

    profile = args.profile or paths.SNAPSHOT_PROFILE
    if args.workers is not None and args.workers < 1:
        raise ParameterError(f"--workers must be an int in the range [1, inf). Got {args.workers} instead.")
    if args.profile is None:
        if args.force or args.no_build or args.workers is not None or args.scheduler is not None:
            raise ParameterError("--force, --no-build, --workers and --scheduler execute chapters: "
                                 "give --profile ci or --profile full with them.")
        _say(f"ntkbook: building the published book from the {profile}-profile snapshot "
             f"({paths.display_path(paths.executed_dir(profile))}/), executing nothing")
    else:
        _execute_book(args, profile)
        if args.no_build:
            return 0
    if build_book(profile, log=_say) != 0:
        _say("ntkbook: the book build failed (see the warnings above).")
        return 1
    _say(f"ntkbook: book built at {paths.display_path(paths.book_dirs(profile).html / 'index.html')}")
    return 0


UNKNOWN_CHAPTER_S = 60.0  # the estimate of a chapter with no recorded run when no chapter has one
_BOOK_BAR = "{l_bar}{bar}| {n:.0f}/{total:.0f} s of recorded run time [{elapsed}<{remaining}{postfix}]"


def estimated_seconds(stems: list[str], profile: str, force: bool) -> dict[str, float]:
    """How long each chapter should take in ``ntkbook book``: 0 for one whose run is current
    (it is not rerun, unless ``force``), else the ``seconds`` its stamp recorded the last time
    it ran, and for a chapter never run the mean of the others' (:data:`UNKNOWN_CHAPTER_S`
    when there are none). The bar of the book advances by these, so its time left is the
    recorded time of the chapters still to run, scaled by how fast this run goes."""
    recorded: dict[str, float | None] = {}
    for stem in stems:
        status = chapter_status(stem, profile)
        seconds = (status.stamp or {}).get("seconds")
        if status.state == "current" and not force:
            recorded[stem] = 0.0
        else:
            ok = isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0
            recorded[stem] = float(seconds) if ok else None
    known = [v for v in recorded.values() if v]
    fallback = sum(known) / len(known) if known else UNKNOWN_CHAPTER_S
    return {stem: fallback if v is None else v for stem, v in recorded.items()}


def _execute_book(args, profile: str) -> None:
    """Run every chapter of the table of contents whose run in ``profile`` is not current,
    in reading order; then once more those that read what a later chapter wrote (the
    report reads the claim records, the page on running at scale reads the stamps)."""
    stems = toc_notebooks()
    timings: dict[str, float | None] = {}
    if args.workers is not None or args.scheduler is not None:  # independent chapters side by side on Dask
        from ntkbook.pipeline.parallel import execute_chapters

        timings = execute_chapters(stems, profile, workers=args.workers, scheduler=args.scheduler, force=args.force,
                                   placement=_placement(args), log=_say, progress=not args.quiet)
        _write_timings(profile, {s: None if t is None else round(t, 1) for s, t in timings.items()})
        return
    estimate = estimated_seconds(stems, profile, args.force)
    with progress_bar(total=sum(estimate.values()), show=not args.quiet, desc=f"book ({profile})",
                      bar_format=_BOOK_BAR) as bar:
        def say(message: str) -> None:  # lines above the bar, never through it
            bar.write(message, file=sys.stderr) if not bar.disable else _say(message)

        for i, stem in enumerate(stems, 1):
            say(f"[{i}/{len(stems)}] {stem} (profile {profile})")
            bar.set_postfix_str(stem)
            result = run_notebook(stem, profile=profile, force=args.force, progress=False, placement=_placement(args))
            timings[stem] = round(result.seconds, 1) if result.executed else None
            say(f"      {f'executed in {result.seconds:.1f} s' if result.executed else 'up to date'}")
            bar.update(estimate[stem])
            _warn_size(result)
    for stem in stems:
        if chapter_status(stem, profile).state != "current":
            _say(f"[again] {stem}: what it reads changed during this pass")
            result = run_notebook(stem, profile=profile, progress=False, placement=_placement(args))
            timings[stem] = round(result.seconds, 1)
    _write_timings(profile, timings)


def _write_timings(profile: str, timings: dict[str, float | None]) -> None:
    """The wall time of each chapter this pass executed (None: it was current), for the page
    on running at scale."""
    from ntkbook.pipeline.stamps import machine

    record = {"profile": profile, "machine": machine(), "seconds": timings}
    _io.write_json(paths.BUILD_DIR / f"timings-{profile}.json", record)


def _cmd_status(args) -> int:
    statuses = [chapter_status(stem, args.profile) for stem in toc_notebooks()]
    for status in statuses:
        print(status.line())
    counts = {state: sum(s.state == state for s in statuses) for state in ("current", "stale", "missing")}
    print(f"{args.profile}: {counts['current']} current, {counts['stale']} stale, {counts['missing']} missing "
          f"of {len(statuses)} chapters in {paths.display_path(paths.executed_dir(args.profile))}/")
    return 0


EXIT_CODES = """\
exit status:
  0    success
  1    a chapter (notebook) failed, the book build failed, or a run of a sweep failed
  2    bad usage or input: arguments, parameters, profile files, output paths, book root
       (refused before anything runs)
  130  interrupted (Ctrl-C): temporary files removed, earlier outputs kept"""

_PROFILE_HELP = ("ci: the smoke run (the overrides in profiles/ci/NAME.yaml, small and fast); "
                 "full: the paper-scale defaults of the parameters cell")


def _epilog(*examples: str) -> str:
    return "examples:\n" + "\n".join(f"  {e}" for e in examples) + "\n\n" + EXIT_CODES


def _sub(sub, name: str, help: str, description: str, *examples: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help, description=textwrap.fill(description, 88), epilog=_epilog(*examples),
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars (as ntkbook --quiet)")
    return parser


def _yaml(value) -> str:
    """A value as ``-p NAME VALUE`` reads it (YAML flow style): 512, 0.1, float64, [64, 128]."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text.removesuffix("...").strip()


def _type_of(param) -> str:
    c = param.constraint
    if c is None:
        return type(param.default).__name__
    item = {"choice": "str"}.get(c.kind, c.kind)
    if not c.is_list:
        return item
    size = "" if c.length is None else f"{'>=' if c.at_least else ''}{c.length} "
    return f"list of {size}{item}"


def parameter_table(notebook: str) -> list[dict[str, str]]:
    """One row per declared parameter of ``notebook``, in the order of its parameters cell:
    name, type, default, allowed (in the words of the error messages), ci, full, help."""
    source = resolve_notebook(notebook)
    declared = read_parameters(read_notebook(source), source.stem)
    profiles = {p: profile_overrides(p, source.stem)[0] for p in PROFILES}
    rows = []
    for name, param in declared.items():
        c = param.constraint
        rows.append({
            "name": name,
            "type": _type_of(param),
            "default": _yaml(param.default),
            "allowed": c.allowed() if c is not None else f"any {type(param.default).__name__}",
            # the runner sets 'profile' to the profile it runs (see plan_run)
            **{p: _yaml(p if name == "profile" else profiles[p].get(name, param.default)) for p in PROFILES},
            "help": param.help,
        })
    return rows


def _cmd_params(args) -> int:
    rows = parameter_table(args.notebook)
    if not rows:
        print(f"{args.notebook}: no parameters cell")
        return 0
    columns = ["name", "type", "default", *PROFILES, "allowed"]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in columns).rstrip())
        if r["help"]:
            print(f"    {r['help']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ntkbook",
        description=textwrap.fill("The executable NTK-ECRN book: run one chapter, sweep a parameter, build "
                                  "the whole book, see which chapters are current, list a chapter's "
                                  "parameters.", 88),
        epilog=_epilog("ntkbook run 01_empirical_ntk", "ntkbook book --profile ci",
                       "python -m ntkbook --root ../my-book status --profile ci",
                       "ntkbook params 10_width_scaling"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {ntkbook.__version__}")
    parser.add_argument("--root", metavar="PATH", default=None,
                        help="the book to work on: a folder holding _toc.yml and notebooks/ "
                             "(default: found from the working directory or NTKBOOK_ROOT)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars (papermill's over cells, a sweep's over runs, the book's over chapters)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _sub(sub, "run", "execute one chapter with papermill",
               "Execute one notebook with papermill under a profile, into book/executed/PROFILE/NAME.ipynb "
               "with its stamp. Skipped when the stamp shows the output is up to date. Without -p and "
               "--output the run is canonical and saves the claim records the report reads; with either "
               "it is ad hoc.",
               "ntkbook run 01_empirical_ntk",
               "ntkbook run 10_width_scaling --profile full --device cuda",
               "ntkbook run 01_empirical_ntk -p width 256 --output runs/width256.ipynb")
    run.add_argument("notebook", help="a notebook in notebooks/ (stem or path of the .py source)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="override a parameter (VALUE is read as YAML; see ntkbook params NOTEBOOK)")
    run.add_argument("--profile", choices=PROFILES, default="ci", help=_PROFILE_HELP + " (default: ci)")
    run.add_argument("--output", help="where the executed notebook goes (default book/executed/PROFILE/NAME.ipynb)")
    run.add_argument("--force", action="store_true", help="run even if the output is up to date")
    _placement_options(run)
    run.set_defaults(func=_cmd_run)

    sweep = _sub(sub, "sweep", "one papermill run per value of a parameter, collected into one table",
                 "Execute a notebook once per value of one parameter, on local processes or a Dask "
                 "cluster, and collect the status, time and glued scalars of every run into "
                 "OUTPUT_DIR/runs.csv. Every value is checked before the first run; a failed run is "
                 "recorded and the others complete.",
                 "ntkbook sweep bscale_point -p fourier_scale 0.1,1,10",
                 "ntkbook sweep bscale_point -p fourier_scale 0.1,1 --set depth 4 --workers 2",
                 "ntkbook sweep bscale_point -p fourier_scale 0.1,1 --scheduler tcp://host:8786")
    sweep.add_argument("notebook", help="a run notebook (stem or path of the .py source)")
    sweep.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "V1,V2,..."), required=True,
                       help="the parameter to sweep and its comma-separated values (each read as YAML)")
    sweep.add_argument("--set", dest="fixed", nargs=2, action="append", metavar=("NAME", "VALUE"), help="a parameter held fixed in every run")
    sweep.add_argument("--profile", choices=PROFILES, default="ci", help=_PROFILE_HELP + " (default: ci)")
    sweep.add_argument("--workers", type=int, default=None, help="local worker processes (default: number of CPUs, at most the number of values)")
    sweep.add_argument("--scheduler", default=None, help="address of an existing Dask distributed scheduler, e.g. tcp://host:8786")
    sweep.add_argument("--output-dir", default=None, help="where the runs and the collected table go (default results/sweeps/NOTEBOOK-NAME)")
    sweep.set_defaults(func=_cmd_sweep)

    book = _sub(sub, "book", "build the HTML book (from the snapshot; with --profile, execute first)",
                "Without --profile, build the published book (_build/html) from the committed full-profile "
                "snapshot in book/executed/full/, executing nothing; each page carries a banner naming the "
                "run that made it, or saying it is stale or missing. With --profile, first execute the "
                "chapters whose run in that profile is not current (a bar over the chapters estimates the "
                "time left from their previous runs), then build that profile's book.",
                "ntkbook book", "ntkbook book --profile ci", "ntkbook book --profile ci --workers 2",
                "ntkbook book --profile full --device cuda --no-build")
    book.add_argument("--profile", choices=PROFILES, default=None,
                      help="execute the chapters whose run in this profile is not current, then build its book; "
                           + _PROFILE_HELP + " (default: build the published book from the full-profile "
                           "snapshot, executing nothing)")
    book.add_argument("--force", action="store_true",
                      help="execute every chapter, current or not, and have the experiment caches recompute "
                           "(needs --profile)")
    book.add_argument("--no-build", action="store_true", help="execute the notebooks only (needs --profile)")
    book.add_argument("--workers", type=int, default=None,
                      help="execute the independent chapters side by side on a local Dask cluster of this many "
                           "workers, the chapters that read the others' results last (needs --profile)")
    book.add_argument("--scheduler", default=None,
                      help="execute them on the workers of this Dask scheduler instead, e.g. tcp://host:8786; "
                           "the workers must share this book's file system (needs --profile)")
    _placement_options(book)
    book.set_defaults(func=_cmd_book)

    status = _sub(sub, "status", "each chapter's run in a profile: current, stale (why) or missing",
                  "List every chapter of the table of contents with the state of its run in a profile: "
                  "current, stale (and what changed since) or missing. Executes nothing.",
                  "ntkbook status", "ntkbook status --profile ci")
    status.add_argument("--profile", choices=PROFILES, default=paths.SNAPSHOT_PROFILE,
                        help=_PROFILE_HELP + f" (default: {paths.SNAPSHOT_PROFILE})")
    status.set_defaults(func=_cmd_status)

    params = _sub(sub, "params", "list a chapter's parameters: type, default, allowed values, ci and full values",
                  "List every parameter of a notebook's parameters cell: its type, its default (the "
                  "paper-scale value), the values it accepts (read from the constraint comment of its "
                  "line), its value in the ci and full profiles, and what it means. Executes nothing.",
                  "ntkbook params 01_empirical_ntk", "ntkbook params notebooks/runs/bscale_point.py")
    params.add_argument("notebook", help="a notebook in notebooks/ (stem or path of the .py source)")
    params.set_defaults(func=_cmd_params)
    return parser


def _placement_options(parser) -> None:
    parser.add_argument("--device", default=None,
                        help="device of the chapters that declare a 'device' parameter (e.g. cuda); keeps the run canonical")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the chapters that declare a 'threads' parameter (0: torch's default)")


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv`` (default: the process's arguments); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.root is not None:
            paths.use_root(Path(args.root))
        return args.func(args)
    except (ParameterError, FileNotFoundError, _io.SymlinkError) as err:
        _say(f"ntkbook: error: {err}")
        return 2
    except NotebookFailed as err:
        _say(f"ntkbook: error: {err}")
        return 1
    except KeyboardInterrupt:
        _say("ntkbook: interrupted; the run's temporary files were removed and earlier outputs kept.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
