"""The published format: a JSON Schema (draft 2020-12) of one ftops/v1 document, and the field
reference of specs/README.md, both generated from the pydantic models in `models.py`.

    python -m reconciler.specs.schema > specs/ftops.schema.json
    python -m reconciler.specs.schema --readme specs/README.md    # rewrite the generated tables

The models say what is valid and, in their docstrings, what each kind, model and field means; this
module adds which identity a field enters (from the policy markers on the models,
`reconciler.specs.fields`) and the constraints that the models enforce in code rather than in
types (a Dataset has exactly one of `path` and `url`; `${env:NAME}` in an Account's identity
fields). Tests check that the committed schema and README are not stale and that every field is
described.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from reconciler.specs.fields import policy_at
from reconciler.specs.loading import ENV_ALLOWED, ENV_REF
from reconciler.specs.models import API_VERSION, SPEC_CLASSES, Metadata, SpecModel

DRAFT = "https://json-schema.org/draft/2020-12/schema"
REF = "#/$defs/{model}"

# Kind → the name of the identity its `Identity`/`InPlace`/`Replaces` fields enter. Which fields
# enter it, and what a change of each does, is declared on the models (reconciler/specs/fields.py).
KEY_NAMES: dict[str, str] = {
    "Project": "",
    "Account": "",
    "Dataset": "the file name `{dataset}.{sha256[:16]}.jsonl`",
    "FineTune": "job key",
    "Deployment": "`ftops-key` tag",
    "LocalRun": "run key",
    "TrainingRun": "run key",
    "MLWorkspace": "",
}

ENV_REF_PATTERN = ENV_REF.pattern  # anywhere in the value; the loader substitutes it


# --- the schema -----------------------------------------------------------------------------


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one ftops/v1 document (a YAML file holds several)."""
    defs = _model_defs()
    document: dict[str, Any] = {
        "$schema": DRAFT,
        "title": f"ftops document ({API_VERSION})",
        "description": "One document of an ftops spec set (multi-document YAML). "
        "Reference: specs/README.md.",
        "type": "object",
        "properties": {
            "apiVersion": {"const": API_VERSION, "description": "Always ftops/v1."},
            "kind": {
                "enum": list(SPEC_CLASSES),
                "description": "What the document declares.",
            },
            "metadata": {"$ref": REF.format(model="Metadata")},
            "spec": {"type": ["object", "null"], "description": "The kind's fields."},
        },
        "required": ["apiVersion", "kind", "metadata"],
        "additionalProperties": False,
        "allOf": [_kind_rule(kind, cls.__name__, defs) for kind, cls in SPEC_CLASSES.items()],
        "$defs": defs,
    }
    return document


def _model_defs() -> dict[str, Any]:
    models: list[type[SpecModel]] = [Metadata, *SPEC_CLASSES.values()]
    _, top = models_json_schema(
        [(m, "validation") for m in models], by_alias=True, ref_template=REF
    )
    defs: dict[str, Any] = top["$defs"]
    for definition in defs.values():
        _describe(definition)
    _dataset_source(defs["DatasetSpec"])
    for kind, field in sorted(ENV_ALLOWED):
        _allow_env(defs[SPEC_CLASSES[kind].__name__]["properties"][field])
    return dict(sorted(defs.items()))


def _describe(definition: dict[str, Any]) -> None:
    """Drop pydantic's generated titles (the descriptions, the models' docstrings, say more) and
    unwrap the docstrings' lines."""
    for part in (definition, *definition.get("properties", {}).values()):
        if "description" in part:
            part["description"] = " ".join(part["description"].split())
    for prop in definition.get("properties", {}).values():
        prop.pop("title", None)


def _dataset_source(definition: dict[str, Any]) -> None:
    """The model validator's rule, as a schema: exactly one of path and url, and not null."""
    definition["oneOf"] = [
        {"required": ["path"], "properties": {"path": {"type": "string"}}},
        {"required": ["url"], "properties": {"url": {"type": "string"}}},
    ]


def _allow_env(prop: dict[str, Any]) -> None:
    """`${env:NAME}` is substituted before validation, so a pattern applies to the result."""
    env = {"type": "string", "pattern": ENV_REF_PATTERN}
    meta: dict[str, Any] = {k: prop.pop(k) for k in ("description", "default") if k in prop}
    variants = prop.pop("anyOf", None) or [dict(prop)]
    prop.clear()
    prop.update(meta)
    prop["anyOf"] = [*variants, env]
    prop["description"] = prop.get("description", "") + " May be `${env:NAME}`."


def _kind_rule(kind: str, model: str, defs: dict[str, Any]) -> dict[str, Any]:
    definition = defs[model]
    needs_spec = bool(definition.get("required") or definition.get("oneOf"))
    spec_ref: dict[str, Any] = {"$ref": REF.format(model=model)}
    then: dict[str, Any] = {
        "properties": {"spec": spec_ref if needs_spec else {"anyOf": [spec_ref, {"type": "null"}]}}
    }
    if needs_spec:
        then["required"] = ["spec"]
    return {
        "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
        "then": then,
    }


# --- the reference tables of specs/README.md ------------------------------------------------

BEGIN = "<!-- BEGIN GENERATED: python -m reconciler.specs.schema --readme specs/README.md -->"
END = "<!-- END GENERATED -->"


def field_rows(kind: str, schema: dict[str, Any] | None = None) -> Iterator[dict[str, str]]:
    """One row per field of a kind's spec, nested fields as dotted paths, in model order."""
    schema = schema or json_schema()
    defs = schema["$defs"]
    yield from _rows(kind, defs, SPEC_CLASSES[kind].__name__, ())


