"""``python -m gauntlet``: the same as the ``gauntlet`` command."""

import sys

from gauntlet.cli import main

sys.exit(main())
