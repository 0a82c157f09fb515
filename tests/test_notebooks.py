"""The papermill pipeline: parameter validation, atomic outputs, incremental reruns, the CLI."""

import json
import textwrap

import pytest

from ntkbook.pipeline import cli, notebooks, paths
from ntkbook.pipeline.notebooks import ParameterError, declared_parameters, read_notebook, validate_parameters

SOURCE = textwrap.dedent(
    '''\
    # ---
    # jupyter:
    #   kernelspec:
    #     display_name: Python 3
    #     language: python
    #     name: python3
    # ---

    # %% tags=["parameters"]
    profile = "full"
    width = 512
    lr = 0.1
    fail = False
    scales = [0.1, 1.0]

    # %%
    if fail:
        raise RuntimeError("asked to fail")
    print("width", width, "lr", lr, "profile", profile)
    '''
)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A tiny notebook, its own profile folder and output folder, isolated from the book."""
    nb_dir, prof_dir, out_dir = tmp_path / "notebooks", tmp_path / "profiles", tmp_path / "out"
    nb_dir.mkdir()
    (prof_dir / "ci").mkdir(parents=True)
    (nb_dir / "toy.py").write_text(SOURCE)
    (prof_dir / "ci" / "toy.yaml").write_text("width: 8\n")
    monkeypatch.setattr(paths, "NOTEBOOK_DIR", nb_dir)
    monkeypatch.setattr(paths, "PROFILE_DIR", prof_dir)
    monkeypatch.setattr(paths, "EXECUTED_DIR", out_dir)
    monkeypatch.setattr(paths, "RESULTS_DIR", tmp_path / "results")
    return tmp_path


def test_parameters_cell_is_parsed_into_names_and_defaults(toy):
    params = declared_parameters(read_notebook(toy / "notebooks" / "toy.py"), "toy")
    assert params == {"profile": "full", "width": 512, "lr": 0.1, "fail": False, "scales": [0.1, 1.0]}


def test_unknown_parameter_is_rejected_with_the_notebook_and_name():
    with pytest.raises(ParameterError, match=r"Notebook 'toy' has no parameter 'depth'"):
        validate_parameters({"width": 512}, {"depth": 3}, "toy")


def test_wrong_type_names_notebook_parameter_and_expected_type():
    with pytest.raises(ParameterError, match=r"The 'width' parameter of notebook 'toy' must be of type int .*Got 'wide' of type str"):
        validate_parameters({"width": 512}, {"width": "wide"}, "toy")


def test_int_may_stand_for_float_but_bool_may_not_stand_for_int():
    assert validate_parameters({"lr": 0.1}, {"lr": 1}, "toy") == {"lr": 1}
    with pytest.raises(ParameterError):
        validate_parameters({"width": 512}, {"width": True}, "toy")


def test_list_elements_are_checked_against_the_default_elements():
    assert validate_parameters({"s": [0.1]}, {"s": [1, 2.5]}, "toy")["s"] == [1, 2.5]
    with pytest.raises(ParameterError, match="list"):
        validate_parameters({"s": [0.1]}, {"s": ["a"]}, "toy")


def test_unknown_profile_is_rejected():
    with pytest.raises(ParameterError, match="profile must be one of"):
        notebooks.profile_overrides("huge", "toy")


def test_cli_exits_2_with_one_clear_message_for_a_bad_parameter(toy, capsys):
    status = cli.main(["run", "toy", "-p", "width", "wide"])
    err = capsys.readouterr().err
    assert status == 2
    assert "ntkbook: error: The 'width' parameter of notebook 'toy' must be of type int" in err
    assert not (toy / "out" / "ci" / "toy.ipynb").exists()  # nothing ran, nothing written


def test_cli_exits_2_for_an_unknown_notebook(toy, capsys):
    assert cli.main(["run", "no_such_chapter"]) == 2
    assert "was not found" in capsys.readouterr().err


@pytest.mark.slow
def test_run_applies_profile_then_cli_overrides_and_records_the_profile(toy):
    result = notebooks.run_notebook("toy", parameters={"lr": 0.5}, profile="ci", progress=False)
    assert result.executed and result.output == (toy / "out" / "ci" / "toy.ipynb").resolve()
    text = result.output.read_text()
    assert "width 8 lr 0.5 profile ci" in text


@pytest.mark.slow
def test_unchanged_notebook_is_not_rerun_but_a_changed_parameter_is(toy):
    first = notebooks.run_notebook("toy", profile="ci", progress=False)
    again = notebooks.run_notebook("toy", profile="ci", progress=False)
    changed = notebooks.run_notebook("toy", profile="ci", parameters={"width": 9}, progress=False)
    assert first.executed and not again.executed and changed.executed


@pytest.mark.slow
def test_a_changed_package_source_reruns_the_notebook(toy, monkeypatch):
    notebooks.run_notebook("toy", profile="ci", progress=False)
    monkeypatch.setattr(notebooks, "package_fingerprint", lambda source: "a different package")
    assert notebooks.run_notebook("toy", profile="ci", progress=False).executed


@pytest.mark.slow
def test_failed_run_keeps_the_previous_output_and_leaves_no_partial_file(toy, capsys):
    good = notebooks.run_notebook("toy", profile="ci", progress=False)
    before = good.output.read_bytes()
    status = cli.main(["run", "toy", "-p", "fail", "true", "--force"])
    err = capsys.readouterr().err
    assert status == 1
    assert "Notebook 'toy' failed in cell" in err and "RuntimeError: asked to fail" in err
    assert good.output.read_bytes() == before
    assert not list((toy / "out").rglob("*.partial*"))


def test_toc_lists_every_notebook_source_and_every_source_is_in_the_toc():
    stems = notebooks.toc_notebooks()
    sources = sorted(p.stem for p in paths.NOTEBOOK_DIR.glob("*.py"))
    assert sorted(stems) == sources


def test_every_chapter_declares_profile_and_its_ci_overrides_validate():
    for stem in notebooks.toc_notebooks():
        nb = read_notebook(notebooks.resolve_notebook(stem))
        declared = declared_parameters(nb, stem)
        assert "profile" in declared, f"{stem} must declare a 'profile' parameter for its captions"
        overrides, _ = notebooks.profile_overrides("ci", stem)
        validate_parameters(declared, overrides, stem)


def test_stamp_records_fingerprint_profile_and_time(toy, monkeypatch):
    out = toy / "out" / "ci" / "toy.ipynb"
    out.parent.mkdir(parents=True)
    out.write_text("{}")
    notebooks._stamp_path(out).write_text(json.dumps({"fingerprint": "abc"}))
    assert notebooks.is_up_to_date(out, "abc")
    assert not notebooks.is_up_to_date(out, "abd")


# ----------------------------------------------------------------------------- the constraint convention


@pytest.mark.parametrize(
    "comment, good, bad, allowed",
    [
        ("int in [1, inf): hidden width", [1, 512], [0, -4, 2.5, True, "8"], "an int in the range [1, inf)"),
        ("int in (0, 10): a count", [1, 9], [0, 10], "an int in the range [1, 9]"),
        ("float in (0, 2): a step factor", [0.5, 1], [0, 2, float("nan"), float("inf"), False], "a finite float in the range (0, 2)"),
        ("one of float32, float64: precision", ["float32"], ["float16", 32], "a str among ['float32', 'float64']"),
        ("bool: a switch", [True, False], [0, "yes"], "a bool"),
        ("str: an address", ["", "tcp://host:8786"], [1, None], "a str"),
        ("device: where it runs", ["cpu", "cuda", "cuda:1", "mps"], ["gpu", "cuda:x", 0], "a torch device string"),
        ("list of at least 2 ints in [1, inf): widths", [[1, 2], [4, 8, 16]], [[1], [], [0, 1], 3], "a list of at least 2 ints"),
        ("list of 2 floats in (-inf, inf): a range", [[-0.75, -0.25]], [[1.0], [1.0, 2.0, 3.0]], "a list of 2 finite floats"),
        ("list of floats in [0, 1): probabilities", [[0.0, 0.5]], [[1.0], []], "a non-empty list of finite floats in the range [0, 1)"),
    ],
)
def test_a_constraint_in_the_comment_accepts_and_refuses_what_it_says(comment, good, bad, allowed):
    from ntkbook.pipeline.parameters import parse_constraint

    constraint, description = parse_constraint(comment)
    assert description == comment.split(": ", 1)[1]
    assert constraint.allowed().startswith(allowed)
    for value in good:
        constraint.check(value, "p", "notebook 'toy'")
    for value in bad:
        with pytest.raises(ValueError, match=r"The 'p' parameter of notebook 'toy' must be "):
            constraint.check(value, "p", "notebook 'toy'")


def test_a_comment_that_is_only_a_description_declares_no_constraint():
    from ntkbook.pipeline.parameters import parse_constraint

    assert parse_constraint("# N: inputs in the Gram matrix") == (None, "N: inputs in the Gram matrix")


def test_cli_values_in_exponent_notation_are_floats():
    assert notebooks.parse_cli_value("1e-3") == 0.001
    assert notebooks.parse_cli_value("-4") == -4 and notebooks.parse_cli_value("float16") == "float16"
