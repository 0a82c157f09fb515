"""The HTML book: one profile's executed chapters, staged with their banners, built by Sphinx.

``build_book(profile)`` builds the book from the notebooks in ``book/executed/PROFILE/``
without executing anything (that is :func:`ntkbook.pipeline.notebooks.run_notebook`'s
job). The ``full`` profile's folder is the committed snapshot, and its book is the
published one (``_build/html``); the ``ci`` book goes to ``_build/ci/html``.

The build works on a staged copy of the book's sources (``_build/PROFILE/src``): the
configuration, the pages in ``book/``, the jupytext sources (offered for download by the
local extension ``book/_ext``) and one notebook per chapter of ``_toc.yml``:

* a **current** run (its stamp matches the source, parameters, package and inputs of
  today, :func:`ntkbook.pipeline.notebooks.chapter_status`) is shown as it is, under a
  banner that names the profile, commit, machine, date and wall time that produced it;
* a **stale** run is shown as it is under a warning banner that names what changed since;
* a chapter with **no run** in the folder is shown as its unexecuted source: code without
  outputs, every glued number replaced by "(not run)" and every glued figure by a
  placeholder, under a banner saying so. The build never executes and always succeeds.

Every other page gets a one-line banner naming the profile of the book. Files are
rewritten only when their content changes, so Sphinx rebuilds only the pages that did.

**The findings.** Every build also writes ``book/findings.md`` into the staged tree (it is
never committed), which the intro includes: the counts and a table of the paper's claims,
the theory results and the open questions beyond the paper, each with its paper-scale
verdict as a coloured badge and a link to the chapter that tests it and to the report
(:func:`findings_markdown`). The verdicts are derived again from the committed
``full``-profile claim records in ``book/measured/claims/full/`` by
``ntkbook.claims.report.reproduction_table``, whatever the profile of the book, and a
claim without a record reads "not run".

The published address (``html_baseurl``) comes from ``_config.yml``: ``html.baseurl`` when
it is set, else GitHub Pages' address of ``repository.url`` (:func:`pages_url`).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from ntkbook import _io
from ntkbook.pipeline import paths, stamps
from ntkbook.pipeline.notebooks import chapter_status, read_notebook, resolve_notebook, toc_notebooks
from ntkbook.pipeline.stamps import Status

FINDINGS_PAGE = "book/findings.md"  # staged beside the intro, which includes it
FINDINGS_KINDS = ("paper", "theory", "beyond")  # the kinds the intro's table lists (sanity checks: counted only)
REPORT_STEM = "14_reproduction_report"
PLACEHOLDER_FIGURE = "/book/_ext/static/not-run.svg"  # what an unexecuted page shows for a glued figure
NOT_RUN = "*(not run)*"  # what an unexecuted page shows for a glued number
_SKIP_IN_BOOK = {"executed", "chapters", "__pycache__"}  # book/ folders that are not sources of the build


# ----------------------------------------------------------------------------- configuration


def read_config(path: Path | None = None) -> dict:
    return yaml.safe_load(Path(path or paths.CONFIG_PATH).read_text(encoding="utf-8")) or {}


def pages_url(config: dict) -> str:
    """The book's published address: ``html.baseurl`` if set, else the GitHub Pages address
    of ``repository.url`` (``https://github.com/OWNER/NAME`` -> ``https://OWNER.github.io/NAME/``).

    >>> pages_url({"repository": {"url": "https://github.com/ada/ntkbook"}})
    'https://ada.github.io/ntkbook/'
    """
    explicit = ((config.get("html") or {}).get("baseurl") or "").strip()
    if explicit:
        return explicit if explicit.endswith("/") else explicit + "/"
    url = ((config.get("repository") or {}).get("url") or "").strip().rstrip("/")
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?", url)
    if not match:
        return ""
    owner, name = match.groups()
    if name.lower() == f"{owner.lower()}.github.io":
        return f"https://{owner.lower()}.github.io/"
    return f"https://{owner.lower()}.github.io/{name}/"


# ----------------------------------------------------------------------------- banners


def _md(text: str) -> str:
    """``text`` with the characters MyST would read as markup escaped."""
    return re.sub(r"([\\`*_\[\]<>$|{}])", r"\\\1", str(text))


def _when(stamp: dict) -> str:
    finished = stamp.get("finished")
    try:
        return _dt.datetime.fromisoformat(finished.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")
    except (AttributeError, ValueError):
        return "an unknown date"


def _duration(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "an unknown time"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _commit(stamp: dict, repo_url: str) -> str:
    sha = stamp.get("commit")
    if not sha:
        return "an unknown commit"
    link = f"[`{sha[:7]}`]({repo_url.rstrip('/')}/commit/{sha})" if repo_url else f"`{sha[:7]}`"
    return f"commit {link}" + (" with uncommitted changes" if stamp.get("dirty") else "")


def _provenance(stamp: dict, repo_url: str) -> str:
    return (f"Executed with the `{stamp.get('profile')}` profile at {_commit(stamp, repo_url)} on {_when(stamp)}, "
            f"in {_duration(stamp.get('seconds'))}, on {_md(stamps.describe_machine(stamp))}.")


def _admonition(title: str, classes: str, body: str) -> str:
    return f":::{{admonition}} {title}\n:class: ntkbook-provenance {classes}\n\n{body}\n:::\n"


def _profile_words(profile: str) -> tuple[str, str]:
    """A page title's words for a profile, and what its numbers stand for."""
    if profile == paths.SNAPSHOT_PROFILE:
        return f"Paper-scale run (`{profile}` profile)", ""
    return (f"Smoke run (`{profile}` profile)",
            f" The `{profile}` profile runs every chapter at small sizes to check that the code works: its "
            f"numbers say nothing about the paper. The published book shows the `{paths.SNAPSHOT_PROFILE}` profile.")


def chapter_banner(status: Status, repo_url: str) -> str:
    """The MyST banner at the top of a chapter page: which run produced it, or why not."""
    profile = status.profile
    title, caveat = _profile_words(profile)
    if status.state == "current":
        return _admonition(title, f"ntkbook-current ntkbook-profile-{profile}",
                           _provenance(status.stamp or {}, repo_url) + caveat)
    if status.state == "stale":
        reasons = "; ".join(_md(r) for r in status.reasons) or "its stamp does not match"
        rerun = "make book PROFILE=full" if profile == paths.SNAPSHOT_PROFILE else f"make book PROFILE={profile}"
        return _admonition(
            f"Stale: outputs of an older version of this chapter (`{profile}` profile)",
            f"warning ntkbook-stale ntkbook-profile-{profile}",
            f"{_provenance(status.stamp or {}, repo_url)}{caveat}\n\n"
            f"**Changed since that run:** {reasons}. The outputs below were not recomputed and may not "
            f"match what the code gives now; `{rerun}` reruns the stale chapters.")
    return _admonition(
        f"Not run yet with the `{profile}` profile: no outputs",
        f"danger ntkbook-missing ntkbook-profile-{profile}",
        f"`{paths.display_path(status.output.parent)}/` holds no run of this chapter, so this page shows its "
        f"unexecuted source: code without outputs, numbers shown as {NOT_RUN} and figures as placeholders. "
        f"`ntkbook run {status.stem} --profile {profile}` executes it.")


def book_banner(statuses: list[Status], profile: str, built: dict, repo_url: str) -> str:
    """The one-line banner of the pages that are not chapters: the book's profile and state."""
    title, caveat = _profile_words(profile)
    counts = {state: sum(s.state == state for s in statuses) for state in ("current", "stale", "missing")}
    parts = [f"{counts['current']} of {len(statuses)} chapters current"]
    if counts["stale"]:
        parts.append(f"{counts['stale']} stale")
    if counts["missing"]:
        parts.append(f"{counts['missing']} not run yet")
    where = _commit(built, repo_url) if built.get("commit") else "an unknown commit"
    return _admonition(
        f"This book: {title[0].lower()}{title[1:]}", f"ntkbook-book ntkbook-profile-{profile}",
        f"Built from the `{profile}`-profile runs in `{paths.display_path(paths.executed_dir(profile))}/` "
        f"({', '.join(parts)}) at {where}. Each chapter says at its top which run produced it.{caveat}")


_FENCE = re.compile(r"^(`{3,}|~{3,}|:{3,})")


def insert_after_title(text: str, banner: str) -> str | None:
    """``text`` with ``banner`` after its first level-1 heading (outside code fences), or
    None when it has none."""
    lines, fence = text.split("\n"), None
    for i, line in enumerate(lines):
        match = _FENCE.match(line.lstrip())
        if match:
            mark = match.group(1)
            if fence is None:
                fence = mark
            elif mark[0] == fence[0] and len(mark) >= len(fence) and not line.strip()[len(mark):].strip():
                fence = None
            continue
        if fence is None and re.match(r"^# \S", line):
            after = lines[i + 1 :]
            gap = [""] if not after or after[0].strip() else []
            return "\n".join(lines[: i + 1] + ["", banner.rstrip("\n")] + gap + after)
    return None


def _with_banner(nb, banner: str):
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = insert_after_title(cell.source, banner)
            if text is not None:
                cell.source = text
                return nb
    import nbformat

    nb.cells.insert(0, nbformat.v4.new_markdown_cell(banner))
    return nb


# ----------------------------------------------------------------------------- unexecuted pages


_GLUE_ROLE = re.compile(r"\{glue(?::[a-z]*)?\}`[^`]*`")
_GLUE_DIRECTIVE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{glue(?::(?P<kind>[a-z]*))?\}\s*(?P<key>\S*)\s*$")


def without_glue(text: str) -> str:
    """Markdown with every glue reference made safe for a page that was never executed:
    roles become "(not run)", ``glue:figure`` a figure of the placeholder image (its name and
    caption kept, so cross-references still resolve), any other glue directive "(not run)"."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        match = _GLUE_DIRECTIVE.match(lines[i])
        if not match:
            out.append(_GLUE_ROLE.sub(NOT_RUN, lines[i]))
            i += 1
            continue
        fence, indent = match.group("fence"), match.group("indent")
        end = i + 1
        while end < len(lines) and not (lines[end].strip().startswith(fence[0] * len(fence)) and
                                        not lines[end].strip().strip(fence[0])):
            end += 1
        if match.group("kind") == "figure":
            out.append(f"{indent}{fence}{{figure}} {PLACEHOLDER_FIGURE}")
            out.extend(_GLUE_ROLE.sub(NOT_RUN, line) for line in lines[i + 1 : end + 1])
        else:
            out.append(f"{indent}{NOT_RUN}")
        i = end + 1
    return "\n".join(out)


def unexecuted_notebook(source: Path):
    """The jupytext source as a notebook without outputs, with its glue made safe."""
    nb = read_notebook(source)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"  # not random: an unchanged source stages an unchanged page
        if cell.cell_type == "markdown":
            cell.source = without_glue(cell.source)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    return nb


# ----------------------------------------------------------------------------- findings


_FINDINGS_HEADINGS = {"paper": "The paper's claims", "theory": "Theory results the paper rests on",
                      "beyond": "Open questions beyond the paper"}


def chapter_title(stem: str) -> str:
    """The title of chapter ``stem``: the first level-1 heading of its jupytext source, or the
    stem itself when it has none (or no source)."""
    try:
        text = resolve_notebook(stem).read_text(encoding="utf-8")
    except FileNotFoundError:
        return stem
    match = re.search(r"^# # (.+?)\s*$", text, re.M)
    return match.group(1) if match else stem


def chapter_pages() -> dict[str, tuple[str, str]]:
    """Every chapter of ``_toc.yml``: its stem -> (title, address of its page relative to
    another chapter's page), for the reproduction report's links (``"06_eigenvalue_control.html"``)."""
    return {stem: (chapter_title(stem), f"{stem}.html") for stem in toc_notebooks()}


def _chapter_link(stem: str, in_toc: set[str]) -> str:
    """A MyST link to chapter ``stem`` (its title is the link's text), or its stem when the
    book has no such page."""
    return f"{{doc}}`/{paths.TOC_CHAPTER_PREFIX}{stem}`" if stem in in_toc else f"`{stem}`"


def findings_markdown(in_toc: set[str] | None = None) -> str:
    """The intro's "What the book found": the paper-scale verdict of every paper claim,
    theory result and open question, grouped by kind, each linked to its chapter.

    The statuses are derived from the committed ``full``-profile records
    (:func:`ntkbook.pipeline.paths.records_root`) by ``reproduction_table``, never typed;
    the badge is the status after Holm's correction, with the raw status beside it where
    the correction changed it. ``in_toc`` is the set of chapter stems the book has pages
    for (default: those of ``_toc.yml``); a chapter not in it is named without a link. A
    record that cannot be read is reported on the page, not raised: the build never fails
    on a finding.
    """
    from ntkbook.claims.report import KIND_NAMES, ReportError, grouped, kind_summary, reproduction_table
    from ntkbook.plots.report import status_badge

    profile = paths.SNAPSHOT_PROFILE
    in_toc = set(toc_notebooks()) if in_toc is None else set(in_toc)
    where = f"{paths.display_path(paths.claims_dir(profile))}/"
    try:
        table = grouped(reproduction_table(profile, results_dir=paths.records_root(profile)))
    except ReportError as err:
        return ("## What the book found\n\n:::{warning}\n"
                f"The claim records in `{where}` could not be read, so no verdict is shown: {_md(err)}\n:::\n")
    report = (f"the {_chapter_link(REPORT_STEM, in_toc)}" if REPORT_STEM in in_toc
              else "the reproduction report")
    recorded = int((table.status.astype(str) != "not run in this profile").sum())
    lines = [
        "## What the book found", "",
        f"These are the verdicts at paper scale: the `{profile}` profile's records in `{where}`, "
        f"{recorded} of the {len(table)} claims the book checks (the others read *not run*). Each verdict is "
        "derived again from the record's saved rule inputs when the book is built, and a paper claim's verdict "
        f"is the one after Holm's correction for testing many claims at once. {report[0].upper()}{report[1:]} "
        "shows what each chapter measured, with its seeds and p-values.", "",
    ]
    summary = kind_summary(table)
    for kind, counts in summary.items():
        badges = " ".join(status_badge(s, n) for s, n in counts.items() if s != "total")
        lines.append(f"* **{KIND_NAMES[kind][0].upper()}{KIND_NAMES[kind][1:]}** ({counts['total']}): {badges}")
    lines.append("")
    for kind in FINDINGS_KINDS:
        rows = table[table.kind == kind]
        if rows.empty:
            continue
        lines += [f"### {_FINDINGS_HEADINGS[kind]} ({len(rows)})", "",
                  "| Verdict | Claim (and the chapter that tests it) |", "| --- | --- |"]
        for row in rows.itertuples(index=False):
            verdict = status_badge(row.adjusted)
            if str(row.status) != str(row.adjusted):
                verdict += f" (raw: {status_badge(row.status)})"
            lines.append(f"| {verdict} | {_md(row.claim)}<br>{_chapter_link(row.chapter, in_toc)} |")
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- staging


@dataclass
class Staged:
    dirs: paths.BookDirs
    statuses: list[Status]


class _Stage:
    """Writes files into the staged tree only when their content changed; removes the rest."""

    def __init__(self, root: Path):
        self.root, self.kept = root, set()

    def write(self, rel: str, data: bytes) -> None:
        target = self.root / rel
        self.kept.add(target)
        if target.is_file() and not target.is_symlink() and target.read_bytes() == data:
            return
        _io.write_bytes(target, data)

    def prune(self) -> None:
        for path in sorted(self.root.rglob("*"), reverse=True):
            if path.is_symlink() or (path.is_file() and path not in self.kept):
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def _toc_pages(toc: dict) -> list[str]:
    found = [toc.get("root")] if toc.get("root") else []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return found


def stage_book(profile: str, *, log=print) -> Staged:
    """Write the staged source tree of ``profile``'s book; return it with each chapter's status."""
    import nbformat

    dirs = paths.book_dirs(profile)
    stage = _Stage(dirs.source)
    config = read_config()
    repo_url = (config.get("repository") or {}).get("url", "")
    toc = yaml.safe_load(paths.TOC_PATH.read_text(encoding="utf-8"))
    for name in ("_config.yml", "_toc.yml"):
        stage.write(name, (paths.ROOT / name).read_bytes())

    statuses = []
    for stem in toc_notebooks():
        status = chapter_status(stem, profile)
        statuses.append(status)
        if status.state == "missing":
            nb = unexecuted_notebook(resolve_notebook(stem))
        else:
            nb = nbformat.read(status.output, as_version=4)
        _with_banner(nb, chapter_banner(status, repo_url))
        stage.write(f"{paths.TOC_CHAPTER_PREFIX}{stem}.ipynb", nbformat.writes(nb).encode("utf-8"))
        stage.write(f"notebooks/{stem}.py", resolve_notebook(stem).read_bytes())  # the download
        log(f"  {status.line()}")

    banner = book_banner(statuses, profile, stamps.checkout(), repo_url)
    pages = {f"{p}.md" for p in _toc_pages(toc) if not p.startswith(paths.TOC_CHAPTER_PREFIX)}
    book = paths.ROOT / "book"
    for path in sorted(book.rglob("*")):
        rel = path.relative_to(paths.ROOT)
        if not path.is_file() or set(rel.relative_to("book").parts) & _SKIP_IN_BOOK:
            continue
        data = path.read_bytes()
        if str(rel) in pages:
            text = insert_after_title(data.decode("utf-8"), banner)
            data = (text if text is not None else banner + "\n" + data.decode("utf-8")).encode("utf-8")
        stage.write(str(rel), data)
    stage.write(FINDINGS_PAGE, findings_markdown(set(toc_notebooks())).encode("utf-8"))
    stage.prune()
    return Staged(dirs, statuses)


# ----------------------------------------------------------------------------- building


def build_book(profile: str, *, log=print) -> int:
    """Stage ``profile``'s book and build its HTML (Sphinx with ``-n -W --keep-going``).
    Returns the build's exit status (0: built)."""
    log(f"ntkbook: staging the {profile}-profile book in {paths.display_path(paths.book_dirs(profile).source)}")
    staged = stage_book(profile, log=log)
    dirs = staged.dirs
    overrides = {"html_baseurl": pages_url(read_config())}
    cmd = [sys.executable, "-m", "ntkbook.pipeline.site", str(dirs.source), str(dirs.html), str(dirs.doctrees),
           json.dumps(overrides)]
    log(f"ntkbook: building the HTML book with Jupyter Book's Sphinx (-n -W --keep-going) into "
        f"{paths.display_path(dirs.html)}")
    return subprocess.run(cmd, cwd=paths.ROOT).returncode


def _sphinx_main(source: str, html: str, doctrees: str, overrides: str) -> int:
    """Run Jupyter Book's Sphinx build on a staged tree (in its own process: Sphinx and
    docutils keep global state)."""
    from jupyter_book.sphinx import build_sphinx

    src = Path(source)
    if Path(html).exists() and not Path(doctrees).exists():
        shutil.rmtree(html)  # output of another build (an older layout): start clean
    result = build_sphinx(
        src,
        Path(html),
        noconfig=True,
        path_config=str(src / "_config.yml"),
        confoverrides={"external_toc_path": (src / "_toc.yml").as_posix(), "nitpicky": True,
                       "latex_individualpages": False, **json.loads(overrides)},
        doctreedir=Path(doctrees),
        builder="html",
        warningiserror=True,
        keep_going=True,
    )
    return 0 if result == 0 else 1


if __name__ == "__main__":
    sys.exit(_sphinx_main(*sys.argv[1:5]))
