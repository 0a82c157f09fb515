"""The claims machinery: what the book checks, the rules that decide, and the report.

- :mod:`ntkbook.claims.registry`: every claim with its id, chapter, source and kind (paper
  claim, theory result, sanity check), and its saved records (verdict inputs, p-value,
  each model's own metric).
- :mod:`ntkbook.claims.rules`: verdict rules fixed before the data, and the claim boxes
  (a neutral smoke-run box in the ci profile).
- :mod:`ntkbook.claims.chapter`: ``check_claim``, the one call a chapter makes.
- :mod:`ntkbook.claims.report`: the reproduction report, derived again from the records,
  with Holm's correction across the paper claims.
"""
