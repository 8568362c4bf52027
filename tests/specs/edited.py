"""An example's specs copied into a fresh repository, edited by kind, and validated."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from reconciler.errors import Diagnostic
from reconciler.workspace import check_workspace

Edit = Callable[[dict[str, dict]], None]  # type: ignore[type-arg]


def example_errors(
    tmp_path: Path,
    example: Path,
    edit: Edit,
    extra: list[dict] | None = None,  # type: ignore[type-arg]
    *,
    prepare: Callable[[Path], None] | None = None,
) -> list[Diagnostic]:
    """The errors of `example` after `edit` of its documents (by kind) and `extra` documents
    added; `prepare` sees the copied specs folder first (to stand in for ignored files)."""
    specs = tmp_path / "repo" / "specs"
    shutil.copytree(example, specs, ignore=shutil.ignore_patterns("models", ".ftops"))
    (specs.parent / ".git").mkdir()
    if prepare is not None:
        prepare(specs)
    path = specs / "ftops.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    edit({d["kind"]: d for d in docs})
    path.write_text(yaml.safe_dump_all([*docs, *(extra or [])]))
    return [d for d in check_workspace([specs], count_tokens=False) if d.is_error]