def _rows(
    kind: str, defs: dict[str, Any], model: str, parent: tuple[str, ...]
) -> Iterator[dict[str, str]]:
    definition = defs[model]
    required = set(definition.get("required", ()))
    for alias, prop in definition["properties"].items():
        path = (*parent, alias)
        dotted = ".".join(path)
        yield {
            "field": dotted,
            "type": _type_text(prop, defs),
            "default": "**required**" if alias in required else _default_text(prop),
            "key": _identity(kind, dotted),
            "env": "yes" if len(path) == 1 and (kind, alias) in ENV_ALLOWED else "",
            "meaning": prop.get("description", ""),
        }
        for ref in _refs(prop):
            yield from _rows(kind, defs, ref, path)


def _refs(prop: dict[str, Any]) -> list[str]:
    """The models a property holds: directly, in a union, or as the items of a list."""
    found = [prop["$ref"].rsplit("/", 1)[-1]] if "$ref" in prop else []
    variants = [*prop.get("anyOf", ()), *prop.get("oneOf", ())]
    variants += [prop["items"]] if "items" in prop else []
    for variant in variants:
        found += _refs(variant)
    return found


def _identity(kind: str, dotted: str) -> str:
    """The reference table's words for a field's policy marker."""
    policy = policy_at(SPEC_CLASSES[kind], dotted)
    if policy is None:
        return ""
    note = f" ({policy.note})" if policy.note else ""
    if policy.in_key:
        effect = {"in-place": "; updated in place", "replace": "; forces replacement"}
        return KEY_NAMES[kind] + effect.get(policy.effect, "") + note
    if not policy.secret_free:
        return f"no; {policy.note}"
    if policy.effect == "new":
        return policy.note  # where the resource lives: another value is another resource
    return f"no ({policy.note})" if policy.note else "no"


def _type_text(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "oneOf" in prop and "discriminator" in prop:
        tag = prop["discriminator"]["propertyName"]
        return "one of " + " \\| ".join(
            f"`{{{tag}: {t}}}`" for t in prop["discriminator"]["mapping"]
        )
    if "anyOf" in prop or "oneOf" in prop:
        variants = [v for v in prop.get("anyOf", prop.get("oneOf", ())) if v.get("type") != "null"]
        return " \\| ".join(_type_text(v, defs) for v in variants)
    if "$ref" in prop:
        return "`{" + ", ".join(defs[prop["$ref"].rsplit("/", 1)[-1]]["properties"]) + "}`"
    if "const" in prop:
        return f"`{prop['const']}`"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type")
    if isinstance(kind, list):
        return " \\| ".join(_type_text({"type": k}, defs) for k in kind if k != "null")
    if kind == "array":
        return f"list of {_type_text(prop.get('items', {}), defs)}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of string → {_type_text(prop['additionalProperties'], defs)}"
    text = str(kind or "any")
    if "pattern" in prop:
        if prop["pattern"] == ENV_REF_PATTERN:
            return "`${env:NAME}`"
        text += f" `{prop['pattern']}`"
    bounds = (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    )
    limits = [f"{sign} {prop[key]}" for key, sign in bounds if key in prop]
    return text + (f" ({', '.join(limits)})" if limits else "")


def _default_text(prop: dict[str, Any]) -> str:
    if "default" not in prop:
        return ""
    value = prop["default"]
    if value is None:
        return "unset"
    if isinstance(value, dict):
        return "see below" if value else "`{}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def kind_doc(kind: str) -> str:
    """What a kind declares: its spec model's docstring, on one line."""
    return " ".join((SPEC_CLASSES[kind].__doc__ or "").split())


def reference_markdown(schema: dict[str, Any] | None = None) -> str:
    """The generated part of specs/README.md: one table of fields per kind."""
    schema = schema or json_schema()
    lines = [BEGIN, "", *_envelope_table(schema), ""]
    for kind in SPEC_CLASSES:
        if kind == "LocalRun":  # TrainingRun's first name: one table, under the current name
            lines += [f"### {kind}", "", "The first name of `TrainingRun`: the same fields.", ""]
            continue
        lines += [f"### {kind}", "", kind_doc(kind), ""]
        lines += [
            "| field (under `spec`) | type | default | identity / key | `${env:}` | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for row in field_rows(kind, schema):
            cells = [f"`{row['field']}`", row["type"], row["default"], row["key"], row["env"]]
            lines.append("| " + " | ".join([*cells, _cell(row["meaning"])]) + " |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines) + "\n"


def _envelope_table(schema: dict[str, Any]) -> list[str]:
    defs, top = schema["$defs"], schema["properties"]
    rows = [(name, top[name], name in schema["required"]) for name in ("apiVersion", "kind")]
    meta = defs["Metadata"]
    rows += [
        (f"metadata.{alias}", prop, alias in meta.get("required", ()))
        for alias, prop in meta["properties"].items()
    ]
    rows.append(("spec", top["spec"], False))
    lines = [
        "### Every document",
        "",
        "| field | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, prop, required in rows:
        default = "**required**" if required else _default_text(prop)
        if name == "spec":
            default = "required unless the kind has no required field (Project)"
        typ = _type_text(prop, defs)
        lines.append(f"| `{name}` | {typ} | {default} | {_cell(prop.get('description', ''))} |")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_readme(current: str, schema: dict[str, Any] | None = None) -> str:
    """`current` with its generated block replaced by `reference_markdown()`."""
    start, end = current.index(BEGIN), current.index(END) + len(END)
    block = reference_markdown(schema).rstrip("\n")
    return current[:start] + block + current[end:]


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--readme", type=Path, help="rewrite the generated tables of this file")
    args = parser.parse_args(argv)
    if args.readme:
        text = args.readme.read_text(encoding="utf-8")
        args.readme.write_text(render_readme(text), encoding="utf-8")
        return 0
    sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
