"""The claims machinery: what the book checks, the rules that decide, and the report.

- :mod:`ntkbook.claims.registry`: every claim with its id, chapter and source, and its saved records.
- :mod:`ntkbook.claims.rules`: verdict rules fixed before the data, and the claim boxes.
- :mod:`ntkbook.claims.report`: the reproduction report, derived again from the records.
"""
