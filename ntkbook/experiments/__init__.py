"""The book's experiments: one module per part of the book, built on the library.

- :mod:`ntkbook.experiments.runs`: the experiment configuration, its cache and the seeded runner.
- :mod:`ntkbook.experiments.theory`: part I (chapters 1-4).
- :mod:`ntkbook.experiments.mechanisms`: part II, the mechanisms (chapters 5-7).
- :mod:`ntkbook.experiments.ablations`: part II, the ablations (chapters 8-10).
- :mod:`ntkbook.experiments.benchmarks`: part III, the paper's benchmarks (chapters 11-13).
- :mod:`ntkbook.experiments.ntk_speed`: the appendix on computing NTKs fast.
"""
