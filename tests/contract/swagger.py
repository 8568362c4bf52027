"""Swagger 2.0 → JSON Schema: checks the emulator's wire traffic against the official contracts.

The vendored swagger files live in ``tests/contracts/`` (see its SOURCES.md). This module:

* loads a swagger file and resolves ``$ref`` s, local (``#/definitions/X``) and relative-file
  (``../../common-types/...json#/definitions/X``), into one self-contained JSON Schema;
* reads an OpenAPI 3.0 document (the v1 API's spec) through a small adapter, `from_openapi3`,
  that rewrites it into the swagger 2.0 structure the rest of this module reads (see there);
* translates swagger/AutoRest semantics into Draft 7:
  - ``x-nullable: true`` allows ``null`` (and nothing else does: a ``null`` where the swagger
    has a plain ``type: string`` is drift — Azure omits unset properties);
  - ``readOnly`` properties are never required in *request* bodies;
  - ``allOf``, ``anyOf`` and ``oneOf`` are kept; ``additionalProperties`` defaults to "anything"
    as in swagger;
  - ``discriminator`` is lenient: a value naming a known subtype (``x-ms-discriminator-value``
    or the definition's name) is validated against that subtype, any other value against the
    base only;
  - ``enum`` is strict unless ``x-ms-enum.modelAsString`` is true (then any string is accepted);
  - ``type: file`` (binary) accepts anything; ``format`` is checked where it means something
    for JSON (``date-time``, ``int32``, ``int64``, ``unixtime``, ``uuid``, ``arm-id``), and
    otherwise ignored;
* picks the swagger file from the request's plane and ``api-version`` (the v1 paths,
  ``/{account}/openai/v1/...``, take none: they are api-version "v1").
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"

_DATA_PLANE_DIR = "cognitiveservices/data-plane/AzureOpenAI/authoring"
_ARM_DIR = "cognitiveservices/resource-manager/Microsoft.CognitiveServices"

#: The v1 API (``{endpoint}/openai/v1/...``, no api-version): OpenAPI 3.0, read by from_openapi3.
V1 = "v1"
V1_SPEC = "ai/data-plane/OpenAI.v1/azure-v1-v1-generated.json"
_V1_PATH = re.compile(r"^/[^/]+/openai/v1(/|$)", re.IGNORECASE)

#: api-version → swagger file (relative to CONTRACTS_DIR), per plane.
DATA_PLANE_SWAGGERS = {
    "2024-10-21": f"{_DATA_PLANE_DIR}/stable/2024-10-21/azureopenai.json",
    "2025-04-01-preview": f"{_DATA_PLANE_DIR}/preview/2025-04-01-preview/azureopenai.json",
    V1: V1_SPEC,
}
ARM_SWAGGERS = {
    "2025-09-01": f"{_ARM_DIR}/stable/2025-09-01/cognitiveservices.json",
}
#: The ARM RPC async-operation status body (what Azure-AsyncOperation URLs return).
ARM_COMMON_TYPES = "common-types/resource-management/v6/types.json"

#: Official examples that the 2025-09-01 swagger references but that upstream stores only for
#: 2024-10-01 (see tests/contracts/SOURCES.md). They are checked against the 2025-09-01 operations.
EXTRA_ARM_EXAMPLES = {
    f"{_ARM_DIR}/stable/2024-10-01/examples/PutDeployment.json": "Deployments_CreateOrUpdate",
    f"{_ARM_DIR}/stable/2024-10-01/examples/ListDeployments.json": "Deployments_List",
    f"{_ARM_DIR}/stable/2024-10-01/examples/GetDeployment.json": "Deployments_Get",
    f"{_ARM_DIR}/stable/2024-10-01/examples/DeleteDeployment.json": "Deployments_Delete",
}

HTTP_METHODS = ("get", "put", "post", "patch", "delete", "head", "options")


class ContractError(Exception):
    """The swagger cannot answer the question asked (unknown api-version, operation, status...)."""


# --------------------------------------------------------------------------------------------------
# Loading and $ref resolution


@cache
def load_json(path: Path) -> Any:
    with path.open(encoding="utf-8-sig") as fh:
        return json.load(fh)


@cache
def load_document(path: Path) -> Any:
    """A contract as this module reads it: swagger 2.0 as is, OpenAPI 3.0 through from_openapi3."""
    doc = load_json(path)
    if isinstance(doc, dict) and "openapi" in doc:
        if not str(doc["openapi"]).startswith("3.0"):
            raise ContractError(f"{path}: OpenAPI {doc['openapi']} is not read (3.0 only)")
        return from_openapi3(doc)
    return doc


#: Documents that replace a file's own (a widened copy, see SwaggerDoc's ``widenings``).
Documents = Mapping[Path, Any]


def _pointer_get(doc: Any, pointer: str) -> Any:
    node = doc
    if pointer in ("", "/"):
        return node
    for raw in pointer.lstrip("/").split("/"):
        token = unquote(raw).replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def _document(path: Path, documents: Documents | None) -> Any:
    if documents and path in documents:
        return documents[path]
    return load_document(path)


def resolve_ref(
    ref: str, base_file: Path, documents: Documents | None = None
) -> tuple[Path, str, Any]:
    """Resolve ``ref`` relative to ``base_file``; return (file, pointer, target node)."""
    file_part, _, pointer = ref.partition("#")
    target_file = (base_file.parent / file_part).resolve() if file_part else base_file
    if not target_file.is_file():
        raise ContractError(
            f"$ref {ref!r} (from {base_file}) points at a missing file {target_file}"
        )
    try:
        node = _pointer_get(_document(target_file, documents), pointer)
    except (KeyError, IndexError, ValueError) as exc:
        raise ContractError(f"$ref {ref!r} (from {base_file}) does not resolve") from exc
    return target_file, pointer, node


# --------------------------------------------------------------------------------------------------
# OpenAPI 3.0 → the swagger 2.0 structure

_SCHEMAS_REF = "#/components/schemas/"
_PARAMETERS_REF = "#/components/parameters/"
# Keywords whose value is a literal (never a schema, never rewritten).
_LITERAL_KEYWORDS = frozenset({"enum", "default", "example", "examples", "required", "const"})


def from_openapi3(doc: dict[str, Any]) -> dict[str, Any]:
    """Rewrite an OpenAPI 3.0 document into the swagger 2.0 structure this module reads:

    * ``components/schemas`` → ``definitions`` (``components/parameters`` → ``parameters``), and
      every ``$ref`` to them rewritten (``#/components/schemas/X`` → ``#/definitions/X``);
    * ``nullable: true`` → ``x-nullable: true`` (the same meaning: null is allowed, and nothing
      else allows it);
    * ``discriminator: {propertyName, mapping}`` → ``discriminator: propertyName``, each mapping
      target getting ``x-ms-discriminator-value`` (its subtypes list the base in ``allOf``, as in
      swagger 2.0; without a mapping, the value is the definition's name in both);
    * a response's ``content``: the JSON media type's schema → ``schema``; content of another
      media type only (octet-stream...) → ``schema: {type: file}``; none → no schema;
    * ``requestBody`` → a ``body`` parameter (JSON), or ``formData`` parameters (multipart);
    * ``type: string, format: binary`` → ``type: file``.

    ``anyOf`` / ``oneOf`` are kept as they are (the compiler reads them); everything else
    (``x-ms-examples``, descriptions, headers) is carried over untouched.
    """
    components = doc.get("components") or {}
    schemas = components.get("schemas") or {}
    values: dict[str, str] = {}
    for base in schemas.values():
        discriminator = base.get("discriminator") if isinstance(base, dict) else None
        if isinstance(discriminator, dict):
            for value, ref in (discriminator.get("mapping") or {}).items():
                values[str(ref).removeprefix(_SCHEMAS_REF)] = value
    definitions = {}
    for name, node in schemas.items():
        definitions[name] = _schema3(node)
        if name in values and isinstance(definitions[name], dict):
            definitions[name]["x-ms-discriminator-value"] = values[name]
    out = {k: v for k, v in doc.items() if k not in ("openapi", "components", "paths")}
    out |= {
        "swagger": "2.0",
        "x-openapi": doc["openapi"],
        "paths": {path: _path_item3(item, schemas) for path, item in doc.get("paths", {}).items()},
        "definitions": definitions,
        "parameters": {
            name: _parameter3(param) for name, param in (components.get("parameters") or {}).items()
        },
    }
    return out


def _schema3(node: Any) -> Any:
    if isinstance(node, list):
        return [_schema3(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _ref3(value)
        elif key == "nullable":
            if value is True:
                out["x-nullable"] = True
        elif key == "discriminator" and isinstance(value, dict):
            out[key] = value["propertyName"]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _schema3(prop) for name, prop in value.items()}
        elif key in _LITERAL_KEYWORDS:
            out[key] = value
        else:
            out[key] = _schema3(value)
    if out.get("type") == "string" and out.get("format") == "binary":
        out["type"] = "file"
        del out["format"]
    return out


def _ref3(ref: str) -> str:
    if ref.startswith(_SCHEMAS_REF):
        return "#/definitions/" + ref.removeprefix(_SCHEMAS_REF)
    if ref.startswith(_PARAMETERS_REF):
        return "#/parameters/" + ref.removeprefix(_PARAMETERS_REF)
    return ref


def _path_item3(item: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        if key in HTTP_METHODS and isinstance(value, dict):
            out[key] = _operation3(value, schemas)
        elif key == "parameters":
            out[key] = [_parameter3(p) for p in value]
        else:
            out[key] = value
    return out


def _operation3(op: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in op.items() if k not in ("parameters", "requestBody", "responses")}
    out["parameters"] = [_parameter3(p) for p in op.get("parameters", [])]
    if "requestBody" in op:
        out["parameters"] += _request_body3(op["requestBody"], schemas)
    out["responses"] = {code: _response3(r) for code, r in op.get("responses", {}).items()}
    return out


def _parameter3(param: dict[str, Any]) -> dict[str, Any]:
    """A path/query/header parameter; its ``schema`` stays nested (only ``in``/``name`` and a body
    parameter's schema are read here)."""
    if "$ref" in param:
        return {"$ref": _ref3(param["$ref"])}
    out = dict(param)
    if "schema" in out:
        out["schema"] = _schema3(out["schema"])
    return out


def _json_media(content: dict[str, Any]) -> dict[str, Any] | None:
    for media_type, media in content.items():
        base = media_type.split(";")[0].strip().lower()
        if base == "application/json" or base.endswith("+json"):
            return media if isinstance(media, dict) else {}
    return None


def _request_body3(body: dict[str, Any], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    if "$ref" in body:
        raise ContractError(f"requestBody $ref {body['$ref']!r} is not read")
    content = body.get("content") or {}
    json_media = _json_media(content)
    if json_media is not None:
        return [
            {
                "name": "body",
                "in": "body",
                "required": bool(body.get("required", False)),
                "schema": _schema3(json_media.get("schema", {})),
            }
        ]
    form = content.get("multipart/form-data") or content.get("application/x-www-form-urlencoded")
    if form is None:
        return []
    schema = form.get("schema") or {}
    if "$ref" in schema:
        schema = schemas.get(str(schema["$ref"]).removeprefix(_SCHEMAS_REF), {})
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "formData", "required": name in required, "schema": _schema3(prop)}
        for name, prop in (schema.get("properties") or {}).items()
    ]


def _response3(response: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in response.items() if k != "content"}
    content = response.get("content") or {}
    json_media = _json_media(content)
    if json_media is not None and "schema" in json_media:
        out["schema"] = _schema3(json_media["schema"])
    elif content:
        out["schema"] = {"type": "file"}
    return out


# --------------------------------------------------------------------------------------------------
# Formats

_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$"
)
_ARM_ID = re.compile(r"^/(subscriptions|providers|tenants)/", re.IGNORECASE)

FORMAT_CHECKER = jsonschema.FormatChecker(formats=())


@FORMAT_CHECKER.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_DATE_TIME.match(value))


