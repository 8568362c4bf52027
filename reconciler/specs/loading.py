"""YAML → spec models, keeping every node's file:line:col so diagnostics point at the right place.

Only the safe YAML loader's node types are built (no Python tags). Every problem in every file is
collected; nothing stops at the first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reconciler.errors import Diagnostic, Location, error
from reconciler.specs.models import API_VERSION, NAME_PATTERN, SPEC_CLASSES, Metadata, SpecModel

YamlPath = tuple[str | int, ...]
ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
# Identity fields of an Account (and of an MLWorkspace, for the same reason) may come from the
# environment (DESIGN §2); nothing else may.
ENV_ALLOWED = {
    ("Account", "subscription"),
    ("Account", "tenant"),
    ("Account", "resourceGroup"),
    ("Account", "accountName"),
    ("MLWorkspace", "subscription"),
    ("MLWorkspace", "resourceGroup"),
    ("MLWorkspace", "workspaceName"),
}


Mark = tuple[int, int]  # 1-based line and column; a Location is made only for a diagnostic


@dataclass(frozen=True)
class Marks:
    """Source positions of one document: the value node and the key node of every path."""

    file: str
    values: dict[YamlPath, Mark]
    keys: dict[YamlPath, Mark]

    def at(self, path: YamlPath, *, key: bool = False) -> Location:
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            found = table.get(path[:end]) or self.values.get(path[:end])
            if found:
                return Location(file=self.file, line=found[0], column=found[1])
        return Location(file=self.file)


@dataclass(frozen=True)
class Document:
    """One validated spec document."""

    kind: str
    name: str
    spec: SpecModel
    marks: Marks
    source: Path
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def location(self) -> Location:
        return self.marks.at(("metadata", "name"))

    def at(self, *path: str | int) -> Location:
        return self.marks.at(("spec", *path))


@dataclass
class Loaded:
    documents: list[Document] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Documents whose spec failed validation: their names and raw data still count for
    # cross-document checks, so one typo does not hide a cycle or fake a dangling reference.
    invalid: list[Document] = field(default_factory=list)

    @property
    def all_documents(self) -> list[Document]:
        return self.documents + self.invalid


def spec_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"})
        else:
            yield path


def load_paths(paths: Iterable[Path]) -> Loaded:
    loaded = Loaded()
    for file in spec_files(paths):
        load_file(file, loaded)
    return loaded


def load_file(file: Path, into: Loaded) -> None:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        into.diagnostics.append(
            error("SPEC_UNREADABLE", f"cannot read {file}: {exc}", Location.of_file(file))
        )
        return
    try:
        nodes = compose(text)
    except yaml.YAMLError as exc:
        into.diagnostics.append(_yaml_error(file, exc))
        return
    for node in nodes:
        if node is not None:
            _load_document(file, node, into)


# libyaml's composer (PyYAML wheels ship it) builds the same nodes with the same marks about 15x
# faster than the pure-Python one; tests/specs/test_yaml_loaders.py holds the two equal.
FAST_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
# Where the two parsers part (found by fuzzing the examples): libyaml takes a tab as a separator,
# a byte-order mark inside the text and `?` inside a flow collection, which PyYAML rejects, and it
# places an empty value in a flow mapping one column later. Text with any of these goes to PyYAML.
_PARSERS_DIFFER = re.compile(r"[\t?]|.\ufeff|:\s*[,}\]]", re.DOTALL)


def compose(text: str) -> list[yaml.Node | None]:
    """The documents of `text` as node trees, every node with its line and column."""
    if FAST_LOADER is not None and not _PARSERS_DIFFER.search(text):
        try:
            return list(yaml.compose_all(text, Loader=FAST_LOADER))
        except yaml.YAMLError:
            pass  # the pure-Python parser words and places the error as diagnostics always have
    return list(yaml.compose_all(text, Loader=yaml.SafeLoader))


def _yaml_error(file: Path, exc: yaml.YAMLError) -> Diagnostic:
    """Located where the problem starts: an unclosed `[` or `{` where it opens, not where the
    parser gave up on it."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context, opened = getattr(exc, "context", None) or "", getattr(exc, "context_mark", None)
    message = f"YAML syntax error: {problem}"
    if opened is not None and "flow" in context:
        what = "[" if "sequence" in context else "{"
        where = f" (line {mark.line + 1})" if mark else ""
        message = f"YAML syntax error: this '{what}' is not closed: {problem}{where}"
        mark = opened
    loc = Location(
        file=str(file),
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
    )
    return error(
        "SPEC_YAML_SYNTAX",
        message,
        loc,
        "fix the YAML syntax; a linter such as yamllint shows the context",
    )


