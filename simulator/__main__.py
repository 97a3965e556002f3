"""``python -m spotnana_sim`` is the ``spotnana-sim`` command."""

import sys

from spotnana_sim.cli.main import main

sys.exit(main())