@FORMAT_CHECKER.checks("int32")
def _is_int32(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        return True
    return -(2**31) <= value < 2**31


@FORMAT_CHECKER.checks("int64")
def _is_int64(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        return True
    return -(2**63) <= value < 2**63


@FORMAT_CHECKER.checks("unixtime")
def _is_unixtime(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return 0 <= value < 2**40


@FORMAT_CHECKER.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


@FORMAT_CHECKER.checks("arm-id")
def _is_arm_id(value: object) -> bool:
    return not isinstance(value, str) or bool(_ARM_ID.match(value))


_CHECKED_FORMATS = {"date-time", "int32", "int64", "unixtime", "uuid", "arm-id"}

# Schema keywords that keep their meaning unchanged from swagger 2.0 to Draft 7.
_PLAIN_KEYWORDS = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
)


# --------------------------------------------------------------------------------------------------
# Compilation


@dataclass
class _Compiler:
    """Turns swagger nodes into one Draft 7 schema whose definitions hold every $ref target."""

    direction: str  # "response" or "request"
    strict_enums: bool = False
    documents: Documents | None = None
    definitions: dict[str, Any] = field(default_factory=dict)
    _keys: dict[tuple[str, str, bool], str] = field(default_factory=dict)

    def ref(
        self, ref: str, base_file: Path, *, plain: bool = False, parent: bool = False
    ) -> dict[str, Any]:
        """`parent`: the target is an allOf parent of what is being validated, so it is not
        closed (its `additionalProperties: false` means "nothing beyond this type and its
        subtypes' properties", which the subtype's own schema says)."""
        target_file, pointer, node = resolve_ref(ref, base_file, self.documents)
        dispatch = not plain and isinstance(node, dict) and "discriminator" in node
        key_id = (str(target_file), pointer, dispatch, parent)
        if key_id not in self._keys:
            stem = pointer.rsplit("/", 1)[-1] or target_file.stem
            key = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)
            if dispatch:
                key += ".dispatch"
            if parent:
                key += ".parent"
            while key in self.definitions:
                key += "_"
            self._keys[key_id] = key
            self.definitions[key] = {}  # placeholder, breaks recursion
            if dispatch:
                self.definitions[key] = self._dispatch(node, target_file, pointer)
            else:
                self.definitions[key] = self.schema(node, target_file, parent=parent)
        return {"$ref": "#/definitions/" + self._keys[key_id]}

    def _dispatch(self, node: dict[str, Any], file: Path, pointer: str) -> dict[str, Any]:
        """A base with a discriminator: validate the base, and the subtype its value names."""
        prop = node["discriminator"]
        base_ref = "#" + pointer
        parts: list[dict[str, Any]] = [self.ref(base_ref, file, plain=True, parent=True)]
        definitions = _document(file, self.documents).get("definitions", {})
        for name, sub in definitions.items():
            if not isinstance(sub, dict) or "#/definitions/" + name == base_ref:
                continue
            parents = [p.get("$ref") for p in sub.get("allOf", []) if isinstance(p, dict)]
            if base_ref not in parents:
                continue
            value = sub.get("x-ms-discriminator-value", name)
            parts.append(
                {
                    "if": {"properties": {prop: {"const": value}}, "required": [prop]},
                    "then": self.ref("#/definitions/" + name, file),
                }
            )
        return {"allOf": parts}

    def schema(self, node: Any, file: Path, *, parent: bool = False) -> Any:
        if not isinstance(node, dict):
            return {}
        out = self._schema(node, file, parent)
        if node.get("x-nullable") is True:
            return {"anyOf": [{"type": "null"}, out]}
        return out

    def _schema(self, node: dict[str, Any], file: Path, parent: bool = False) -> dict[str, Any]:
        if "$ref" in node:
            return self.ref(node["$ref"], file)
        out: dict[str, Any] = {}
        typ = node.get("type")
        if typ == "file":
            return {}
        if isinstance(typ, str):
            out["type"] = typ
        for kw in _PLAIN_KEYWORDS:
            if kw in node:
                out[kw] = node[kw]
        fmt = node.get("format")
        if fmt in _CHECKED_FORMATS:
            out["format"] = fmt
        if "enum" in node:
            x_ms_enum = node.get("x-ms-enum") or {}
            if self.strict_enums or not x_ms_enum.get("modelAsString", False):
                out["enum"] = list(node["enum"])
                if node.get("x-nullable") is True:
                    out["enum"].append(None)
        if "properties" in node:
            out["properties"] = {
                name: self.schema(prop, file) for name, prop in node["properties"].items()
            }
        required = list(node.get("required", []))
        if required and self.direction == "request":
            props = node.get("properties", {})
            required = [r for r in required if not self._read_only(props.get(r), file)]
        if required:
            out["required"] = required
        if node.get("additionalProperties") is False and parent:
            pass  # the subtype being validated closes the hierarchy
        elif node.get("additionalProperties") is False and "allOf" in node:
            # AutoRest's meaning: nothing beyond the properties of the whole allOf hierarchy
            # (Draft 7's additionalProperties would see only this node's own).
            out["propertyNames"] = {"enum": sorted(self._hierarchy_names(node, file))}
        elif "additionalProperties" in node:
            extra = node["additionalProperties"]
            out["additionalProperties"] = (
                extra if isinstance(extra, bool) else self.schema(extra, file)
            )
        if "items" in node:
            out["items"] = self.schema(node["items"], file)
        if "allOf" in node:
            out["allOf"] = [
                self.ref(part["$ref"], file, plain=True, parent=True)
                if isinstance(part, dict) and "$ref" in part
                else self.schema(part, file)
                for part in node["allOf"]
            ]
        for combinator in ("anyOf", "oneOf"):  # OpenAPI 3 (swagger 2.0 has neither)
            if combinator in node:
                out[combinator] = [self.schema(part, file) for part in node[combinator]]
        if "discriminator" in node and "$ref" not in node:
            # An inline base: the discriminator property must at least be present.
            out.setdefault("required", [])
            if node["discriminator"] not in out["required"]:
                out["required"].append(node["discriminator"])
        return out

    def _hierarchy_names(self, node: dict[str, Any], file: Path) -> set[str]:
        names = set(node.get("properties", {}))
        for part in node.get("allOf", []):
            if isinstance(part, dict) and "$ref" in part:
                parent_file, _, parent = resolve_ref(part["$ref"], file, self.documents)
                names |= self._hierarchy_names(parent, parent_file)
            elif isinstance(part, dict):
                names |= self._hierarchy_names(part, file)
        return names

    def _read_only(self, prop: Any, file: Path) -> bool:
        if not isinstance(prop, dict):
            return False
        if prop.get("readOnly") is True:
            return True
        if "$ref" in prop:
            try:
                _, _, target = resolve_ref(prop["$ref"], file, self.documents)
            except ContractError:
                return False
            return isinstance(target, dict) and target.get("readOnly") is True
        return False


def compile_schema(
    node: Any,
    file: Path,
    direction: str = "response",
    *,
    strict_enums: bool = False,
    documents: Documents | None = None,
) -> dict[str, Any]:
    """Compile one swagger schema node (defined in ``file``) into a self-contained Draft 7 schema.

    ``strict_enums`` also holds ``x-ms-enum`` ``modelAsString`` enums to their documented values:
    Azure may add values at any time (so the plain check accepts any string), but an emulator has no
    business inventing ones.
    """
    compiler = _Compiler(direction, strict_enums, documents)
    root = compiler.schema(node, file)
    if "$ref" in root:  # Draft 7 ignores a $ref's siblings
        root = {"allOf": [root]}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        **root,
        "definitions": compiler.definitions,
    }


