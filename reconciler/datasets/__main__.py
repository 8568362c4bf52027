"""`python -m reconciler.datasets FILE [--no-tokens] ...`: validate JSONL files standalone.

The same output shape as `ftops validate` (DESIGN.md §7); used by the benchmark and by anyone
without the CLI. Exit 1 when any file has an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson

from .inspection import inspect_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reconciler.datasets")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--no-tokens", action="store_true", help="structure and digest only")
    parser.add_argument(
        "--format", default="auto", choices=["auto", "chat", "dpo", "completion", "rft"]
    )
    parser.add_argument("--role", default="training", choices=["training", "validation"])
    parser.add_argument("--base-model", default=None)
    parser.add_argument("--output", default="text", choices=["text", "json"])
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    failed = False
    reports = []
    for path in args.files:
        report = inspect_dataset(
            path,
            role=args.role,
            format=args.format,
            base_model=args.base_model,
            count_tokens=not args.no_tokens,
            cache_dir=args.cache_dir,
        )
        failed = failed or not report.ok
        reports.append(report)
    if args.output == "json":
        sys.stdout.buffer.write(orjson.dumps([r.as_json() for r in reports]) + b"\n")
    else:
        for report in reports:
            write_text(report)
    return 1 if failed else 0


def write_text(report: object) -> None:
    from .report import DatasetReport

    assert isinstance(report, DatasetReport)
    out = sys.stdout.write
    for d in report.diagnostics:
        out(f"{d.location}: {d.code} {d.message}\n")
        if d.hint:
            out(f"  hint: {d.hint}\n")
    summary = (
        f"{report.path}: {report.examples} examples, {report.format}, sha256 {report.digest[:16]}"
    )
    if report.tokens:
        t = report.tokens
        summary += f", ~{t.total:,} tokens ({t.encoding}; p50 {t.p50}, max {t.max})"
    out(summary + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
