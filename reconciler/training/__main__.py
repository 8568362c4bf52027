"""`python -m reconciler.training RUN_DIR`: train the run described by RUN_DIR/spec.lock.json.

Started by `providers.local.LocalRunner` (directly, or under `accelerate launch` / `torchrun`). The
run's flock is taken before anything heavy is imported; when the runner already holds it for us
(`FTOPS_LOCK_FD`, inherited), that descriptor keeps it for as long as this process lives.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m reconciler.training RUN_DIR\n")
        return 2
    run_dir = Path(args[0]).resolve()
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)
    from reconciler import localruns

    if "FTOPS_LOCK_FD" not in os.environ and os.environ.get("RANK", "0") == "0":
        fd = localruns.acquire_lock(run_dir / localruns.LOCK)
        if fd is None:
            sys.stderr.write(f"{run_dir}: another process is training this run\n")
            return 3
    from reconciler.training.run import main as run

    return run(run_dir)


if __name__ == "__main__":
    sys.exit(main())
