"""Fixes and additions to the HTML pages, applied while Sphinx writes them.

1. Launch links. The book reads the executed copies of the chapters in ``book/chapters/``
   (staged by ``ntkbook book``, not committed). Binder and Colab must open the committed,
   paired notebook in ``notebooks/`` instead, so the launch links that sphinx-book-theme
   builds are rewritten (this handler runs just after the theme's own).
2. Duplicate scripts. sphinx-thebe registers its inline configuration script once per
   ``env-before-read-docs`` event, which fires more than once in a build; the second copy
   redeclares a ``const`` and raises a JavaScript error on every page. Each script is kept
   once.
3. Phone and tablet navigation. pydata-sphinx-theme 0.17 binds the sidebar toggles with
   ``document.querySelector``, that is to the first ``.primary-toggle`` and
   ``.secondary-toggle`` of the page: the ones of its own header, which sphinx-book-theme
   1.3 hides. The visible buttons (the article header's menu and "Contents") therefore did
   nothing. ``static/ntkbook.js`` forwards their clicks to the bound buttons, so the
   sidebar opens as the theme's dialog below 992 px and collapses above it.
4. Downloads. Beside the executed ``.ipynb``, each chapter's download menu offers its
   jupytext source ``notebooks/NAME.py`` (the file the "Rerun and adapt" page calls the
   source), copied into the HTML output at the same path.
5. ``static/ntkbook.css`` styles the provenance banners ``ntkbook book`` puts at the top
   of every page.
"""

import shutil
from pathlib import Path

EXECUTED = "book/chapters/"
SOURCE = "notebooks/"
STATIC = Path(__file__).resolve().parent / "static"


def _rewrite(buttons):
    for button in buttons:
        if "buttons" in button:
            _rewrite(button["buttons"])
        url = button.get("url")
        if isinstance(url, str) and EXECUTED in url and "launch" in str(button.get("tooltip", "")).lower():
            button["url"] = url.replace(EXECUTED, SOURCE)


def rewrite_launch_links(app, pagename, templatename, context, doctree):
    if pagename.startswith(EXECUTED):
        _rewrite(context.get("header_buttons", []))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # the same inline script may be registered with filename None or "": treat both alike
        key = (getattr(script, "filename", None) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    if "script_files" in context:
        context["script_files"][:] = unique


def _jupytext_source(app, pagename):
    """The chapter's jupytext source in the build's source tree, or None."""
    if not pagename.startswith(EXECUTED):
        return None
    path = Path(app.srcdir) / SOURCE / f"{pagename[len(EXECUTED):]}.py"
    return path if path.is_file() else None


def add_source_download(app, pagename, templatename, context, doctree):
    source = _jupytext_source(app, pagename)
    if source is None:
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"].insert(1, {
                "type": "link",
                "url": context["pathto"](f"{SOURCE}{source.name}", 1),
                "text": ".py",
                "tooltip": "Download the jupytext source (the file to rerun and adapt)",
                "icon": "fas fa-file-code",
                "label": "download-py-button",
            })


def copy_sources(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for docname in app.env.found_docs:
        source = _jupytext_source(app, docname)
        if source is not None:
            target = Path(app.outdir) / SOURCE / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)


def add_static_path(app):
    app.config.html_static_path.append(str(STATIC))


def setup(app):
    app.connect("builder-inited", add_static_path)
    app.add_css_file("ntkbook.css")
    app.add_js_file("ntkbook.js", loading_method="defer")
    app.connect("html-page-context", rewrite_launch_links, priority=510)
    app.connect("html-page-context", drop_duplicate_scripts, priority=510)
    app.connect("html-page-context", add_source_download, priority=510)
    app.connect("build-finished", copy_sources)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