class BodyValidator:
    """A JSON body validator for one (operation, status or request) of a swagger file."""

    def __init__(self, schema: dict[str, Any], what: str) -> None:
        jsonschema.Draft7Validator.check_schema(schema)
        self.schema = schema
        self.what = what
        self._validator = jsonschema.Draft7Validator(schema, format_checker=FORMAT_CHECKER)

    def errors(self, body: Any) -> list[str]:
        return [_describe(e) for e in self._validator.iter_errors(body)]

    def validate(self, body: Any) -> None:
        errs = self.errors(body)
        if errs:
            raise AssertionError(
                f"{self.what}: body drifts from the swagger:\n  " + "\n  ".join(errs)
            )


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "<root>"
    msg = f"{where}: {error.message[:300]}"
    if error.context:
        inner = sorted(error.context, key=lambda e: len(list(e.absolute_path)), reverse=True)[:3]
        msg += " [" + "; ".join(_describe(e) for e in inner) + "]"
    return msg


# --------------------------------------------------------------------------------------------------
# Swagger documents


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    node: dict[str, Any]
    parameters: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Widening:
    """A named deviation from a contract: the schema at ``pointer`` (a JSON pointer into the
    document as this module reads it, e.g. ``/definitions/X/properties/status``) also accepts
    ``accepts`` (a schema in that document's terms, e.g. ``{"enum": ["paused"]}``)."""

    pointer: str
    accepts: dict[str, Any]
    reason: str


