"""`python -m edgevoice ...` is the same as the `edgevoice` console script."""

import sys

from edgevoice.cli import main

sys.exit(main())
