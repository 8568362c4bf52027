"""`python -m reconciler.training.remote`: the same trainer, as an Azure ML command job runs it.

The job's code is a snapshot of ftops (`reconciler/`) with the run's `spec.lock.json`; its inputs
are mounted (or downloaded) where Azure ML says. This entry point writes the lock into the job's
output folder with the paths pointing at those inputs, and trains there: the output folder is
the run directory, and ftops downloads it as it is (adapter, `results.csv`, `outputs.json`).
Under torchrun every process runs this; each writes the same lock before training.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reconciler.training.remote")
    parser.add_argument("--lock", type=Path, required=True, help="the run's spec.lock.json")
    parser.add_argument("--base", type=Path, required=True, help="the base model's folder")
    parser.add_argument("--train", type=Path, required=True, help="the training file")
    parser.add_argument("--valid", type=Path, help="the validation file")
    parser.add_argument("--template", type=Path, help="the chat template file")
    parser.add_argument("--out", type=Path, required=True, help="the job's output folder")
    return parser.parse_args(argv)


def _file(path: Path) -> str:
    """A uri_file input may arrive as the file or as a folder holding only it."""
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file()]
        if len(files) == 1:
            return str(files[0].resolve())
    return str(path.resolve())


def placed_lock(lock: dict, args: argparse.Namespace) -> dict:
    """The lock with every path at the job's inputs; nothing else changes (the key included)."""
    paths = dict(lock["paths"])
    paths["baseModelDir"] = str(args.base.resolve())
    paths["training"] = _file(args.train)
    paths["validation"] = _file(args.valid) if args.valid else None
    paths["chatTemplateFile"] = _file(args.template) if args.template else None
    paths["cacheDir"] = str(Path(tempfile.gettempdir()) / "ftops-cache")
    return {**lock, "paths": paths}


def main(argv: list[str] | None = None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    from reconciler.fileio import write_json_atomic
    from reconciler.localruns import SPEC_LOCK

    lock = json.loads(args.lock.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out / SPEC_LOCK, placed_lock(lock, args))
    from reconciler.training.__main__ import main as train

    return train([str(args.out)])


if __name__ == "__main__":
    sys.exit(main())
