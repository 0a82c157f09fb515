"""Two small fixes to the HTML pages, applied while Sphinx writes them.

1. Launch links. The book reads the papermill-executed copies in ``book/chapters/``
   (generated, not committed). Binder and Colab must open the committed, paired notebook
   in ``notebooks/`` instead, so the launch links that sphinx-book-theme builds are
   rewritten (this handler runs just after the theme's own).
2. Duplicate scripts. sphinx-thebe registers its inline configuration script once per
   ``env-before-read-docs`` event, which fires more than once in a build; the second copy
   redeclares a ``const`` and raises a JavaScript error on every page. Each script is kept
   once.
"""

EXECUTED = "book/chapters/"
SOURCE = "notebooks/"


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


def setup(app):
    app.connect("html-page-context", rewrite_launch_links, priority=510)
    app.connect("html-page-context", drop_duplicate_scripts, priority=510)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

