"""``python -m ntkbook``: the same command as ``ntkbook`` (see :mod:`ntkbook.pipeline.cli`)."""

import sys

from ntkbook.pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
