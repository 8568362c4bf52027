"""The I/O around the pure core: find the repository, load the specs and read the datasets.

`load_workspace` gives a frozen `Workspace` (the desired state, the catalog, the warnings) or
raises `SpecError` with every problem found; `check_workspace` (for `validate`) returns them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from reconciler.catalog import Catalog, load_catalog
from reconciler.datasets import inspect_dataset
from reconciler.desired import DatasetFacts, DesiredLocalRun, DesiredState, build_desired
from reconciler.errors import Diagnostic, FtopsError, Location, SpecError, error, has_errors
from reconciler.estimating import preflight
from reconciler.specs.loading import Document, load_paths
from reconciler.specs.models import (
    DatasetSpec,
    FineTuneSpec,
    Grader,
    LocalRunSpec,
    MLWorkspaceSpec,
    MultiGrader,
    PythonGrader,
)
from reconciler.specs.references import check_references

STATE_DIR = ".ftops"


@dataclass(frozen=True)
class Workspace:
    root: Path
    documents: tuple[Document, ...]
    desired: DesiredState
    catalog: Catalog
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR


@dataclass
class _Loading:
    """What loading has found so far; frozen into a `Workspace` once it has no errors."""

    root: Path
    documents: list[Document]
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


def repo_root(paths: list[Path]) -> Path:
    """The git work tree that holds the specs; outside git, the directory of the spec path given
    (never the current directory: `plan` run from elsewhere must see the same state)."""
    start = paths[0].resolve() if paths else Path.cwd().resolve()
    start = start if start.is_dir() else start.parent
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


def ensure_state_dir(root: Path) -> Path:
    """`.ftops/` with a `.gitignore` of its own: caches, the embedded emulator's state and local
    runs never show up as untracked files."""
    state = root / STATE_DIR
    with contextlib.suppress(OSError):  # a read-only checkout can still be validated
        state.mkdir(exist_ok=True)
        ignore = state / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# ftops: caches, emulator state, local runs; never committed\n*\n")
    return state


def load_workspace(paths: list[Path], *, count_tokens: bool = True) -> Workspace:
    ws, diagnostics = _load(paths, count_tokens)
    if ws is None:
        raise SpecError.of(diagnostics)
    return ws


def check_workspace(paths: list[Path], *, count_tokens: bool = True) -> list[Diagnostic]:
    """Every problem in the specs and their data, errors and warnings."""
    return _load(paths, count_tokens)[1]


def _load(paths: list[Path], count_tokens: bool) -> tuple[Workspace | None, list[Diagnostic]]:
    missing = [
        error(
            "SPEC_PATH_NOT_FOUND",
            f"{p} does not exist",
            Location.of_file(p),
            "pass a spec file or a directory of them (the default is the current directory)",
        )
        for p in paths
        if not p.exists()
    ]
    if missing:  # nothing else is worth saying about specs that were not all read
        return None, missing
    loaded = load_paths(paths)
    ws = _Loading(repo_root(paths), loaded.documents, list(loaded.diagnostics))
    if loaded.documents:
        ensure_state_dir(ws.root)
    if not any(d.code == "SPEC_YAML_SYNTAX" for d in ws.diagnostics):
        # A file that did not parse hides its documents: "no Project", "unknown reference"
        # would be echoes of the syntax error, not problems of their own.
        ws.diagnostics.extend(check_references(loaded.all_documents))
    if not ws.ok:
        return None, ws.diagnostics
    ws.documents = [_with_grader_sources(doc, ws) for doc in ws.documents]
    catalog = load_catalog(_catalog_override(ws))
    facts = _dataset_facts(ws, count_tokens)
    ws.diagnostics.extend(_grader_fields(ws, facts))
    runs = desired_local_runs(ws, facts) if ws.ok else []
    if not ws.ok:
        return None, ws.diagnostics
    desired = build_desired(ws.documents, facts, tuple(runs))
    ws.diagnostics.extend(preflight(desired, catalog))
    if not ws.ok:
        return None, ws.diagnostics
    workspace = Workspace(
        root=ws.root,
        documents=tuple(ws.documents),
        desired=desired,
        catalog=catalog,
        warnings=tuple(ws.diagnostics),
    )
    return workspace, ws.diagnostics


PYTHON_GRADER_LIMIT = 256 * 1024  # Azure: a python grader's source is at most 256 KB


def _with_grader_sources(doc: Document, ws: _Loading) -> Document:
    """A FineTune whose python graders name a `sourceFile`, with the file's text inlined as
    `source`: what is sent, and what enters the job key (the code, not its path)."""
    spec = doc.spec
    if not isinstance(spec, FineTuneSpec) or spec.method.grader is None:
        return doc
    grader = _inline(spec.method.grader, doc, ws)
    method = spec.method.model_copy(update={"grader": grader})
    return replace(doc, spec=spec.model_copy(update={"method": method}))


def _inline(grader: Grader, doc: Document, ws: _Loading) -> Grader:
    if isinstance(grader, MultiGrader):
        inner = {name: _inline(g, doc, ws) for name, g in grader.graders.items()}
        return grader.model_copy(update={"graders": inner})
    if not isinstance(grader, PythonGrader) or grader.source_file is None:
        return grader
    path = (doc.source.parent / grader.source_file).resolve()
    where = doc.at("method", "grader")
    problem = None
    if not path.is_relative_to(ws.root.resolve()):
        problem = f"{grader.source_file} resolves outside the repository {ws.root}"
    elif not path.is_file():
        problem = f"{grader.source_file} does not exist (relative to the spec file)"
    elif path.stat().st_size > PYTHON_GRADER_LIMIT:
        problem = f"{grader.source_file} is {path.stat().st_size:,} bytes; Azure takes 256 KB"
    if problem:
        ws.diagnostics.append(
            error(
                "GRADER_SOURCE",
                f"FineTune {doc.name!r}: python grader {grader.name!r}: {problem}",
                where,
                "keep the grader's .py file inside the repository, next to the spec",
            )
        )
        return grader
    source = path.read_text(encoding="utf-8")
    return grader.model_copy(update={"source": source, "source_file": None})


ITEM_FIELD = re.compile(r"\{\{\s*item\.([A-Za-z0-9_]+)")


def _grader_fields(ws: _Loading, facts: dict[str, DatasetFacts]) -> list[Diagnostic]:
    """Every `{{item.x}}` a grader reads must be a field of the training examples (checked on
    the first one: the rft rules already require one format per file)."""
    problems = []
    for doc in ws.documents:
        spec = doc.spec
        if not isinstance(spec, FineTuneSpec) or spec.method.grader is None:
            continue
        fact = facts.get(spec.training_data)
        fields = _first_example_fields(Path(fact.path)) if fact else None
        wanted = sorted(set(ITEM_FIELD.findall(spec.method.grader.model_dump_json())))
        missing = [f for f in wanted if fields is not None and f not in fields]
        if missing:
            problems.append(
                error(
                    "GRADER_ITEM_FIELD",
                    f"FineTune {doc.name!r}: the grader reads "
                    f"{', '.join('{{item.' + f + '}}' for f in missing)}, which the examples of "
                    f"Dataset {spec.training_data!r} do not have (they have "
                    f"{', '.join(sorted(fields or ())) or 'no fields'})",
                    doc.at("method", "grader"),
                    "add the field to every example, or read one the examples have",
                )
            )
    return problems


def _first_example_fields(path: Path) -> set[str] | None:
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                try:
                    example = json.loads(line)
                except ValueError:
                    return None  # the dataset rules report it
                return set(example) if isinstance(example, dict) else None
    return None


def _catalog_override(ws: _Loading) -> Path | None:
    project = next(d for d in ws.documents if d.kind == "Project")
    override = project.spec.catalog  # type: ignore[attr-defined]
    return (project.source.parent / override).resolve() if override else None


def _rft_datasets(ws: _Loading) -> set[str]:
    """Datasets a reinforcement FineTune trains or validates on: read as rft when `auto`."""
    return {
        name
        for doc in ws.documents
        if isinstance(doc.spec, FineTuneSpec) and doc.spec.method.type == "reinforcement"
        for name in filter(None, (doc.spec.training_data, doc.spec.validation_data))
    }


def _datasets_in_use(ws: _Loading) -> dict[str, str | None]:
    """Dataset name → the base model it trains (for its per-example token limit)."""
    used: dict[str, str | None] = {}
    for doc in ws.documents:
        spec = doc.spec
        if isinstance(spec, FineTuneSpec):
            base = spec.base_model if isinstance(spec.base_model, str) else None
            for name in filter(None, (spec.training_data, spec.validation_data)):
                used[name] = used.get(name) or base
        elif isinstance(spec, LocalRunSpec):
            for name in filter(None, (spec.training_data, spec.validation_data)):
                used.setdefault(name, None)
    return used


def _dataset_facts(ws: _Loading, count_tokens: bool) -> dict[str, DatasetFacts]:
    docs = {d.name: d for d in ws.documents if d.kind == "Dataset"}
    roles = _roles(ws)
    rft = _rft_datasets(ws)
    facts = {}
    for name, base in _datasets_in_use(ws).items():
        doc = docs[name]
        path = dataset_path(doc, ws.root, ws.diagnostics)
        if path is None:
            continue
        spec: DatasetSpec = doc.spec  # type: ignore[assignment]
        report = inspect_dataset(
            path,
            role=roles.get(name, "training"),
            format="rft" if spec.format == "auto" and name in rft else spec.format,
            base_model=base,
            count_tokens=count_tokens,
            cache_dir=ws.state_dir / "cache",
            display_path=os.path.relpath(path, Path.cwd()),
        )
        ws.diagnostics.extend(report.diagnostics)
        tokens = report.tokens
        facts[name] = DatasetFacts(
            name=name,
            digest=report.digest,
            path=str(path),
            examples=report.examples,
            format=report.format,
            billable_tokens=tokens.billable if tokens else None,
            bytes=path.stat().st_size,
        )
    return facts


Role = Literal["training", "validation"]


def _roles(ws: _Loading) -> dict[str, Role]:
    roles: dict[str, Role] = {}
    for doc in ws.documents:
        spec = doc.spec
        if isinstance(spec, FineTuneSpec | LocalRunSpec):
            roles[spec.training_data] = "training"
            if spec.validation_data:
                roles.setdefault(spec.validation_data, "validation")
    return roles


def dataset_path(doc: Document, root: Path, problems: list[Diagnostic]) -> Path | None:
    """The dataset file: a file in the repository (resolved against its spec file), or a URL
    fetched into the disposable cache. The file is uploaded by content either way, so a SAS URL
    never reaches a plan, a receipt or a log."""
    spec: DatasetSpec = doc.spec  # type: ignore[assignment]
    if spec.url is not None:
        return _fetched(doc, spec.url, root / STATE_DIR / "cache" / "datasets", problems)
    assert spec.path is not None
    path = (doc.source.parent / spec.path).resolve()
    if not path.is_relative_to(root.resolve()):
        problems.append(
            error(
                "DATASET_OUTSIDE_REPO",
                f"Dataset {doc.name!r}: {spec.path} resolves outside the repository {root}",
                doc.at("path"),
                "keep training data inside the repository",
            )
        )
        return None
    if not path.is_file():
        problems.append(
            error(
                "DATASET_NOT_FOUND",
                f"Dataset {doc.name!r}: {spec.path} does not exist",
                doc.at("path"),
                "paths are relative to the spec file's directory",
            )
        )
        return None
    return path


def _fetched(doc: Document, url: str, cache: Path, problems: list[Diagnostic]) -> Path | None:
    from reconciler.providers.blob import fetch_dataset

    try:
        return fetch_dataset(url, cache, location=doc.at("url")).path
    except FtopsError as exc:
        problems.extend(exc.diagnostics())
        return None


def _workspace_doc(ws: _Loading, name: str) -> MLWorkspaceSpec | None:
    return next(
        (d.spec for d in ws.documents if isinstance(d.spec, MLWorkspaceSpec) and d.name == name),
        None,
    )


def desired_local_runs(ws: _Loading, facts: dict[str, DatasetFacts]) -> list[DesiredLocalRun]:
    """Local runs with their keys: base model, tokenizer, template and data digests included."""
    from reconciler import localruns

    runs = []
    for doc in ws.documents:
        spec = doc.spec
        if not isinstance(spec, LocalRunSpec):
            continue
        ws.diagnostics.extend(localruns.check_local_run(spec, location=doc.location))
        train = Path(facts[spec.training_data].path)
        valid = Path(facts[spec.validation_data].path) if spec.validation_data else None
        here = doc.source.parent  # paths in a spec are relative to its file, as for datasets
        base = localruns.resolve_base_paths(spec, here)
        if not base.model_dir.is_relative_to(ws.root) or not base.model_dir.exists():
            ws.diagnostics.append(
                error(
                    "LOCALRUN_BASE_NOT_FOUND",
                    f"LocalRun {doc.name!r}: base model "
                    f"{spec.base_model.path} not found inside the repository",
                    doc.at("baseModel"),
                    "point baseModel.path (relative to the spec file) at a local Hugging Face "
                    "directory or a .gguf file",
                )
            )
            continue
        cache = ws.state_dir / "cache"
        digests = localruns.compute_digests(spec, ws.root, train, valid, cache, base_dir=here)
        key = localruns.run_key(spec, digests)
        resolved = localruns.resolved_run_spec(
            doc.name,
            spec,
            key,
            digests,
            root=ws.root,
            train_path=train,
            valid_path=valid,
            train_format=facts[spec.training_data].format or "auto",
            base_dir=here,
            cache_dir=cache,
        )
        placed = spec.compute.azure_ml
        workspace = _workspace_doc(ws, placed.workspace) if placed else None
        runs.append(
            DesiredLocalRun(
                name=doc.name,
                key=key,
                spec=resolved,
                location=doc.location,
                kind=doc.kind,
                workspace=workspace,
            )
        )
    return runs
