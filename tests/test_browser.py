"""Both built books, opened page by page in headless Chromium, offline.

The published book (``_build/html``, built by ``make book`` from the committed full-profile
snapshot) and the ci book (``_build/ci/html``, built by ``make test`` after executing every
chapter with the ci profile) are each served on 127.0.0.1, and every page listed in
``_toc.yml`` is opened. Every request that does not go to that server is aborted and
counted as a failure, so the test also proves the book (its math renderer included) needs
no network. A page fails on a JavaScript console error, a failed request, an image that did
not load, math that did not render, or a cell output holding a Python traceback. Besides:
every page names the profile it was built from; every figure is sharp (or SVG); on a phone
the sidebar and the page outline open and close; each chapter offers its jupytext source.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "_build" / "screenshots"
PHONE = {"width": 390, "height": 844}
SHARPNESS = 1.5  # a figure's natural size over its displayed size, at least (or SVG)
GOTO_TIMEOUT_MS = 120_000  # a page's load on a 2-core machine busy with other work can exceed playwright's 30 s


@dataclass(frozen=True)
class Book:
    name: str
    html: Path
    source: Path  # the staged sources it was built from
    profile: str
    made_by: str


BOOKS = {
    "snapshot": Book("snapshot", ROOT / "_build" / "html", ROOT / "_build" / "full" / "src", "full", "make book"),
    "ci": Book("ci", ROOT / "_build" / "ci" / "html", ROOT / "_build" / "ci" / "src", "ci",
               "make test (ntkbook book --profile ci)"),
}

pytestmark = pytest.mark.browser


def _missing(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser test must run in CI)")
    pytest.skip(f"BROWSER TEST SKIPPED: {reason}")


def _toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                pages.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc.get("parts", toc.get("chapters", [])))
    return pages


def _chapters() -> list[str]:
    return [p for p in _toc_pages() if p.startswith("book/chapters/")]


@pytest.fixture(scope="module", params=list(BOOKS))
def book(request) -> Book:
    return BOOKS[request.param]


@pytest.fixture(scope="module")
def server(book):
    if not (book.html / "index.html").is_file():
        _missing(f"the {book.name} book is not built at {book.html.relative_to(ROOT)} (run `{book.made_by}` first)")
    handler = functools.partial(_QuietHandler, directory=str(book.html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _missing("no Chromium on PATH (install Debian's package: apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright for Python is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


def _offline(page, base: str, problems: list[str]) -> None:
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    def route(request_route):
        if request_route.request.url.startswith(base):
            request_route.continue_()
        else:
            problems.append(f"request to the network: {request_route.request.url}")
            request_route.abort()

    page.route("**/*", route)


def _open(page, url: str) -> None:
    page.goto(url, wait_until="networkidle", timeout=GOTO_TIMEOUT_MS)
    # Let MathJax finish typesetting when the page has math.
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")


@dataclass
class PageReport:
    problems: list[str] = field(default_factory=list)
    banner: dict | None = None  # the provenance banner: its classes and text
    figures: list[dict] = field(default_factory=list)  # every displayed image of the article
    downloads: list[str] = field(default_factory=list)  # the download menu's links


def _inspect(page) -> PageReport:
    report = PageReport()
    broken_images = page.evaluate(
        "() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    report.problems += [f"image did not load: {src}" for src in broken_images]
    math = page.evaluate(
        "() => ({n: document.querySelectorAll('.math, div.math, span.math').length,"
        " rendered: document.querySelectorAll('mjx-container').length,"
        " errors: document.querySelectorAll('mjx-merror, .MathJax_Error').length})"
    )
    if math["n"] and (math["rendered"] == 0 or math["errors"]):
        report.problems.append(f"math did not render: {math}")
    tracebacks = page.evaluate(
        "() => Array.from(document.querySelectorAll('.cell_output, .output'))"
        ".filter(e => /Traceback \\(most recent call last\\)|Error\\s*Traceback/.test(e.innerText)).length"
    )
    if tracebacks:
        report.problems.append(f"{tracebacks} cell output(s) hold a Python traceback")
    report.banner = page.evaluate(
        "() => { const b = document.querySelector('article .ntkbook-provenance');"
        " return b && {classes: Array.from(b.classList), text: b.innerText,"
        " top: b.getBoundingClientRect().top + window.scrollY}; }"
    )
    report.figures = page.evaluate(
        "() => Array.from(document.querySelectorAll('article img')).filter(i => i.clientWidth > 0).map(i => ({"
        " src: i.currentSrc || i.src, natural: [i.naturalWidth, i.naturalHeight], shown: [i.clientWidth, i.clientHeight],"
        " svg: /\\.svg(\\?|$)|^data:image\\/svg/.test(i.currentSrc || i.src),"
        " figure: (i.closest('figure') && i.closest('figure').id) || '' }))"
    )
    report.downloads = page.evaluate(
        "() => Array.from(document.querySelectorAll('.dropdown-download-buttons a')).map(a => a.getAttribute('href'))"
    )
    return report


@pytest.fixture(scope="module")
def pages(server, browser, book) -> dict[str, PageReport]:
    """Every page of the table of contents, opened once at desktop width."""
    reports = {}
    first_chapter = _chapters()[0]
    for doc in _toc_pages():
        page = browser.new_page()
        problems: list[str] = []
        _offline(page, server, problems)
        _open(page, f"{server}/{doc}.html")
        report = _inspect(page)
        report.problems[:0] = problems
        if doc == first_chapter:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{book.name}-{Path(doc).name}.png"), full_page=True)
        page.close()
        reports[doc] = report
    return reports


def test_every_toc_page_loads_offline_without_errors(pages):
    assert len(pages) >= 4
    failures = {doc: r.problems for doc, r in pages.items() if r.problems}
    assert not failures, failures


def test_every_page_names_at_its_top_the_profile_it_was_built_from(pages, book):
    unnamed = {}
    for doc, report in pages.items():
        banner = report.banner
        if banner is None:
            unnamed[doc] = "no provenance banner"
        elif f"ntkbook-profile-{book.profile}" not in banner["classes"] or f"{book.profile} profile" not in banner["text"]:
            unnamed[doc] = f"the banner does not name the {book.profile} profile: {banner['text'][:120]!r}"
        elif banner["top"] > 600:
            unnamed[doc] = f"the banner is {banner['top']:.0f} px down the page, not at its top"
    assert not unnamed, unnamed


def test_every_chapter_banner_says_whether_its_run_is_current_stale_or_missing(pages):
    states = {"ntkbook-current", "ntkbook-stale", "ntkbook-missing"}
    unclear = {doc: pages[doc].banner for doc in _chapters()
               if not (pages[doc].banner and states & set(pages[doc].banner["classes"]))}
    assert not unclear, unclear


def test_every_figure_is_at_least_one_and_a_half_times_sharper_than_shown_or_svg(pages, book):
    blurry = []
    for doc, report in pages.items():
        for fig in report.figures:
            ratio = min(n / s for n, s in zip(fig["natural"], fig["shown"]) if s)
            if not fig["svg"] and ratio < SHARPNESS:
                name = fig["figure"] or Path(fig["src"]).name[:16]
                blurry.append(f"{Path(doc).name}: {name} ({fig['natural'][0]} px shown at {fig['shown'][0]} px, {ratio:.2f}x)")
    assert not blurry, (f"{len(blurry)} figure(s) of the {book.name} book are below {SHARPNESS}x their displayed "
                        f"size (ntkbook.plots.core.glue_figure saves them at DPI): " + "; ".join(blurry))


def test_each_chapter_offers_its_executed_notebook_and_its_jupytext_source(pages, server, book):
    for doc in _chapters():
        stem = Path(doc).name
        links = pages[doc].downloads
        assert any(h.endswith(f"{stem}.ipynb") for h in links), (doc, links)
        py = next((h for h in links if h.endswith(f"notebooks/{stem}.py")), None)
        assert py is not None, (doc, links)
        with urllib.request.urlopen(f"{server}/notebooks/{stem}.py") as response:
            served = response.read()
        assert served == (book.source / "notebooks" / f"{stem}.py").read_bytes(), f"{stem}.py is not its source"
        assert served.startswith(b"# ---") and b"# %%" in served, f"{stem}.py is not a jupytext percent source"


def _sidebar_shown(page) -> bool:
    return page.locator(".bd-docs-nav").first.is_visible()


def test_the_menu_button_opens_the_sidebar_on_a_phone_and_the_overlay_closes_it(server, browser):
    page = browser.new_page(viewport=PHONE)
    _open(page, f"{server}/{_chapters()[0]}.html")
    toggle = page.locator(".bd-header-article .primary-toggle")
    assert toggle.is_visible() and not _sidebar_shown(page)
    toggle.click()
    page.wait_for_timeout(300)
    opened = _sidebar_shown(page) and page.evaluate("() => document.getElementById('pst-primary-sidebar-modal').open")
    page.mouse.click(PHONE["width"] - 10, PHONE["height"] // 2)  # the overlay, beside the open sidebar
    page.wait_for_timeout(300)
    closed = not _sidebar_shown(page)
    page.close()
    assert opened, "the menu button did not open the sidebar at 390 px"
    assert closed, "a click on the overlay did not close the sidebar"


def test_the_contents_button_opens_the_page_outline_on_a_phone(server, browser):
    page = browser.new_page(viewport=PHONE)
    _open(page, f"{server}/{_chapters()[0]}.html")
    toggle = page.locator(".bd-header-article .secondary-toggle")
    assert toggle.is_visible()
    toggle.click()
    page.wait_for_timeout(300)
    opened = page.evaluate("() => document.getElementById('pst-secondary-sidebar-modal').open")
    outline = page.locator("#pst-secondary-sidebar-modal .toc-entry").first.is_visible()
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    closed = not page.evaluate("() => document.getElementById('pst-secondary-sidebar-modal').open")
    page.close()
    assert opened and outline, "the Contents button did not open the page outline at 390 px"
    assert closed, "Escape did not close the page outline"


def test_first_chapter_shows_its_figure_glued_numbers_and_rendered_math(server, browser, pages, book):
    doc = "book/chapters/01_empirical_ntk"
    if "ntkbook-missing" in (pages[doc].banner or {}).get("classes", []):
        pytest.skip(f"chapter 01 has no {book.profile}-profile run in this book yet: its page shows the source")
    page = browser.new_page()
    _open(page, f"{server}/{doc}.html")
    figure_images = page.evaluate("() => Array.from(document.querySelectorAll('figure img')).filter(i => i.naturalWidth > 0).length")
    text = page.inner_text("main")
    rendered_math = page.evaluate("() => document.querySelectorAll('mjx-container').length")
    page.close()
    assert figure_images >= 1
    assert "The network has" in text and "parameters and we evaluate the kernel on" in text
    assert "{glue" not in text  # every glue role was replaced by its value
    assert "Claim / What we measured" in text
    assert rendered_math > 5
