"""A notebook's parameters: their declaration, what each accepts, and the check of every value.

A notebook declares its parameters in its one cell tagged ``parameters``: one
``name = literal`` line each, whose default is the paper-scale value (the ``full``
profile). The line's comment says what the parameter accepts, then, after a colon, what
it means, so that a reader sees the allowed values where the parameter is declared::

    width = 512  # int in [1, inf): hidden width n
    lr = 0.1  # float in (0, inf): gradient-descent step
    dtype = "float64"  # one of float32, float64: float64 makes the checks sharp
    device = "cpu"  # device: where the networks live ("cuda" or "cuda:1" work too)
    drop_b = True  # bool: leave out Boston's b column
    scheduler = ""  # str: address of a Dask scheduler ("" runs locally)
    widths = [64, 128, 256]  # list of at least 2 ints in [1, inf): widths of the sweep
    expected_slope = [-0.75, -0.25]  # list of 2 floats in (-inf, inf): the claim's range

The part before the colon is the *constraint*:

=============================  =========================================================
``int in RANGE``               an int (never a bool) in RANGE
``float in RANGE``             a finite int or float in RANGE
``one of A, B, C``             one of these strings
``bool``, ``str``              a bool; any string
``device``                     a torch device string: cpu, cuda, cuda:N or mps
``list of [N | at least N] C`` a non-empty list (of exactly N, or at least N, items),
                               each item satisfying C (``int``/``float`` take a plural s)
=============================  =========================================================

RANGE is written as in mathematics, ``[low, high]`` with ``(`` or ``)`` for an open end
and ``inf``/``-inf`` for no bound. A comment that is only a description declares no
constraint: such a parameter is checked against the type of its default only (the book's
own notebooks declare a constraint for every parameter; a test makes sure).

Every value, from a profile file or from ``-p NAME VALUE``, is checked before a kernel
starts; a bad one raises :class:`ParameterError` with one sentence in the package's
wording, for example "The 'width' parameter of notebook '01_empirical_ntk' must be an int
in the range [1, inf). Got -4 instead."
"""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ntkbook._validation import InvalidParameterError, check_bool, check_float, check_int, check_option, fail
from ntkbook.pipeline import paths


class ParameterError(ValueError):
    """A parameter, an override or a profile file that does not match the notebook's declaration."""


# ----------------------------------------------------------------------------- constraints

_NUMBER = r"[-+]?(?:inf|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
_RANGE = rf"(?P<lb>[\[(])\s*(?P<low>{_NUMBER})\s*,\s*(?P<high>{_NUMBER})\s*(?P<rb>[\])])"
_CONSTRAINT = re.compile(
    r"^(?P<spec>(?P<list>list\s+of\s+(?:(?P<at_least>at\s+least\s+)?(?P<length>\d+)\s+)?)?"
    rf"(?:(?P<num>int|float)s?\s+in\s+{_RANGE}"
    r"|(?P<simple>bool|str|device)s?"
    r"|one\s+of\s+(?P<choices>[^:]+?)))"
    r"\s*(?::\s*(?P<help>.*))?$"
)
_LOOKS_LIKE_ONE = re.compile(r"^(list\s+of|int|float|bool|str|device|one\s+of)\b")
_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def _bound(text: str) -> float:
    return float(text)  # float() reads "inf" and "-inf"


def _fmt(v: float) -> str:
    return "inf" if v == math.inf else "-inf" if v == -math.inf else f"{v:g}"


@dataclass(frozen=True)
class Constraint:
    """What one parameter accepts, read from the comment of its line in the parameters cell."""

    text: str  # as written, e.g. "int in [1, inf)"
    kind: str  # "int", "float", "choice", "bool", "str" or "device"
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    is_list: bool = False
    length: int | None = None  # lists only: the exact length, or the least one with at_least
    at_least: bool = False

    # -- the words of the error message, in the wording of ntkbook._validation

    def _range(self) -> str:
        left = "(" if self.low_open or self.low == -math.inf else "["
        right = ")" if self.high_open or self.high == math.inf else "]"
        return f"{left}{_fmt(self.low)}, {_fmt(self.high)}{right}"

    def _item(self, plural: bool) -> str:
        s = "s" if plural else ""
        if self.kind == "int":
            return f"int{s} in the range {self._range()}"
        if self.kind == "float":
            return f"finite float{s} in the range {self._range()}"
        if self.kind == "choice":
            return f"str{s} among {sorted(self.choices)}"
        if self.kind == "device":
            return f"torch device string{s} (cpu, cuda, cuda:N or mps)"
        return f"{self.kind}{s}"

    def allowed(self) -> str:
        """The allowed values in words: "an int in the range [1, inf)", "a list of ..."."""
        if not self.is_list:
            item = self._item(False)
            return ("an " if item[0] in "aeiou" else "a ") + item
        if self.length is None:
            size = "a non-empty list of"
        elif self.at_least:
            size = f"a list of at least {self.length}"
        else:
            size = f"a list of {self.length}"
        return f"{size} {self._item(True)}"

    # -- the check

    def _check_item(self, value: Any, name: str, owner: str) -> None:
        if self.kind == "int":
            check_int(value, name, owner, low=self.low, high=self.high)
        elif self.kind == "float":
            check_float(value, name, owner, self.low, self.high, low_open=self.low_open, high_open=self.high_open)
        elif self.kind == "choice":
            check_option(value, name, owner, self.choices)
        elif self.kind == "bool":
            check_bool(value, name, owner)
        elif self.kind == "str":
            if not isinstance(value, str):
                fail(name, owner, "a str", value)
        elif not (isinstance(value, str) and _DEVICE.match(value)):  # device
            fail(name, owner, self.allowed(), value)

    def check(self, value: Any, name: str, owner: str) -> None:
        """Return if ``value`` is allowed; else raise ``InvalidParameterError`` naming ``name``."""
        if not self.is_list:
            self._check_item(value, name, owner)
            return
        ok = isinstance(value, list) and len(value) > 0
        if ok and self.length is not None:
            ok = len(value) >= self.length if self.at_least else len(value) == self.length
        if ok:
            try:
                for item in value:
                    self._check_item(item, name, owner)
            except InvalidParameterError:
                ok = False
        if not ok:
            fail(name, owner, self.allowed(), value)


