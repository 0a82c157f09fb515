"""The pipeline under faults: ad-hoc runs, links, bad profiles, bad outputs, interrupts, bad values.

Each test builds its own small book (a notebook or two, a profile, an output folder) in a
temporary directory, so nothing here touches the real book. The tests marked slow start
a kernel; the interrupt tests run ``ntkbook`` as a real subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ntkbook.pipeline import cli, notebooks, paths
from ntkbook.pipeline.notebooks import ParameterError, read_notebook, read_parameters

BOOK = Path(__file__).resolve().parent.parent

# A chapter that records a claim, prints the environment the pipeline gave its kernel, and
# can be made to sleep (for the interrupt tests) or to fail.
CHAPTER = textwrap.dedent(
    '''\
    # %% tags=["parameters"]
    profile = "full"  # one of ci, full: which profile produced this run
    n_points = 8  # int in [1, inf): the number the claim is checked on
    seconds = 0.0  # float in [0, inf): how long the second cell sleeps
    dtype = "float64"  # one of float32, float64: a choice

    # %%
    import os, pathlib, time
    from ntkbook.claims.registry import record_claim
    from ntkbook.claims.rules import threshold_rule
    marker = os.environ.get("TOY_STARTED")
    if marker:
        pathlib.Path(marker).write_text("started")
    time.sleep(seconds)
    record_claim("ntk_psd", threshold_rule(float(n_points), at_most=1e9, what="n"), profile=profile, seeds=1)
    print("ENV", os.environ.get("NTKBOOK_PROFILE"), os.environ.get("NTKBOOK_FORCE"), os.environ.get("NTKBOOK_CLAIMS_DIR"))
    '''
)


def _make_book(root: Path, ci_profile: str = "n_points: 3\n") -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "profiles" / "ci").mkdir(parents=True)
    (root / "book" / "executed" / "ci").mkdir(parents=True)
    (root / "notebooks" / "toy.py").write_text(CHAPTER)
    (root / "profiles" / "ci" / "toy.yaml").write_text(ci_profile)
    (root / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n- file: book/chapters/toy\n")
    return root


@pytest.fixture
def book(tmp_path, monkeypatch):
    """A one-chapter book in tmp_path, with the pipeline pointed at it."""
    root = _make_book(tmp_path / "book_root")
    monkeypatch.setattr(paths, "ROOT", root)
    monkeypatch.setattr(paths, "NOTEBOOK_DIR", root / "notebooks")
    monkeypatch.setattr(paths, "PROFILE_DIR", root / "profiles")
    monkeypatch.setattr(paths, "EXECUTED_DIR", root / "book" / "executed")
    monkeypatch.setattr(paths, "MEASURED_DIR", root / "book" / "measured")
    monkeypatch.setattr(paths, "RESULTS_DIR", root / "results")
    monkeypatch.setattr(paths, "TOC_PATH", root / "_toc.yml")
    monkeypatch.delenv("NTKBOOK_CLAIMS_DIR", raising=False)
    monkeypatch.delenv("NTKBOOK_FORCE", raising=False)
    return root


def _record(root: Path) -> Path:
    return root / "results" / "claims" / "ci" / "ntk_psd.json"


def _no_kernel(monkeypatch):
    """Make any attempt to execute a notebook fail the test: the refusals must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("a kernel was started although the run should have been refused")

    monkeypatch.setattr(notebooks, "_execute", refuse)


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("ntkbook: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------------------- ad-hoc runs and records


@pytest.mark.slow
def test_only_a_canonical_run_writes_the_claim_records_and_ad_hoc_runs_leave_them(book, capsys):
    assert cli.main(["run", "toy"]) == 0  # canonical: the ci profile's records
    record = _record(book)
    saved = record.read_bytes()
    assert json.loads(saved)["inputs"]["value"] == 3.0  # n_points of the ci profile

    assert cli.main(["run", "toy", "-p", "n_points", "4", "--output", str(book / "x.ipynb")]) == 0
    assert cli.main(["run", "toy", "-p", "n_points", "5"]) == 0  # ad hoc, to the default output
    assert record.read_bytes() == saved
    assert "(ad hoc: no claim records saved)" in capsys.readouterr().err

    again = notebooks.run_notebook("toy", profile="ci", progress=False)
    assert again.executed and again.canonical  # the ad-hoc output did not pass for the canonical one
    assert json.loads(record.read_text())["inputs"]["value"] == 3.0


@pytest.mark.slow
def test_a_sweep_over_a_chapter_writes_no_claim_records(book):
    from ntkbook.pipeline.sweep import run_sweep

    table = run_sweep("toy", "n_points", [7], workers=1, output_dir=book / "sweep")
    assert list(table["status"]) == ["ok"] and not _record(book).exists()


@pytest.mark.slow
def test_plain_papermill_writes_no_claim_records(book):
    import jupytext
    import papermill

    nb = jupytext.read(book / "notebooks" / "toy.py")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(nb, book / "toy.ipynb")
    papermill.execute_notebook(str(book / "toy.ipynb"), str(book / "toy.out.ipynb"), parameters={"profile": "ci"},
                               kernel_name="python3", progress_bar=False, cwd=str(book))
    assert not _record(book).exists() and not list(book.rglob("ntk_psd.json"))


@pytest.mark.slow
def test_an_ad_hoc_run_with_the_profiles_own_values_does_not_make_the_canonical_run_up_to_date(book):
    adhoc = notebooks.run_notebook("toy", profile="ci", parameters={"n_points": 3}, progress=False)
    assert not adhoc.canonical and not _record(book).exists()
    canonical = notebooks.run_notebook("toy", profile="ci", progress=False)
    assert canonical.executed and _record(book).exists()


@pytest.mark.slow
def test_a_canonical_run_whose_claim_record_changed_since_is_not_up_to_date(book):
    notebooks.run_notebook("toy", profile="ci", progress=False)
    assert not notebooks.run_notebook("toy", profile="ci", progress=False).executed
    _record(book).write_text(_record(book).read_text().replace('"value": 3.0', '"value": 4.0'))  # overwritten by someone
    assert notebooks.run_notebook("toy", profile="ci", progress=False).executed
    assert json.loads(_record(book).read_text())["inputs"]["value"] == 3.0


@pytest.mark.slow
def test_the_kernel_sees_the_profile_force_and_claims_folder_of_a_canonical_run_only(book):
    out = notebooks.run_notebook("toy", profile="ci", force=True, progress=False).output
    claims = paths.claims_dir("ci")
    assert f"ENV ci 1 {claims}" in out.read_text()
    adhoc = notebooks.run_notebook("toy", profile="ci", parameters={"n_points": 2}, output=book / "a.ipynb", progress=False)
    assert "ENV ci None None" in adhoc.output.read_text()
    assert os.environ.get("NTKBOOK_CLAIMS_DIR") is None  # the caller's own environment is left alone


@pytest.mark.slow
def test_outputs_stamp_and_records_get_the_usual_permissions_and_the_stamp_the_runs_profile(book):
    result = notebooks.run_notebook("toy", profile="ci", progress=False)
    stamp = notebooks._stamp_path(result.output)
    mask = os.umask(0)
    os.umask(mask)
    for path in (result.output, stamp, _record(book)):
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path
    data = json.loads(stamp.read_text())
    assert data["profile"] == "ci" and data["parameters"]["profile"] == "ci" and data["canonical"] is True
    assert result.parameters["profile"] == "ci"


# ----------------------------------------------------------------------------- links


def test_an_executed_notebook_that_is_a_link_is_refused_and_its_target_kept(book, monkeypatch, capsys):
    _no_kernel(monkeypatch)
    victim = book / "victim.txt"
    victim.write_text("precious")
    (book / "book" / "executed" / "ci" / "toy.ipynb").symlink_to(victim)
    assert cli.main(["run", "toy"]) == 2
    assert "symbolic link" in _one_error_line(capsys.readouterr().err)
    assert victim.read_text() == "precious"


def test_a_stamp_that_is_a_link_is_refused_and_its_target_kept(book, monkeypatch, capsys):
    _no_kernel(monkeypatch)
    victim = book / "victim.txt"
    victim.write_text("precious")
    (book / "book" / "executed" / "ci" / ".toy.stamp.json").symlink_to(victim)
    assert cli.main(["run", "toy"]) == 2
    assert ".toy.stamp.json" in _one_error_line(capsys.readouterr().err)
    assert victim.read_text() == "precious"


def test_an_output_given_as_a_link_is_refused(book, monkeypatch, capsys):
    _no_kernel(monkeypatch)
    victim = book / "victim.ipynb"
    victim.write_text("precious")
    link = book / "link.ipynb"
    link.symlink_to(victim)
    assert cli.main(["run", "toy", "--output", str(link)]) == 2
    assert "symbolic link" in _one_error_line(capsys.readouterr().err)
    assert victim.read_text() == "precious"


# ----------------------------------------------------------------------------- malformed profiles


@pytest.mark.parametrize(
    "content, position",
    [
        (b"n_points: [3\nwidth: 4\n", "line 2, column 6"),  # an unclosed list
        (b"n_points: 3\n\twidth: 4\n", "line 2, column 1"),  # a tab
        (b"n_points: 3\ndtype: \xff\xfe\n", "line 2, column 8"),  # not UTF-8
        (b"n_points: !!python/object/apply:os.system ['echo hi']\n", "line 1, column 11"),  # an unsafe tag
    ],
    ids=["syntax", "tab", "not-utf8", "python-tag"],
)
def test_a_malformed_profile_file_gives_exit_2_and_one_line_with_the_file_and_position(book, monkeypatch, capsys, content, position):
    _no_kernel(monkeypatch)
    (book / "profiles" / "ci" / "toy.yaml").write_bytes(content)
    assert cli.main(["run", "toy"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "profiles/ci/toy.yaml" in line and position in line, line


def test_a_profile_file_that_is_not_a_mapping_is_refused(book, monkeypatch, capsys):
    _no_kernel(monkeypatch)
    (book / "profiles" / "ci" / "toy.yaml").write_text("- 1\n- 2\n")
    assert cli.main(["run", "toy"]) == 2
    assert "must hold a mapping" in _one_error_line(capsys.readouterr().err)


# ----------------------------------------------------------------------------- bad output paths


def test_an_output_that_is_a_directory_is_refused_before_running(book, monkeypatch, capsys):
    _no_kernel(monkeypatch)
    (book / "somedir").mkdir()
    assert cli.main(["run", "toy", "--output", str(book / "somedir")]) == 2
    assert "is a directory" in _one_error_line(capsys.readouterr().err)
    assert list((book / "somedir").iterdir()) == []


def test_an_output_under_a_regular_file_is_refused_before_running(book, monkeypatch, capsys):
    _no_kernel(monkeypatch)
    (book / "plain.txt").write_text("x")
    assert cli.main(["run", "toy", "--output", str(book / "plain.txt" / "out.ipynb")]) == 2
    assert "is a file, not a directory" in _one_error_line(capsys.readouterr().err)
    assert (book / "plain.txt").read_text() == "x"


def test_an_output_where_no_file_can_be_created_is_refused_before_running(book, monkeypatch, capsys):
    _no_kernel(monkeypatch)
    locked = book / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        target = locked / "out.ipynb"
        if os.access(locked, os.W_OK):  # root may write anywhere on a normal file system
            target = Path("/proc/ntkbook-out.ipynb")  # a directory where no file can be created
        assert cli.main(["run", "toy", "--output", str(target)]) == 2
        assert "Cannot write" in _one_error_line(capsys.readouterr().err)
        assert not target.exists()
    finally:
        locked.chmod(0o700)


# ----------------------------------------------------------------------------- interrupted runs


def _start(root: Path, tmpdir: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """``ntkbook run toy`` as a subprocess of its own, in the book at ``root``, sleeping."""
    marker = root / "started"
    marker.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NTKBOOK_")}
    env.update(NTKBOOK_ROOT=str(root), NTKBOOK_RESULTS_DIR=str(root / "results"), TMPDIR=str(tmpdir),
               TOY_STARTED=str(marker))
    cmd = [str(Path(sys.executable).with_name("ntkbook")), "run", "toy", "-p", "seconds", "60", *args]
    # a job started in the background by a non-interactive shell (as CI may start the suite)
    # inherits SIGINT ignored, and Python keeps it ignored: give the run the default a user has
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the notebook never started"
        time.sleep(0.2)
    time.sleep(2.0)  # the cell has written the marker; let it reach its sleep even on a loaded machine
    return proc, marker


def _leftovers(root: Path, tmpdir: Path) -> list[str]:
    chapters = root / "book" / "executed" / "ci"
    return sorted(p.name for p in chapters.glob(".*partial*")) + sorted(p.name for p in tmpdir.iterdir())


@pytest.mark.slow
def test_ctrl_c_stops_the_run_with_exit_130_one_line_and_nothing_left_behind(tmp_path):
    root, tmpdir = _make_book(tmp_path / "root"), tmp_path / "tmp"
    tmpdir.mkdir()
    previous = root / "book" / "executed" / "ci" / "toy.ipynb"
    previous.write_text("the previous output")
    proc, _ = _start(root, tmpdir)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err
    assert time.monotonic() - start < 55  # the 60-second cell was interrupted, not waited for
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("ntkbook: interrupted"), err
    assert previous.read_text() == "the previous output"
    assert _leftovers(root, tmpdir) == []


@pytest.mark.slow
def test_a_killed_run_leaves_no_partial_beside_the_output_and_the_next_run_clears_its_leftovers(tmp_path):
    root, tmpdir = _make_book(tmp_path / "root"), tmp_path / "tmp"
    tmpdir.mkdir()
    proc, _ = _start(root, tmpdir)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    chapters = root / "book" / "executed" / "ci"
    assert not list(chapters.glob(".*partial*"))  # the run never writes half a notebook beside the book
    assert [p.name for p in tmpdir.iterdir() if p.name.startswith("ntkbook-run-toy-")]  # its private folder
    # what killed writers of this and of earlier versions of the pipeline leave beside the output
    (chapters / ".toy.ipynb.k1ll3d.partial").write_text("{")
    (chapters / ".toy.q9z.partial.ipynb").write_text("{")
    (chapters / ".other.ipynb.k1ll3d.partial").write_text("{")  # another notebook's: kept

    env = {k: v for k, v in os.environ.items() if not k.startswith("NTKBOOK_")}
    env.update(NTKBOOK_ROOT=str(root), NTKBOOK_RESULTS_DIR=str(root / "results"), TMPDIR=str(tmpdir))
    done = subprocess.run([str(Path(sys.executable).with_name("ntkbook")), "run", "toy"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _leftovers(root, tmpdir) == [".other.ipynb.k1ll3d.partial"]


# ----------------------------------------------------------------------------- parameter constraints


def _book_notebooks() -> list[Path]:
    return sorted((BOOK / "notebooks").glob("*.py")) + sorted((BOOK / "notebooks" / "runs").glob("*.py"))


@pytest.mark.parametrize("source", _book_notebooks(), ids=lambda p: p.stem)
def test_every_parameter_of_every_notebook_declares_what_it_accepts_and_every_profile_satisfies_it(source):
    declared = read_parameters(read_notebook(source), source.stem)
    undeclared = [name for name, p in declared.items() if p.constraint is None]
    assert not undeclared, f"{source.name}: no constraint in the comment of {undeclared}"
    for profile in paths.PROFILES:
        path = BOOK / "profiles" / profile / f"{source.stem}.yaml"
        if path.is_file():
            import yaml

            values = yaml.safe_load(path.read_text()) or {}
            defaults = {k: p.default for k, p in declared.items()}
            constraints = {k: p.constraint for k, p in declared.items()}
            notebooks.validate_parameters(defaults, values, source.stem, constraints=constraints, origin=str(path))


@pytest.mark.parametrize(
    "name, value, allowed",
    [
        ("width", "-4", "an int in the range [1, inf). Got -4 instead"),
        ("n_seeds", "0", "an int in the range [1, inf). Got 0 instead"),
        ("dtype", "float16", "a str among ['float32', 'float64']. Got 'float16' instead"),
    ],
)
def test_an_out_of_range_value_is_refused_with_exit_2_before_the_kernel_starts(monkeypatch, capsys, name, value, allowed):
    _no_kernel(monkeypatch)
    assert cli.main(["run", "01_empirical_ntk", "-p", name, value]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"The '{name}' parameter of notebook '01_empirical_ntk' must be {allowed}" in line, line


def test_an_out_of_range_profile_value_is_refused_naming_the_profile_file(book, monkeypatch, capsys):
    _no_kernel(monkeypatch)
    (book / "profiles" / "ci" / "toy.yaml").write_text("n_points: 0\n")
    assert cli.main(["run", "toy"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "The 'n_points' parameter of notebook 'toy' must be an int in the range [1, inf). Got 0 instead" in line
    assert "profiles/ci/toy.yaml" in line


def test_a_default_that_contradicts_its_own_constraint_is_refused(book):
    source = book / "notebooks" / "toy.py"
    source.write_text(CHAPTER.replace('dtype = "float64"', 'dtype = "float16"'))
    with pytest.raises(ParameterError, match="'dtype' parameter of notebook 'toy' must be a str among"):
        read_parameters(read_notebook(source), "toy")


def test_a_mistyped_constraint_is_an_error_not_a_description(book):
    source = book / "notebooks" / "toy.py"
    source.write_text(CHAPTER.replace("int in [1, inf): the number", "int in [1, inf: the number"))
    with pytest.raises(ParameterError, match=r"'n_points'.*starts like a constraint but is not one"):
        read_parameters(read_notebook(source), "toy")


# ----------------------------------------------------------------------------- sweeps


@pytest.mark.slow
def test_an_unreachable_dask_scheduler_gives_one_line_and_exit_2_quickly(book, capsys):
    start = time.monotonic()
    status = cli.main(["sweep", "toy", "-p", "n_points", "1,2", "--scheduler", "tcp://127.0.0.1:9",
                       "--output-dir", str(book / "sweep")])
    assert status == 2
    assert "Cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in _one_error_line(capsys.readouterr().err)
    assert time.monotonic() - start < 25


# ----------------------------------------------------------------------------- the book root

_PATH_NAMES = ("ROOT", "NOTEBOOK_DIR", "PROFILE_DIR", "EXECUTED_DIR", "MEASURED_DIR", "TOC_PATH",
               "CONFIG_PATH", "BUILD_DIR", "RESULTS_DIR", "PACKAGE_DIR")


@pytest.fixture
def outside(tmp_path, monkeypatch):
    """A working directory in no book, with the package as if installed from a wheel (not
    in a checkout) and no root or results folder named; every path is restored afterwards."""
    for name in _PATH_NAMES:
        monkeypatch.setattr(paths, name, getattr(paths, name))
    for var in (paths.ROOT_ENV, paths.RESULTS_ENV):
        monkeypatch.setenv(var, "placeholder")  # so that teardown restores what use_root exports
        monkeypatch.delenv(var)
    site = tmp_path / "venv" / "lib" / "site-packages" / "ntkbook"
    site.mkdir(parents=True)
    monkeypatch.setattr(paths, "PACKAGE_DIR", site)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_the_book_root_is_found_at_or_above_the_working_directory(outside):
    root = _make_book(outside / "my_book")
    (root / "notebooks" / "deep" / "er").mkdir(parents=True)
    assert paths.find_root(root) == root.resolve()
    assert paths.find_root(root / "notebooks" / "deep" / "er") == root.resolve()


def test_ntkbook_root_wins_over_the_working_directory(outside, monkeypatch):
    here, there = _make_book(outside / "here"), _make_book(outside / "there")
    monkeypatch.setenv(paths.ROOT_ENV, str(there))
    assert paths.find_root(here) == there.resolve()


def test_an_ntkbook_root_that_holds_no_book_is_refused_naming_the_variable(outside, monkeypatch):
    monkeypatch.setenv(paths.ROOT_ENV, str(outside))
    with pytest.raises(paths.BookRootError, match="NTKBOOK_ROOT names .* which holds no _toc.yml and notebooks/"):
        paths.find_root()


def test_the_checkout_the_package_was_imported_from_is_the_root_outside_any_book(outside, monkeypatch):
    checkout = _make_book(outside.parent / "checkout")
    (checkout / "ntkbook").mkdir()
    monkeypatch.setattr(paths, "PACKAGE_DIR", checkout / "ntkbook")
    assert paths.find_root() == checkout


def test_outside_any_book_and_checkout_there_is_no_root(outside):
    assert paths.find_root() is None


def test_without_a_book_ntkbook_run_fails_in_one_line_naming_root_and_the_variable(outside, capsys):
    paths.use_root(None)
    assert cli.main(["run", "01_empirical_ntk"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "No book root" in line and "--root PATH" in line and "NTKBOOK_ROOT" in line


def test_without_a_book_every_book_path_raises_the_book_root_error_when_used(outside):
    paths.use_root(None)
    for name in _PATH_NAMES[:-2]:  # the results folder and the package have homes without a book
        with pytest.raises(paths.BookRootError, match="No book root"):
            os.fspath(getattr(paths, name))
    with pytest.raises(paths.BookRootError):
        (paths.NOTEBOOK_DIR / "runs").glob("*.py")


def test_without_a_book_results_go_to_the_user_cache_never_under_the_package(outside):
    import platformdirs

    paths.use_root(None)
    assert paths.RESULTS_DIR == platformdirs.user_cache_path("ntkbook") / "results"
    assert not paths.RESULTS_DIR.is_relative_to(paths.PACKAGE_DIR.parent)
    assert not paths.claims_dir("ci").is_relative_to(paths.PACKAGE_DIR.parent)


def test_ntkbook_results_dir_names_the_results_folder_even_inside_a_book(outside, monkeypatch):
    root = _make_book(outside / "my_book")
    monkeypatch.setenv(paths.RESULTS_ENV, str(outside / "elsewhere"))
    paths.use_root(root)
    assert paths.RESULTS_DIR == outside / "elsewhere"
    assert paths.sweeps_dir() == outside / "elsewhere" / "sweeps"


def test_use_root_points_every_path_at_the_book_and_exports_it(outside):
    root = _make_book(outside / "my_book").resolve()
    assert paths.use_root(root) == root
    assert (paths.ROOT, paths.NOTEBOOK_DIR, paths.PROFILE_DIR, paths.TOC_PATH, paths.CONFIG_PATH) == (
        root, root / "notebooks", root / "profiles", root / "_toc.yml", root / "_config.yml")
    assert (paths.EXECUTED_DIR, paths.MEASURED_DIR, paths.BUILD_DIR, paths.RESULTS_DIR) == (
        root / "book" / "executed", root / "book" / "measured", root / "_build", root / "results")
    assert os.environ[paths.ROOT_ENV] == str(root)
    assert notebooks.resolve_notebook("toy") == root / "notebooks" / "toy.py"


def test_use_root_refuses_a_folder_that_holds_no_book_naming_the_option(outside):
    with pytest.raises(paths.BookRootError, match=r"given by --root .* must be a folder that holds _toc.yml"):
        paths.use_root(outside)


def test_display_path_without_a_book_gives_the_path_as_given(outside):
    paths.use_root(None)
    assert paths.display_path(outside / "x.ipynb") == str(outside / "x.ipynb")
