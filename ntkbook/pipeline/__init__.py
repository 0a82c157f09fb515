"""The pipeline that executes the chapters and builds the book (knows the repository layout).

- :mod:`ntkbook.pipeline.paths`: where the notebooks, profiles, results and the book live.
- :mod:`ntkbook.pipeline.parameters`: the parameters cell, the values each parameter accepts, profile files.
- :mod:`ntkbook.pipeline.notebooks`: canonical and ad-hoc runs, stamps, papermill, clean-up on interrupt.
- :mod:`ntkbook.pipeline.sweep`: parameter sweeps over one notebook.
- :mod:`ntkbook.pipeline.cli`: the ``ntkbook`` command.
"""
