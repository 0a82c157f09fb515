"""Point the launch and download links of executed chapters at their committed sources.

The book reads the papermill-executed copies in ``book/chapters/`` (generated, not
committed). Binder and Colab must open the committed, paired notebook in
``notebooks/`` instead, so this extension rewrites the launch links that
sphinx-book-theme builds (it runs just after the theme's own handler).
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


def setup(app):
    app.connect("html-page-context", rewrite_launch_links, priority=510)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
