"""Which `ftops` the benchmarks time."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def ftops_script() -> str | None:
    """The `ftops` script installed beside this interpreter, as a user's PATH finds it. A version
    manager's shim in front of it (pyenv's is a bash script that runs `pyenv exec`) adds 0.1-0.2 s
    a start that is not ftops's."""
    beside = Path(sys.executable).with_name("ftops")
    return str(beside) if beside.exists() else shutil.which("ftops")