def widen(doc: Any, widenings: Iterable[Widening], what: str) -> Any:
    """A copy of ``doc`` with each widened schema replaced by ``anyOf: [itself, accepts]``."""
    doc = copy.deepcopy(doc)
    for widening in widenings:
        parent_pointer, _, last = widening.pointer.rpartition("/")
        try:
            parent = _pointer_get(doc, parent_pointer)
            key: Any = int(last) if isinstance(parent, list) else unquote(last)
            node = parent[key]
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ContractError(f"{what}: widening {widening.pointer} does not resolve") from exc
        if not isinstance(node, dict):
            raise ContractError(f"{what}: widening {widening.pointer} is not a schema")
        parent[key] = {"anyOf": [node, copy.deepcopy(widening.accepts)]}
    return doc


class SwaggerDoc:
    def __init__(
        self, relpath: str, root: Path | None = None, widenings: Iterable[Widening] = ()
    ) -> None:
        root = root or CONTRACTS_DIR
        self.relpath = relpath
        self.file = (root / relpath).resolve()
        if not self.file.is_file():
            raise ContractError(f"swagger file {relpath} is not vendored under {root}")
        self.widenings = tuple(widenings)
        self.doc = load_document(self.file)
        self._documents: dict[Path, Any] = {}
        if self.widenings:
            self.doc = widen(self.doc, self.widenings, relpath)
            self._documents[self.file] = self.doc
        self.operations: dict[str, Operation] = {}
        for path, item in self.doc.get("paths", {}).items():
            common = [self._param(p) for p in item.get("parameters", [])]
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                op = item[method]
                own = [self._param(p) for p in op.get("parameters", [])]
                names = {(p.get("in"), p.get("name")) for p in own}
                params = tuple(
                    own + [p for p in common if (p.get("in"), p.get("name")) not in names]
                )
                self.operations[op["operationId"]] = Operation(
                    op["operationId"], method.upper(), path, op, params
                )
        self._cache: dict[tuple[str, str, str, bool], BodyValidator | None] = {}

    def __repr__(self) -> str:
        extra = f", {len(self.widenings)} widenings" if self.widenings else ""
        return f"SwaggerDoc({self.relpath!r}{extra})"

    def _param(self, param: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in param:
            _, _, target = resolve_ref(param["$ref"], self.file, self._documents)
            return dict(target)
        return param

    def operation(self, operation_id: str) -> Operation:
        try:
            return self.operations[operation_id]
        except KeyError:
            raise ContractError(f"{self.relpath} has no operation {operation_id!r}") from None

    def response_spec(self, operation_id: str, status: int | str) -> tuple[str, dict[str, Any]]:
        """The swagger response object for ``status``; ``default`` only for error statuses."""
        responses = self.operation(operation_id).node.get("responses", {})
        code = str(status)
        if code in responses:
            return code, responses[code]
        if int(code) >= 400 and "default" in responses:
            return "default", responses["default"]
        raise ContractError(
            f"{operation_id} ({self.relpath}) does not document status {code}; "
            f"documented: {sorted(responses)}"
        )

    def response_validator(
        self, operation_id: str, status: int | str, *, strict_enums: bool = False
    ) -> BodyValidator | None:
        """The JSON body's validator; None when the swagger documents no body (or a binary one)."""
        code, spec = self.response_spec(operation_id, status)
        key = ("response", operation_id, code, strict_enums)
        if key not in self._cache:
            schema = spec.get("schema")
            if schema is None or (isinstance(schema, dict) and schema.get("type") == "file"):
                self._cache[key] = None
            else:
                self._cache[key] = BodyValidator(
                    compile_schema(
                        schema,
                        self.file,
                        "response",
                        strict_enums=strict_enums,
                        documents=self._documents,
                    ),
                    f"{operation_id} {code} response ({self.relpath})",
                )
        return self._cache[key]

    def response_has_body(self, operation_id: str, status: int | str) -> bool:
        return "schema" in self.response_spec(operation_id, status)[1]

    def response_is_binary(self, operation_id: str, status: int | str) -> bool:
        schema = self.response_spec(operation_id, status)[1].get("schema")
        return isinstance(schema, dict) and schema.get("type") == "file"

    def body_parameter(self, operation_id: str) -> dict[str, Any] | None:
        for param in self.operation(operation_id).parameters:
            if param.get("in") == "body":
                return param
        return None

    def request_validator(
        self, operation_id: str, *, strict_enums: bool = False
    ) -> BodyValidator | None:
        param = self.body_parameter(operation_id)
        key = ("request", operation_id, "", strict_enums)
        if key not in self._cache:
            if param is None:
                self._cache[key] = None
            else:
                schema = param.get("schema", {})
                self._cache[key] = BodyValidator(
                    compile_schema(
                        schema,
                        self.file,
                        "request",
                        strict_enums=strict_enums,
                        documents=self._documents,
                    ),
                    f"{operation_id} request body ({self.relpath})",
                )
        return self._cache[key]

    def validate_response(
        self, operation_id: str, status: int | str, body: Any, *, strict_enums: bool = False
    ) -> list[str]:
        """Errors (empty when the body matches) for a parsed JSON body (None = no/empty body)."""
        try:
            code, spec = self.response_spec(operation_id, status)
        except ContractError as exc:
            return [str(exc)]
        schema = spec.get("schema")
        if schema is None:
            if body not in (None, "", b""):
                return [f"{operation_id} {code}: the swagger documents no body, got {body!r:.200}"]
            return []
        if isinstance(schema, dict) and schema.get("type") == "file":
            return []
        if body is None:
            return [f"{operation_id} {code}: the swagger documents a JSON body, got none"]
        validator = self.response_validator(operation_id, status, strict_enums=strict_enums)
        assert validator is not None
        return validator.errors(body)

    def examples(self) -> Iterator[Example]:
        """Every x-ms-examples file that is vendored, with the operation it belongs to."""
        for op in self.operations.values():
            for title, ref in op.node.get("x-ms-examples", {}).items():
                path = (self.file.parent / ref["$ref"]).resolve()
                if path.is_file():
                    yield Example(self, op.operation_id, title, path, load_json(path))
        if self.relpath in ARM_SWAGGERS.values():
            for rel, operation_id in EXTRA_ARM_EXAMPLES.items():
                path = (CONTRACTS_DIR / rel).resolve()
                yield Example(self, operation_id, path.stem, path, load_json(path))


@dataclass(frozen=True)
class Example:
    doc: SwaggerDoc
    operation_id: str
    title: str
    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(CONTRACTS_DIR)}::{self.operation_id}"

    @property
    def request_body(self) -> Any:
        param = self.doc.body_parameter(self.operation_id)
        if param is None:
            return None
        return self.data.get("parameters", {}).get(param["name"])

    def responses(self) -> Iterator[tuple[str, Any]]:
        """(status, body) for every documented response; body None when the example has none."""
        for status, resp in self.data.get("responses", {}).items():
            yield status, (resp or {}).get("body")


