"""The empirical neural tangent kernel: exact, blocked, matrix-free, on CPU and GPU.

The public API lives in the modules of this subpackage and is re-exported here, so
``from ntkbook.ntk import empirical_ntk`` is the one import a user needs.
"""

from ntkbook.ntk.empirical import *  # noqa: F401,F403
from ntkbook.ntk.empirical import __all__  # noqa: F401