def parse_constraint(comment: str) -> tuple[Constraint | None, str]:
    """Split a parameter line's comment into its constraint (or None) and its description.

    >>> parse_constraint("int in [1, inf): hidden width")[0].allowed()
    'an int in the range [1, inf)'

    A comment that starts like a constraint ("int", "float", "list of", "one of", ...) but
    does not follow the grammar raises ``ValueError``: a mistyped constraint must not
    silently become a description.
    """
    text = comment.lstrip("#").strip()
    match = _CONSTRAINT.match(text)
    if match is None:
        if _LOOKS_LIKE_ONE.match(text):
            raise ValueError(
                f"the comment {comment.strip()!r} starts like a constraint but is not one; write e.g. "
                "'int in [1, inf): ...', 'float in (0, 1]: ...', 'one of a, b: ...', 'bool: ...', "
                "'str: ...', 'device: ...' or 'list of at least 2 ints in [1, inf): ...'"
            )
        return None, text
    g = match.groupdict()
    spec = g["spec"].strip()
    fields: dict[str, Any] = {"text": spec, "is_list": g["list"] is not None}
    if g["length"] is not None:
        fields["length"], fields["at_least"] = int(g["length"]), g["at_least"] is not None
        if fields["length"] < 1:
            raise ValueError(f"the list length in {spec!r} must be at least 1")
    if g["num"]:
        low, high = _bound(g["low"]), _bound(g["high"])
        low_open, high_open = g["lb"] == "(", g["rb"] == ")"
        if low > high or (low == high and (low_open or high_open)):
            raise ValueError(f"the range in {spec!r} is empty")
        if g["num"] == "int":
            for bound in (low, high):
                if math.isfinite(bound) and bound != int(bound):
                    raise ValueError(f"the bounds of the int range in {spec!r} must be whole numbers or inf")
            # an int range is closed: (0, 10) is [1, 9]
            low = low + 1 if low_open and math.isfinite(low) else low
            high = high - 1 if high_open and math.isfinite(high) else high
            low_open = high_open = False
        fields.update(kind=g["num"], low=low, high=high, low_open=low_open, high_open=high_open)
    elif g["simple"]:
        fields["kind"] = g["simple"]
    else:
        choices = tuple(c.strip().strip("'\"") for c in g["choices"].split(","))
        if not all(choices):
            raise ValueError(f"the choices in {spec!r} must be non-empty names separated by commas")
        fields.update(kind="choice", choices=choices)
    return Constraint(**fields), (g["help"] or "").strip()


# ----------------------------------------------------------------------------- the parameters cell


@dataclass(frozen=True)
class Parameter:
    """One line of a parameters cell."""

    name: str
    default: Any
    constraint: Constraint | None  # None: the comment states no constraint (type checked only)
    help: str  # the description after the constraint
    line: int  # line within the parameters cell


def _trailing_comments(source: str) -> dict[int, str]:
    comments: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string
    except (tokenize.TokenError, IndentationError):
        pass  # ast.parse reports the syntax error with its position
    return comments


def read_parameters(notebook, name: str = "notebook") -> dict[str, Parameter]:
    """Parse the cell tagged ``parameters`` into ``{name: Parameter}``.

    Every statement must be ``NAME = <literal>`` (the declared type of a parameter is the
    type of its default), every constraint must parse, and every default must satisfy its
    own constraint.
    """
    cells = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"Notebook {name!r} must have exactly one cell tagged 'parameters'; found {len(cells)}.")
    source = cells[0].source
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ParameterError(f"Notebook {name!r}: the parameters cell is not valid Python (line {err.lineno}: {err.msg}).") from None
    comments = _trailing_comments(source)
    params: dict[str, Parameter] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring-like comment string
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            raise ParameterError(
                f"Notebook {name!r}: the parameters cell may only hold 'name = literal' lines; "
                f"line {stmt.lineno} is not one."
            )
        key = stmt.targets[0].id
        try:
            default = ast.literal_eval(stmt.value)
        except ValueError:
            raise ParameterError(
                f"Notebook {name!r}: the default of parameter {key!r} on line {stmt.lineno} must be a "
                "literal (number, string, bool, None, list, dict)."
            ) from None
        comment = comments.get(stmt.end_lineno) or comments.get(stmt.lineno) or ""
        try:
            constraint, help_text = parse_constraint(comment)
        except ValueError as err:
            raise ParameterError(f"Notebook {name!r}, parameter {key!r} (line {stmt.lineno} of the parameters cell): {err}.") from None
        if constraint is not None:
            try:
                constraint.check(default, key, f"notebook {name!r}")
            except InvalidParameterError as err:
                raise ParameterError(f"{str(err).rstrip('.')}: the default contradicts the constraint declared beside it.") from None
        params[key] = Parameter(key, default, constraint, help_text, stmt.lineno)
    return params