@cache
def swagger(relpath: str) -> SwaggerDoc:
    return SwaggerDoc(relpath)


def all_swaggers() -> list[SwaggerDoc]:
    return [swagger(p) for p in (*DATA_PLANE_SWAGGERS.values(), *ARM_SWAGGERS.values())]


def is_arm_path(path: str) -> bool:
    return path.lower().startswith("/subscriptions/") or path.lower().startswith("/providers/")


def is_v1_path(path: str) -> bool:
    """A v1 API path (``/{account}/openai/v1/...``): its api-version is "v1", whatever the query."""
    return bool(_V1_PATH.match(path))


def contract_version(path: str, api_version: str | None) -> str | None:
    """The key of the contract tables for a request: "v1" on the v1 paths, else its api-version."""
    return V1 if not is_arm_path(path) and is_v1_path(path) else api_version


def swagger_for(path: str, api_version: str | None) -> SwaggerDoc:
    """The swagger that governs a request, from its plane (ARM or data) and its api-version."""
    table = ARM_SWAGGERS if is_arm_path(path) else DATA_PLANE_SWAGGERS
    plane = "ARM" if table is ARM_SWAGGERS else "data plane"
    if table is DATA_PLANE_SWAGGERS and api_version == V1 and not is_v1_path(path):
        raise ContractError(f"{path}: only the v1 paths are api-version {V1!r}")
    api_version = contract_version(path, api_version)
    if api_version not in table:
        raise ContractError(
            f"{plane} request {path} has api-version {api_version!r}; vendored: {sorted(table)}"
        )
    return swagger(table[api_version])


