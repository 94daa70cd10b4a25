"""``python -m gymlab``."""

import sys

from gymlab.cli import main

sys.exit(main())
