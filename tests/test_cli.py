"""The conventions of the ``ntkbook`` command: version, ``python -m``, help, exit codes,
``--root``, ``--quiet``, ``ntkbook params`` and the progress of ``ntkbook book``."""

import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

import ntkbook
from ntkbook.pipeline import cli, paths
from ntkbook.pipeline.notebooks import RunResult

COMMANDS = ("run", "sweep", "book", "status", "params")

SOURCE = textwrap.dedent(
    '''\
    # %% tags=["parameters"]
    profile = "full"  # one of ci, full: which profile produced this run
    width = 512  # int in [1, inf): hidden width n
    lr = 0.1  # float in (0, inf): gradient-descent step
    widths = [64, 128]  # list of at least 2 ints in [1, inf): widths of the sweep
    note = "x"  # a free comment

    # %%
    print(width)
    '''
)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "toy.py").write_text(SOURCE)
    (tmp_path / "profiles" / "ci").mkdir(parents=True)
    (tmp_path / "profiles" / "ci" / "toy.yaml").write_text("width: 16\nwidths: [4, 8, 16]\n")
    monkeypatch.setattr(paths, "NOTEBOOK_DIR", tmp_path / "notebooks")
    monkeypatch.setattr(paths, "PROFILE_DIR", tmp_path / "profiles")
    return tmp_path


