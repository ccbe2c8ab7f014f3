"""``python -m bybitfast``: the same command line as the ``bybitfast`` script."""

import sys

from .cli import main

sys.exit(main())
