// ntkbook: make the visible sidebar toggles work (see book/_ext/book_html.py, item 3), and
// have the ".py" entry of the download menu save the file rather than open a tab.
(function () {
  function forward(selector) {
    const toggles = Array.from(document.querySelectorAll(selector));
    const bound = toggles[0]; // the one pydata-sphinx-theme's script bound (document.querySelector)
    if (!bound) return;
    toggles.slice(1).forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        event.stopPropagation();
        bound.click();
      });
    });
  }
  function setUp() {
    forward(".primary-toggle");
    forward(".secondary-toggle");
    document.querySelectorAll("a.btn-download-py-button").forEach(function (link) {
      link.setAttribute("download", "");
      link.removeAttribute("target");
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