def _load_document(file: Path, node: yaml.Node, into: Loaded) -> None:
    builder = _Builder(str(file))
    data = builder.build(node, ())
    marks = Marks(str(file), builder.values, builder.keys)
    into.diagnostics.extend(builder.diagnostics)
    if not isinstance(data, dict):
        into.diagnostics.append(
            error(
                "SPEC_NOT_MAPPING",
                "a spec document must be a mapping",
                marks.at(()),
                "start the document with 'apiVersion: ftops/v1'",
            )
        )
        return
    envelope = _check_envelope(data, marks)
    if envelope:
        into.diagnostics.extend(envelope)
        return
    kind, name = data["kind"], data["metadata"]["name"]
    spec_data, env_problems = _substitute_env(kind, data.get("spec") or {}, marks)
    into.diagnostics.extend(env_problems)
    raw = spec_data if isinstance(spec_data, dict) else {}
    try:
        spec = SPEC_CLASSES[kind].model_validate(spec_data)
    except ValidationError as exc:
        into.diagnostics.extend(_validation_diagnostics(kind, exc, spec_data, marks))
        into.invalid.append(Document(kind, name, SpecModel(), marks, file, raw))
        return
    into.documents.append(Document(kind, name, spec, marks, file, raw))


def _check_envelope(data: dict[str, Any], marks: Marks) -> list[Diagnostic]:
    problems = []
    if data.get("apiVersion") != API_VERSION:
        problems.append(
            error(
                "SPEC_API_VERSION",
                f"apiVersion must be {API_VERSION!r}, got {data.get('apiVersion')!r}",
                marks.at(("apiVersion",)),
                f"set 'apiVersion: {API_VERSION}'",
            )
        )
    kind = data.get("kind")
    if kind not in SPEC_CLASSES:
        problems.append(
            error(
                "SPEC_UNKNOWN_KIND",
                f"unknown kind {kind!r}",
                marks.at(("kind",)),
                "kind is one of " + ", ".join(SPEC_CLASSES),
            )
        )
    metadata = data.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        problems.append(
            error(
                "SPEC_BAD_NAME",
                f"metadata.name {name!r} is missing or invalid",
                marks.at(("metadata", "name")),
                "use lowercase letters, digits and '-', at most 63 characters",
            )
        )
    elif isinstance(metadata, dict):
        problems.extend(_metadata_problems(metadata, marks))
    extra = set(data) - {"apiVersion", "kind", "metadata", "spec"}
    for key in sorted(extra, key=str):
        problems.append(
            error(
                "SPEC_UNKNOWN_FIELD",
                f"unknown field {key!r}",
                marks.at((key,), key=True),
                "top-level fields are apiVersion, kind, metadata and spec",
            )
        )
    return problems


def _metadata_problems(metadata: dict[str, Any], marks: Marks) -> list[Diagnostic]:
    try:
        Metadata.model_validate(metadata)
    except ValidationError as exc:
        return [
            error(
                "SPEC_UNKNOWN_FIELD" if err["type"] == "extra_forbidden" else "SPEC_INVALID_VALUE",
                f"metadata.{'.'.join(map(str, err['loc']))}: {err['msg']}",
                marks.at(("metadata", *err["loc"]), key=err["type"] == "extra_forbidden"),
                "metadata has 'name' and 'labels' (a map of strings)",
            )
            for err in exc.errors()
        ]
    return []


