"""The pipeline that executes the chapters and builds the book (knows the repository layout).

- :mod:`ntkbook.pipeline.paths`: where the notebooks, profiles, executed chapters, results and the books live.
- :mod:`ntkbook.pipeline.parameters`: the parameters cell, the values each parameter accepts, profile files.
- :mod:`ntkbook.pipeline.stamps`: what an executed notebook was made from, where and when; why it is stale.
- :mod:`ntkbook.pipeline.notebooks`: canonical and ad-hoc runs, papermill, clean-up on interrupt, a chapter's status.
- :mod:`ntkbook.pipeline.site`: the HTML book of one profile's runs, staged with banners, built by Sphinx.
- :mod:`ntkbook.pipeline.sweep`: parameter sweeps over one notebook.
- :mod:`ntkbook.pipeline.cli`: the ``ntkbook`` command.
"""
