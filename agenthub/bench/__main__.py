"""`python -m agenthub.bench`: see agenthub/bench/run.py."""

import sys

from agenthub.bench.run import main

sys.exit(main())
