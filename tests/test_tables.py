"""A table on the page: no 0..n index, rounded numbers, whole strings, cells that wrap."""

import math

import pandas as pd
import pytest

from ntkbook.plots.tables import format_number, show_table


def _html(frame, **kw):
    return show_table(frame, **kw).to_html()


def test_a_default_range_index_is_not_shown():
    html = _html(pd.DataFrame({"mse": [0.5, 0.25]}))
    assert "row_heading" not in html and ">0<" not in html


def test_a_named_index_becomes_the_first_column():
    frame = pd.DataFrame({"width": [64, 64, 256], "gap": [0.2, 0.4, 0.1]}).groupby("width").mean()
    html = _html(frame)
    assert "row_heading" not in html and html.index(">width<") < html.index(">gap<") and ">256<" in html


def test_numbers_are_rounded_to_the_significant_digits_asked_for():
    html = _html(pd.DataFrame({"x": [math.pi, 0.000123456]}), digits=2)
    assert ">3.1<" in html and ">0.00012<" in html and "3.14159" not in html


@pytest.mark.parametrize("value,shown", [(10.0, "10"), (1234.5, "1234"), (0.0905, "0.0905"), (2e-7, "2.00e-07"),
                                         (5e7, "5.00e+07"), (float("nan"), "–"), (None, "–"), ("relu", "relu")])
def test_format_number_reads_as_a_person_would_write_it(value, shown):
    assert format_number(value) == shown


def test_a_long_string_is_shown_whole_and_escaped():
    text = "the ECRN against a plain residual network of the same width and depth, G <= G_0"
    html = _html(pd.DataFrame({"note": [text]}))
    assert text.replace("<", "&lt;") in html


def test_cells_wrap_inside_the_page_rather_than_scroll():
    html = _html(pd.DataFrame({"a": [1.0]}))
    assert "white-space: normal" in html and "max-width: 100%" in html


def test_a_two_level_header_is_flattened_into_one_row():
    frame = pd.DataFrame([[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([("mse", "ECRN"), ("mse", "MLP")]))
    assert ">mse ECRN<" in _html(frame)


def test_the_caption_is_shown_above_the_table():
    assert "One row per depth</caption>" in _html(pd.DataFrame({"a": [1]}), caption="One row per depth")


def test_the_frame_itself_is_not_changed():
    frame = pd.DataFrame({"a": [0.123456]}, index=pd.Index([3], name="depth"))
    show_table(frame)
    assert frame.index.name == "depth" and frame["a"].iloc[0] == 0.123456


@pytest.mark.parametrize("kwargs,message", [({"frame": [1, 2]}, "'frame' parameter of show_table"),
                                            ({"digits": 0}, "'digits' parameter of show_table")])
def test_show_table_names_the_argument_it_refuses(kwargs, message):
    args = {"frame": pd.DataFrame({"a": [1]}), **kwargs}
    with pytest.raises(ValueError, match=message):
        show_table(args.pop("frame"), **args)