def _help(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_version_prints_the_package_version_and_exits_0(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"ntkbook {ntkbook.__version__}"


def test_python_dash_m_ntkbook_is_the_command():
    done = subprocess.run([sys.executable, "-m", "ntkbook", "--version"], capture_output=True, text=True,
                          cwd=Path(ntkbook.__file__).parent.parent, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"ntkbook {ntkbook.__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_each_subcommand_has_a_description_examples_and_exit_codes(command, capsys):
    text = _help([command], capsys)
    body = text.split("\n\n")
    assert len(body[1].strip()) > 40  # the description paragraph after the usage
    assert f"examples:\n  ntkbook {command}" in text
    assert "exit status:\n  0    success\n  1 " in text and "\n  2 " in text and "\n  130 " in text


@pytest.mark.parametrize("argv", [[], *[[c] for c in COMMANDS]])
def test_help_text_has_no_rest_markup(argv, capsys):
    text = _help(argv, capsys)
    assert "``" not in text and ":class:" not in text and ":func:" not in text


def test_the_profile_options_and_book_force_have_help(capsys):
    for command in ("run", "sweep", "book", "status"):
        text = " ".join(_help([command], capsys).split())
        assert "--profile {ci,full} " in text and "ci: the smoke run" in text
    assert "execute every chapter, current or not" in " ".join(_help(["book"], capsys).split())


def test_the_documented_exit_codes_are_in_the_module_docstring():
    doc = " ".join(cli.__doc__.split())
    assert "Exit status: 0 on success, 1 when" in doc and ", 2 for bad" in doc and "130 when interrupted" in doc


def test_a_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run"])  # the notebook is missing
    assert exit_.value.code == 2


def test_an_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(_):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "parameter_table", interrupted)
    assert cli.main(["params", "toy"]) == 130


def test_params_prints_one_aligned_row_per_parameter_and_its_meaning(toy, capsys):
    assert cli.main(["params", "toy"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "type", "default", "ci", "full", "allowed"]
    assert [line.split()[0] for line in lines[1:] if not line.startswith(" ")] == ["profile", "width", "lr",
                                                                                   "widths", "note"]
    assert lines[lines.index("    hidden width n") - 1].split()[:5] == ["width", "int", "512", "16", "512"]


def test_the_parameter_table_gives_type_default_allowed_and_profile_values(toy):
    rows = {r["name"]: r for r in cli.parameter_table("toy")}
    assert rows["width"] == {"name": "width", "type": "int", "default": "512", "allowed": "an int in the range [1, inf)",
                             "ci": "16", "full": "512", "help": "hidden width n"}
    assert rows["lr"]["allowed"] == "a finite float in the range (0, inf)"
    assert (rows["widths"]["type"], rows["widths"]["default"], rows["widths"]["ci"]) == (
        "list of >=2 int", "[64, 128]", "[4, 8, 16]")
    assert rows["widths"]["allowed"] == "a list of at least 2 ints in the range [1, inf)"
    assert (rows["profile"]["ci"], rows["profile"]["full"]) == ("ci", "full")  # the runner sets it


def test_a_parameter_without_a_constraint_is_listed_with_the_type_of_its_default(toy):
    note = {r["name"]: r for r in cli.parameter_table("toy")}["note"]
    assert (note["type"], note["allowed"], note["default"]) == ("str", "any str", "x")


def test_params_of_an_unknown_notebook_exits_2(toy, capsys):
    assert cli.main(["params", "nope"]) == 2
    assert "ntkbook: error: The notebook 'nope' was not found" in capsys.readouterr().err


def test_root_repoints_the_book_before_the_command(toy, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(paths, "use_root", lambda path: seen.append(path), raising=False)
    monkeypatch.setattr(cli, "_cmd_params", lambda args: seen.append("command") or 0)
    assert cli.main(["--root", str(toy), "params", "toy"]) == 0
    assert seen == [Path(str(toy)), "command"]


def test_without_root_the_book_is_not_repointed(toy, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(paths, "use_root", lambda path: seen.append(path), raising=False)
    assert cli.main(["params", "toy"]) == 0
    assert seen == []


@pytest.mark.parametrize("argv", [["--quiet", "run", "toy"], ["run", "toy", "--quiet"], ["-q", "run", "toy"]])
def test_quiet_before_or_after_the_command_turns_the_run_progress_off(argv, monkeypatch, capsys):
    seen = {}

    def run(name, **kw):
        seen.update(kw)
        return RunResult(name, Path("out.ipynb"), {}, executed=False)

    monkeypatch.setattr(cli, "run_notebook", run)
    assert cli.main(argv) == 0 and seen["progress"] is False


# ----------------------------------------------------------------------------- ntkbook book's bar
def _status(state, seconds=None):
    return SimpleNamespace(state=state, stamp=None if seconds is None else {"seconds": seconds})


def test_the_book_estimate_is_the_recorded_seconds_of_the_chapters_to_run(monkeypatch):
    states = {"a": _status("stale", 30.0), "b": _status("current", 500.0), "c": _status("missing"),
              "d": _status("stale", 90.0)}
    monkeypatch.setattr(cli, "chapter_status", lambda stem, profile: states[stem])
    assert cli.estimated_seconds(list(states), "ci", force=False) == {"a": 30.0, "b": 0.0, "c": 60.0, "d": 90.0}
    forced = cli.estimated_seconds(list(states), "ci", force=True)
    assert forced == {"a": 30.0, "b": 500.0, "c": pytest.approx(620 / 3), "d": 90.0}


def test_with_no_recorded_run_a_chapter_counts_as_the_default(monkeypatch):
    monkeypatch.setattr(cli, "chapter_status", lambda stem, profile: _status("missing"))
    assert cli.estimated_seconds(["a", "b"], "ci", force=False) == {"a": cli.UNKNOWN_CHAPTER_S,
                                                                     "b": cli.UNKNOWN_CHAPTER_S}


def _fake_book(monkeypatch, tmp_path):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr(paths, "BUILD_DIR", tmp_path / "_build")
    monkeypatch.setattr(cli, "toc_notebooks", lambda: ["a", "b"])
    monkeypatch.setattr(cli, "chapter_status", lambda stem, profile: _status("stale", 40.0))
    monkeypatch.setattr(cli, "run_notebook",
                        lambda stem, **kw: RunResult(stem, tmp_path / f"{stem}.ipynb", {}, executed=True, seconds=1.0))
    monkeypatch.setattr("ntkbook.pipeline.site.build_book", lambda profile, log: 0)


def test_book_shows_one_bar_over_the_chapters_with_the_recorded_time(monkeypatch, tmp_path, capsys):
    _fake_book(monkeypatch, tmp_path)
    assert cli.main(["book", "--profile", "ci", "--no-build"]) == 0
    err = capsys.readouterr().err
    assert "book (ci)" in err and "80/80 s of recorded run time" in err
    assert "[1/2] a (profile ci)" in err and "[2/2] b (profile ci)" in err


def test_a_quiet_book_shows_the_chapter_lines_but_no_bar(monkeypatch, tmp_path, capsys):
    _fake_book(monkeypatch, tmp_path)
    assert cli.main(["book", "--profile", "ci", "--no-build", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "recorded run time" not in err and "[2/2] b (profile ci)" in err


def test_book_workers_without_a_profile_is_a_usage_error(capsys):
    assert cli.main(["book", "--workers", "2"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_book_workers_must_be_positive(capsys):
    assert cli.main(["book", "--profile", "ci", "--workers", "0", "--no-build"]) == 2
    assert "--workers must be an int in the range [1, inf)" in capsys.readouterr().err
