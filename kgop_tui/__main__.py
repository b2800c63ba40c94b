"""``python -m kgop_tui``: the same as the ``kgop`` command."""

import sys

from kgop_tui.cli import main

sys.exit(main())