@cache
def lro_status_validator() -> BodyValidator:
    """The ARM RPC async-operation status body (common-types v6 OperationStatusResult)."""
    file = (CONTRACTS_DIR / ARM_COMMON_TYPES).resolve()
    schema = compile_schema({"$ref": "#/definitions/OperationStatusResult"}, file)
    # ARM RPC: terminal failures carry an error.
    schema = {
        "allOf": [
            schema,
            {
                "properties": {"status": {"type": "string", "minLength": 1}},
                "if": {"properties": {"status": {"enum": ["Failed", "Canceled"]}}},
                "then": {"required": ["error"]},
            },
        ],
        "definitions": schema.pop("definitions"),
    }
    return BodyValidator(
        schema, "ARM async operation status (common-types v6 OperationStatusResult)"
    )


@cache
def arm_error_validator() -> BodyValidator:
    """The ARM error body (common-types v6 ErrorResponse) with error.code and message required."""
    file = (CONTRACTS_DIR / ARM_COMMON_TYPES).resolve()
    schema = compile_schema({"$ref": "#/definitions/ErrorResponse"}, file)
    schema = {
        "allOf": [
            schema,
            {
                "required": ["error"],
                "properties": {
                    "error": {
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "minLength": 1},
                            "message": {"type": "string", "minLength": 1},
                        },
                    }
                },
            },
        ],
        "definitions": schema.pop("definitions"),
    }
    return BodyValidator(schema, "ARM error (common-types v6 ErrorResponse)")


