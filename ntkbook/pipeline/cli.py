"""The ``ntkbook`` command: run one chapter, sweep a parameter, or build the whole book.

    ntkbook run NOTEBOOK [-p NAME VALUE]... [--profile ci|full] [--output PATH] [--force]
    ntkbook sweep NOTEBOOK -p NAME V1,V2,... [--profile ci|full] [--workers N] [--scheduler ADDRESS]
    ntkbook book [--profile ci|full] [--force] [--no-build]

Exit status: 0 on success, 1 when a notebook or the book build fails (one line naming
the notebook, the cell and the error), 2 for bad arguments, parameters, profile files or
output paths (refused before anything runs), 130 when interrupted (Ctrl-C): the run's
temporary files are removed and the previous outputs are left as they were.

Only ``ntkbook run NAME [--profile P]`` (no ``-p``, no ``--output``) and ``ntkbook book``
are canonical runs, which save the claim records the reproduction report reads.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ntkbook import _io
from ntkbook.pipeline import paths
from ntkbook.pipeline.notebooks import (
    PROFILES,
    NotebookFailed,
    ParameterError,
    parse_cli_value,
    run_notebook,
    toc_notebooks,
)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _pairs(values: list[list[str]] | None) -> dict:
    return {name: parse_cli_value(value) for name, value in (values or [])}


def _cmd_run(args) -> int:
    params = _pairs(args.parameter)
    _say(f"ntkbook: running {args.notebook} (profile {args.profile})")
    result = run_notebook(
        args.notebook, parameters=params, profile=args.profile, output=args.output, force=args.force, progress=True
    )
    state = f"executed in {result.seconds:.1f} s" if result.executed else "up to date, not rerun"
    kind = "" if result.canonical else " (ad hoc: no claim records saved)"
    _say(f"ntkbook: {result.notebook}: {state} -> {result.output}{kind}")
    return 0


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
    stems = toc_notebooks()
    timings = {}
    for i, stem in enumerate(stems, 1):
        _say(f"[{i}/{len(stems)}] {stem} (profile {args.profile})")
        result = run_notebook(stem, profile=args.profile, force=args.force, progress=False)
        timings[stem] = round(result.seconds, 1) if result.executed else None
        _say(f"      {f'executed in {result.seconds:.1f} s' if result.executed else 'up to date'}")
    record = {"profile": args.profile, "machine": machine_description(), "seconds": timings}
    _io.write_json(paths.BUILD_DIR / f"timings-{args.profile}.json", record)
    if args.no_build:
        return 0
    _say("ntkbook: building the HTML book with Jupyter Book (-n -W --keep-going)")
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(paths.ROOT), "--builder", "html", "-n", "-W", "--keep-going"]
    done = subprocess.run(cmd, cwd=paths.ROOT)
    if done.returncode != 0:
        _say("ntkbook: the book build failed (see the warnings above).")
        return 1
    _say(f"ntkbook: book built at {paths.BUILD_DIR / 'html' / 'index.html'}")
    return 0


def machine_description() -> dict:
    """What the timings were measured on: CPU count, torch version, and the GPU if one is used."""
    import platform

    import torch

    info = {"cpus": os.cpu_count(), "platform": platform.platform(terse=True), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ntkbook", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute one notebook with papermill")
    run.add_argument("notebook", help="a notebook in notebooks/ (stem or path of the .py source)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), help="override a parameter (VALUE is read as YAML)")
    run.add_argument("--profile", choices=PROFILES, default="ci")
    run.add_argument("--output", help="where the executed notebook goes (default book/chapters/NAME.ipynb)")
    run.add_argument("--force", action="store_true", help="run even if the output is up to date")
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

    book = sub.add_parser("book", help="execute every chapter in _toc.yml and build the HTML book")
    book.add_argument("--profile", choices=PROFILES, default=os.environ.get("PROFILE", "ci"))
    book.add_argument("--force", action="store_true")
    book.add_argument("--no-build", action="store_true", help="execute the notebooks only")
    book.set_defaults(func=_cmd_book)
    return parser


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