def declared_parameters(notebook, name: str = "notebook") -> dict[str, Any]:
    """The parameters cell as ``{name: default}``."""
    return {key: p.default for key, p in read_parameters(notebook, name).items()}


def declared_constraints(notebook, name: str = "notebook") -> dict[str, Constraint | None]:
    """The parameters cell as ``{name: Constraint or None}``."""
    return {key: p.constraint for key, p in read_parameters(notebook, name).items()}


# ----------------------------------------------------------------------------- checking values


def _type_name(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, list):
        inner = sorted({_type_name(v) for v in value})
        return f"list[{' | '.join(inner)}]" if inner else "list"
    return type(value).__name__


def _conforms(value: Any, default: Any) -> bool:
    """True when ``value`` may replace ``default`` (ints may stand for floats)."""
    if default is None:
        return True  # None declares "any value, or none"
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, list):
        if not isinstance(value, list):
            return False
        kinds = [v for v in default if v is not None]
        return not kinds or all(any(_conforms(v, k) for k in kinds) for v in value)
    return isinstance(value, type(default))


def validate_parameters(
    declared: Mapping[str, Any],
    overrides: Mapping[str, Any],
    notebook: str,
    *,
    constraints: Mapping[str, Constraint | None] | None = None,
    origin: str | None = None,
) -> dict[str, Any]:
    """Check every override against the declaration; return the effective parameters.

    ``declared`` maps names to defaults; ``constraints`` (optional) maps names to their
    declared constraint, and a name without one is checked against its default's type.
    ``origin`` names where the overrides come from (a profile file) for the message.
    """
    owner = f"notebook {notebook!r}"
    where = f" (set in {origin})" if origin else ""
    for key, value in overrides.items():
        if key not in declared:
            raise ParameterError(
                f"Notebook {notebook!r} has no parameter {key!r}{where}. "
                f"Declared parameters: {', '.join(sorted(declared))}."
            )
        constraint = (constraints or {}).get(key)
        if constraint is not None:
            try:
                constraint.check(value, key, owner)
            except InvalidParameterError as err:
                raise ParameterError(f"{str(err).rstrip('.')}{where}.") from None
        elif not _conforms(value, declared[key]):
            raise ParameterError(
                f"The {key!r} parameter of {owner} must be of type {_type_name(declared[key])} "
                f"(its default is {declared[key]!r}). Got {value!r} of type {_type_name(value)} instead{where}."
            )
    return {**declared, **overrides}


def parse_cli_value(text: str) -> Any:
    """Parse a ``-p NAME VALUE`` value the way papermill's ``-y`` does: as YAML.

    A number in exponent notation without a dot, which YAML 1.1 reads as a string
    (``1e-3``), is read as the float it means.
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value.strip()):
        return float(value)
    return value


# ----------------------------------------------------------------------------- profiles


def profile_path(profile: str, stem: str) -> Path:
    """The file holding ``profile``'s overrides for notebook ``stem`` (it may not exist)."""
    if profile not in paths.PROFILES:
        raise ParameterError(f"The profile must be one of {', '.join(paths.PROFILES)}. Got {profile!r} instead.")
    return paths.PROFILE_DIR / profile / f"{stem}.yaml"


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    return line, offset - (raw.rfind(b"\n", 0, offset) + 1) + 1


def profile_overrides(profile: str, stem: str) -> tuple[dict[str, Any], str]:
    """Return the profile's overrides for a notebook and the text they were read from.

    A file that is not UTF-8, not YAML, holds a tag that safe YAML refuses (``!!python/...``)
    or is not a mapping raises :class:`ParameterError` with one line naming the file and,
    where there is one, the line and column of the problem.
    """
    path = profile_path(profile, stem)
    if not path.is_file():
        return {}, ""
    shown = paths.display_path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line, column = _position(raw, err.start)
        raise ParameterError(
            f"The profile file {shown}, line {line}, column {column}: byte {raw[err.start]:#04x} is not "
            "UTF-8; save the file as UTF-8."
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ParameterError(f"The profile file {shown}{at} is not valid YAML: {problem}.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParameterError(
            f"The profile file {shown} must hold a mapping of parameter names to values. "
            f"Got {_type_name(data)} instead."
        )
    return data, text
