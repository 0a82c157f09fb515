"""The built book, opened page by page in headless Chromium, offline.

Serves ``_build/html`` on 127.0.0.1 and opens every page listed in ``_toc.yml``.
Every request that does not go to that server is aborted and counted as a failure, so
the test also proves the book (its math renderer included) needs no network.
A page fails on a JavaScript console error, a failed request, an image that did not
load, math that did not render, or a cell output holding a Python traceback.
"""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"

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


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").is_file():
        _missing("the book is not built (run `make book` first)")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
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


def _inspect(page, base: str, url: str) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    def offline(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            problems.append(f"request to the network: {route.request.url}")
            route.abort()

    page.route("**/*", offline)
    page.goto(url, wait_until="networkidle")
    # Let MathJax finish typesetting when the page has math.
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    broken_images = page.evaluate(
        "() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
    )
    problems += [f"image did not load: {src}" for src in broken_images]
    math = page.evaluate(
        "() => ({n: document.querySelectorAll('.math, div.math, span.math').length,"
        " rendered: document.querySelectorAll('mjx-container').length,"
        " errors: document.querySelectorAll('mjx-merror, .MathJax_Error').length})"
    )
    if math["n"] and (math["rendered"] == 0 or math["errors"]):
        problems.append(f"math did not render: {math}")
    tracebacks = page.evaluate(
        "() => Array.from(document.querySelectorAll('.cell_output, .output'))"
        ".filter(e => /Traceback \\(most recent call last\\)|Error\\s*Traceback/.test(e.innerText)).length"
    )
    if tracebacks:
        problems.append(f"{tracebacks} cell output(s) hold a Python traceback")
    return problems


def test_every_toc_page_loads_offline_without_errors(server, browser):
    pages = _toc_pages()
    assert len(pages) >= 4
    failures = {}
    first_chapter = next(p for p in pages if p.startswith("book/chapters/"))
    for doc in pages:
        page = browser.new_page()
        problems = _inspect(page, server, f"{server}/{doc}.html")
        if doc == first_chapter:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{Path(doc).name}.png"), full_page=True)
        page.close()
        if problems:
            failures[doc] = problems
    assert not failures, failures


def test_first_chapter_shows_its_figure_glued_numbers_and_rendered_math(server, browser):
    page = browser.new_page()
    page.goto(f"{server}/book/chapters/01_empirical_ntk.html", wait_until="networkidle")
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    figure_images = page.evaluate("() => Array.from(document.querySelectorAll('figure img')).filter(i => i.naturalWidth > 0).length")
    text = page.inner_text("main")
    rendered_math = page.evaluate("() => document.querySelectorAll('mjx-container').length")
    page.close()
    assert figure_images >= 1
    assert "The network has" in text and "parameters and we evaluate the kernel on" in text
    assert "{glue" not in text  # every glue role was replaced by its value
    assert "Claim / What we measured" in text
    assert rendered_math > 5