def _substitute_env(kind: str, spec: Any, marks: Marks) -> tuple[Any, list[Diagnostic]]:
    problems: list[Diagnostic] = []

    def visit(value: Any, path: YamlPath) -> Any:
        if isinstance(value, dict):
            return {k: visit(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [visit(v, (*path, i)) for i, v in enumerate(value)]
        if not isinstance(value, str) or not ENV_REF.search(value):
            return value
        loc = marks.at(("spec", *path))
        if len(path) != 1 or (kind, path[0]) not in ENV_ALLOWED:
            problems.append(
                error(
                    "SPEC_ENV_NOT_ALLOWED",
                    "${env:…} is not allowed here",
                    loc,
                    "only an Account's subscription, tenant, resourceGroup and "
                    "accountName may come from the environment",
                )
            )
            return value
        return ENV_REF.sub(lambda m: _env_value(m.group(1), loc, problems), value)

    return visit(spec, ()), problems


def _env_value(name: str, loc: Location, problems: list[Diagnostic]) -> str:
    value = os.environ.get(name)
    if value is None:
        problems.append(
            error(
                "SPEC_ENV_UNSET",
                f"environment variable {name} is not set",
                loc,
                f"export {name}=… before running ftops",
            )
        )
        return ""
    return value


def _validation_diagnostics(
    kind: str, exc: ValidationError, data: Any, marks: Marks
) -> list[Diagnostic]:
    problems = []
    for err in _closest_members(exc.errors()):
        path = _data_path(data, err["loc"])
        where = ".".join(str(p) for p in ("spec", *path))
        if err["type"] == "extra_forbidden":
            problems.append(
                error(
                    "SPEC_UNKNOWN_FIELD",
                    f"{kind}: unknown field {where!r}",
                    marks.at(("spec", *path), key=True),
                    _field_hint(kind, path[:-1]),
                )
            )
        elif err["type"] == "missing":
            problems.append(
                error(
                    "SPEC_MISSING_FIELD",
                    f"{kind}: {where} is required",
                    marks.at(("spec", *path[:-1])),
                    f"add '{path[-1]}' under {'.'.join(map(str, ('spec', *path[:-1])))}",
                )
            )
        else:
            problems.append(
                error(
                    "SPEC_INVALID_VALUE",
                    f"{kind}: {where}: {err['msg']}",
                    marks.at(("spec", *path)),
                    "see specs/README.md for the field",
                )
            )
    return _dedupe(problems)


def _closest_members(errors: list[Any]) -> list[Any]:
    """A value that matches no member of a union gets every member's errors from pydantic;
    keep those of the member with the fewest, the one the author meant (`{base: x}` lacks a
    version; it is not a fine-tune reference with an unknown field)."""
    by_union: dict[tuple[Any, ...], dict[str, int]] = {}
    for err in errors:
        union, member = _member(err["loc"])
        if member is not None:
            counts = by_union.setdefault(union, {})
            counts[member] = counts.get(member, 0) + 1
    closest = {union: min(counts, key=counts.__getitem__) for union, counts in by_union.items()}
    kept = []
    for err in errors:
        union, member = _member(err["loc"])
        if member is None or closest[union] == member:
            kept.append(err)
    return kept


def _member(loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], str | None]:
    """(where the union is, the member's tag): pydantic tags a union member by its class name."""
    for i, part in enumerate(loc):
        if isinstance(part, str) and part[:1].isupper():
            return loc[:i], part
    return loc, None


def _data_path(data: Any, loc: tuple[Any, ...]) -> YamlPath:
    """Map a pydantic error location onto the data, dropping union tags such as 'FineTuneRef'."""
    path: list[str | int] = []
    node = data
    for part in loc:
        present = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node)
        )
        if present:
            path.append(part)
            node = node[part]
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and part[:1].islower()
            and "[" not in part
            and part not in ("str", "int", "float", "bool")
        ):
            path.append(part)  # a missing or unknown key
            node = None
    return tuple(path)


def _field_hint(kind: str, parent: YamlPath) -> str:
    model: Any = SPEC_CLASSES[kind]
    for part in parent:
        info = getattr(model, "model_fields", {})
        match = next((f for n, f in info.items() if (f.alias or n) == part), None)
        annotation = getattr(match, "annotation", None)
        model = _first_model(annotation)
        if model is None:
            return "see specs/README.md for the fields of this kind"
    names = [f.alias or n for n, f in model.model_fields.items()]
    return "allowed fields here: " + ", ".join(names)


def _first_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, SpecModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _dedupe(problems: list[Diagnostic]) -> list[Diagnostic]:
    seen: dict[tuple[str, str], Diagnostic] = {}
    for p in problems:
        seen.setdefault((p.code, str(p.location)), p)
    return list(seen.values())


class _Builder:
    """Turns a YAML node tree into plain data, recording where every value and key sits."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[YamlPath, Mark] = {}
        self.keys: dict[YamlPath, Mark] = {}
        self.diagnostics: list[Diagnostic] = []
        self._scalars = yaml.SafeLoader("")

    def loc(self, node: yaml.Node) -> Location:
        line, column = self.mark(node)
        return Location(file=self.file, line=line, column=column)

    @staticmethod
    def mark(node: yaml.Node) -> Mark:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def build(self, node: yaml.Node, path: YamlPath) -> Any:
        self.values[path] = self.mark(node)
        if node.tag not in _SAFE_TAGS:
            self.diagnostics.append(
                error(
                    "SPEC_YAML_TAG",
                    f"YAML tag {node.tag} is not allowed",
                    self.loc(node),
                    "remove the tag; specs are plain data",
                )
            )
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.scalar(node)

    def scalar(self, node: yaml.Node) -> Any:
        if node.tag in _AS_WRITTEN:
            # Strings need no constructor; and specs hold no dates: `version: 2024-07-18` is a
            # model version, as written.
            return node.value
        return self._scalars.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: YamlPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node)
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                self.diagnostics.append(
                    error(
                        "SPEC_DUPLICATE_KEY",
                        f"duplicate key {key!r}",
                        self.loc(key_node),
                        "remove one of the two",
                    )
                )
            self.keys[(*path, key)] = self.mark(key_node)
            result[key] = self.build(value_node, (*path, key))
        return result


_AS_WRITTEN = {"tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp"}
_SAFE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
