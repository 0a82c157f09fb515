"""The pipeline that executes the chapters and builds the book (knows the repository layout).

- :mod:`ntkbook.pipeline.paths`: where the notebooks, profiles, results and the book live.
- :mod:`ntkbook.pipeline.notebooks`: parameters, validation, fingerprints and papermill runs.
- :mod:`ntkbook.pipeline.sweep`: parameter sweeps over one notebook.
- :mod:`ntkbook.pipeline.cli`: the ``ntkbook`` command.
"""
