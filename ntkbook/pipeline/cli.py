"""The ``ntkbook`` command: run one chapter, sweep a parameter, or build the whole book.

    ntkbook run NOTEBOOK [-p NAME VALUE]... [--profile ci|full] [--output PATH] [--force] [--device D] [--threads N]
    ntkbook sweep NOTEBOOK -p NAME V1,V2,... [--profile ci|full] [--workers N] [--scheduler ADDRESS]
    ntkbook book [--profile ci|full] [--force] [--no-build] [--device D] [--threads N]
    ntkbook status [--profile ci|full]

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
the notebook, the cell and the error), 2 for bad arguments, parameters, profile files or
output paths (refused before anything runs), 130 when interrupted (Ctrl-C): the run's
temporary files are removed and the previous outputs are left as they were.

Only ``ntkbook run NAME [--profile P]`` (no ``-p``, no ``--output``) and ``ntkbook book``
are canonical runs, which save the claim records the reproduction report reads.
An ad-hoc run may not replace the committed ``full`` snapshot (exit 2: give ``--output``).
"""

from __future__ import annotations

import argparse
import sys

from ntkbook import _io
from ntkbook.pipeline import paths
from ntkbook.pipeline.notebooks import (
    PROFILES,
    NotebookFailed,
    ParameterError,
    chapter_status,
    parse_cli_value,
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
        args.notebook, parameters=params, profile=args.profile, output=args.output, force=args.force, progress=True,
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
    )
    _say(table.to_string(index=False))
    return 0 if (table["status"] == "ok").all() else 1


def _cmd_book(args) -> int:
    from ntkbook.pipeline.site import build_book

    profile = args.profile or paths.SNAPSHOT_PROFILE
    if args.profile is None:
        if args.force or args.no_build:
            raise ParameterError("--force and --no-build execute chapters: give --profile ci or --profile full with them.")
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


def _execute_book(args, profile: str) -> None:
    """Run every chapter of the table of contents whose run in ``profile`` is not current,
    in reading order; then once more those that read what a later chapter wrote (the
    report reads the claim records, the page on running at scale reads the stamps)."""
    stems = toc_notebooks()
    timings: dict[str, float | None] = {}
    for i, stem in enumerate(stems, 1):
        _say(f"[{i}/{len(stems)}] {stem} (profile {profile})")
        result = run_notebook(stem, profile=profile, force=args.force, progress=False, placement=_placement(args))
        timings[stem] = round(result.seconds, 1) if result.executed else None
        _say(f"      {f'executed in {result.seconds:.1f} s' if result.executed else 'up to date'}")
        _warn_size(result)
    for stem in stems:
        if chapter_status(stem, profile).state != "current":
            _say(f"[again] {stem}: what it reads changed during this pass")
            result = run_notebook(stem, profile=profile, progress=False, placement=_placement(args))
            timings[stem] = round(result.seconds, 1)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ntkbook", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute one notebook with papermill")
    run.add_argument("notebook", help="a notebook in notebooks/ (stem or path of the .py source)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), help="override a parameter (VALUE is read as YAML)")
    run.add_argument("--profile", choices=PROFILES, default="ci")
    run.add_argument("--output", help="where the executed notebook goes (default book/executed/PROFILE/NAME.ipynb)")
    run.add_argument("--force", action="store_true", help="run even if the output is up to date")
    _placement_options(run)
    run.set_defaults(func=_cmd_run)

    sweep = sub.add_parser("sweep", help="one papermill run per value of a parameter, collected into one table")
    sweep.add_argument("notebook")
    sweep.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "V1,V2,..."), required=True)
    sweep.add_argument("--set", dest="fixed", nargs=2, action="append", metavar=("NAME", "VALUE"), help="a parameter held fixed in every run")
    sweep.add_argument("--profile", choices=PROFILES, default="ci")
    sweep.add_argument("--workers", type=int, default=None, help="local worker processes (default: number of CPUs, at most the number of values)")
    sweep.add_argument("--scheduler", default=None, help="address of an existing Dask distributed scheduler, e.g. tcp://host:8786")
    sweep.add_argument("--output-dir", default=None, help="where the runs and the collected table go (default results/sweeps/NOTEBOOK-NAME)")
    sweep.set_defaults(func=_cmd_sweep)

    book = sub.add_parser("book", help="build the HTML book (from the snapshot; with --profile, execute first)")
    book.add_argument("--profile", choices=PROFILES, default=None,
                      help="execute the chapters whose run in this profile is not current, then build its book "
                           "(default: build the published book from the full-profile snapshot, executing nothing)")
    book.add_argument("--force", action="store_true", help="execute every chapter, current or not")
    book.add_argument("--no-build", action="store_true", help="execute the notebooks only")
    _placement_options(book)
    book.set_defaults(func=_cmd_book)

    status = sub.add_parser("status", help="each chapter's run in a profile: current, stale (why) or missing")
    status.add_argument("--profile", choices=PROFILES, default=paths.SNAPSHOT_PROFILE)
    status.set_defaults(func=_cmd_status)
    return parser


def _placement_options(parser) -> None:
    parser.add_argument("--device", default=None,
                        help="device of the chapters that declare a 'device' parameter (e.g. cuda); keeps the run canonical")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of the chapters that declare a 'threads' parameter (0: torch's default)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
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
