"""ntkbook: the package behind the executable NTK-ECRN book.

One concept per module; imports flow one way:

- ``ntkbook.ntk``: the empirical neural tangent kernel (exact, blocked, matrix-free).
- ``ntkbook.models``: the NTK-ECRN and its baselines.
- ``ntkbook.analytic``: infinite-width NNGP and NTK kernels.
- ``ntkbook.data``: dataset loaders.
- ``ntkbook.train``: training with NTK tracking.
- ``ntkbook.experiments.runs``: seeded experiment runs and their summaries.
- ``ntkbook.claims.rules``: claim boxes whose verdicts are computed by stated rules.
- ``ntkbook.plots``: every figure of the book.
- ``ntkbook.pipeline.notebooks`` and ``ntkbook.pipeline.cli``: the papermill pipeline behind the book.
"""

__version__ = "0.1.0"
