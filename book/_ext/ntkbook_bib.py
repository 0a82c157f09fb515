"""The bibliography in the same author-year form as the citations.

sphinxcontrib-bibtex cites by author and year (``bibtex_reference_style``) but labels the
list with pybtex's default ``alpha`` style ("[ADH+19]"), and two papers by the same authors
in the same year are both cited as "Arora et al., 2019". This extension registers:

* the pybtex label style ``ntkbook_author_year``: "Holm, 1979", "Nadeau and Bengio, 2003",
  "Arora et al., 2019a", with a letter after the year for every group of entries that
  would otherwise get the same label, in the order of the sorted list;
* the pybtex formatting style ``ntkbook`` (``bibtex_default_style``): pybtex's ``plain``
  entries (which already print ``doi``, ``eprint`` and ``url`` fields as links), sorted
  by author, year and title, under those labels;
* the reference style ``ntkbook_author_year`` (``bibtex_reference_style``): the
  author-year citations of sphinxcontrib-bibtex, whose year is read from the entry's label,
  so a citation and its list entry always carry the same letter, in parentheses:
  "(Arora et al., 2019b)", "Nadeau and Bengio (2003)".

The letters come from the entries of the one bibliography the book lists
(``book/bibliography.md``), so they are the same on every page.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from pybtex.plugin import register_plugin as register_pybtex
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.template import join
from sphinxcontrib.bibtex.plugin import register_plugin as register_bibtex
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle
from sphinxcontrib.bibtex.style.referencing.basic_author_year import (
    BasicAuthorYearParentheticalReferenceStyle,
    BasicAuthorYearTextualReferenceStyle,
)
from sphinxcontrib.bibtex.style.template import join2, node, post_text, pre_text, reference

NAME = "ntkbook_author_year"


def _authors(entry) -> str:
    """The author part of a label: one last name, two joined by "and", or the first "et al."."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    last = [" ".join(p.last_names) for p in persons]
    if not last:
        return entry.fields.get("title", entry.key)
    if len(last) == 1:
        return last[0]
    if len(last) == 2:
        return f"{last[0]} and {last[1]}"
    return f"{last[0]} et al."


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "AUTHORS, YEAR", with a, b, ... after the year where two entries would share one."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        plain = [f"{_authors(e)}, {e.fields.get('year', 'n.d.')}" for e in entries]
        seen: dict[str, int] = {}
        for label in plain:
            seen[label] = seen.get(label, 0) + 1
        used: dict[str, int] = {}
        for label in plain:
            if seen[label] == 1:
                yield label
            else:
                used[label] = used.get(label, 0) + 1
                yield label + string.ascii_lowercase[used[label] - 1]


class Style(PlainStyle):
    """pybtex's ``plain`` entries under author-year labels, sorted by author, year and title."""

    default_label_style = AuthorYearLabelStyle
    default_sorting_style = "author_year_title"


@node
def labelled_year(children, data):
    """The year of a citation as its list label writes it (with its letter: "2019a")."""
    assert not children
    label = data["formatted_entry"].label
    return Text(label.rsplit(", ", 1)[-1])


@dataclass
class _Parenthetical(BasicAuthorYearParentheticalReferenceStyle):
    def inner(self, role_name):
        return join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[
            pre_text,
            reference[join(sep=self.author_year_sep)[self.person.author_or_editor_or_title(full="s" in role_name),
                                                     labelled_year]],
            post_text,
        ]


@dataclass
class _Textual(BasicAuthorYearTextualReferenceStyle):
    def inner(self, role_name):
        return join(sep=self.text_reference_sep)[
            self.person.author_or_editor_or_title(full="s" in role_name),
            join[
                self.bracket.left,
                join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[pre_text, reference[labelled_year], post_text],
                self.bracket.right,
            ],
        ]


def _parentheses():
    return BracketStyle(left="(", right=")", sep="; ")


@dataclass
class ReferenceStyle(AuthorYearReferenceStyle):
    """sphinxcontrib-bibtex's author-year citations in parentheses, "(Holm, 1979)", their year
    (and letter) taken from the label."""

    bracket_parenthetical: BracketStyle = field(default_factory=_parentheses)
    bracket_textual: BracketStyle = field(default_factory=_parentheses)

    def __post_init__(self):
        super().__post_init__()
        self.styles[0] = _Parenthetical(bracket=self.bracket_parenthetical, person=self.person,
                                        author_year_sep=self.author_year_sep, pre_text_sep=self.pre_text_sep,
                                        post_text_sep=self.post_text_sep)
        self.styles[1] = _Textual(bracket=self.bracket_textual, person=self.person,
                                  text_reference_sep=self.text_reference_sep, pre_text_sep=self.pre_text_sep,
                                  post_text_sep=self.post_text_sep)
        self.role_style.update((role, style) for style in self.styles[:2] for role in style.role_names())


def setup(app):
    register_pybtex("pybtex.style.labels", NAME, AuthorYearLabelStyle)
    register_pybtex("pybtex.style.formatting", "ntkbook", Style)
    register_bibtex("sphinxcontrib.bibtex.style.referencing", NAME, ReferenceStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
