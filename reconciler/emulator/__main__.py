"""`python -m reconciler.emulator --host --port --state --time-scale --faults`."""

import sys

from reconciler.emulator.server import main

sys.exit(main())