def data_plane_error_codes(doc: SwaggerDoc) -> list[str]:
    """The documented data-plane ErrorCode values (x-ms-enum, so the schema itself is open)."""
    return list(doc.doc["definitions"]["ErrorCode"]["enum"])


#: ChatCompletions_Create (POST /deployments/{deployment-id}/chat/completions) is defined in the
#: data-plane *inference* spec (OpenAPI 3.0, ``inference/stable/2024-10-21/inference.json``), which
#: is not vendored here. This is a hand-written subset of its ``createChatCompletionResponse``
#: (the fields the OpenAI SDK and the reconciler's smoke test read), not an official schema.
CHAT_COMPLETION_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "object": {"enum": ["chat.completion"]},
        "created": {"type": "integer", "format": "unixtime"},
        "model": {"type": "string", "minLength": 1},
        "system_fingerprint": {"type": ["string", "null"]},
        "choices": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["index", "message", "finish_reason"],
                "properties": {
                    "index": {"type": "integer"},
                    "finish_reason": {
                        "enum": [
                            "stop",
                            "length",
                            "tool_calls",
                            "content_filter",
                            "function_call",
                            None,
                        ]
                    },
                    "message": {
                        "type": "object",
                        "required": ["role"],
                        "properties": {
                            "role": {"enum": ["assistant"]},
                            "content": {"type": ["string", "null"]},
                        },
                    },
                },
            },
        },
        "usage": {
            "type": "object",
            "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
            "properties": {
                "prompt_tokens": {"type": "integer", "minimum": 0},
                "completion_tokens": {"type": "integer", "minimum": 0},
                "total_tokens": {"type": "integer", "minimum": 0},
            },
        },
    },
}


@cache
def chat_completion_validator() -> BodyValidator:
    return BodyValidator(
        {"$schema": "http://json-schema.org/draft-07/schema#", **CHAT_COMPLETION_RESPONSE},
        "ChatCompletions_Create 200 (hand-written subset of the inference spec)",
    )
