"""The published format: specs/ftops.schema.json and specs/README.md are generated from the
models, are not stale, accept every example and reject what the loader rejects."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from reconciler.specs import schema as schema_module
from reconciler.specs.loading import Loaded, load_file
from reconciler.specs.models import SPEC_CLASSES, Metadata, SpecModel

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "specs" / "ftops.schema.json"
README = ROOT / "specs" / "README.md"
REGENERATE = "python -m reconciler.specs.schema > specs/ftops.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return schema_module.json_schema()


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def all_models() -> dict[str, type[SpecModel]]:
    """Every model reachable from the kinds and the envelope, by class name."""
    found: dict[str, type[SpecModel]] = {}

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, SpecModel):
            if annotation.__name__ not in found:
                found[annotation.__name__] = annotation
                for info in annotation.model_fields.values():
                    visit(info.annotation)
            return
        for arg in getattr(annotation, "__args__", ()):
            visit(arg)

    for model in [Metadata, *SPEC_CLASSES.values()]:
        visit(model)
    return found


def field_aliases() -> list[tuple[str, str]]:
    return sorted(
        (name, info.alias or field)
        for name, model in all_models().items()
        for field, info in model.model_fields.items()
    )


def example_documents() -> list[Any]:
    params = []
    for file in sorted((ROOT / "examples").rglob("*.y*ml")):
        if "ci" in file.relative_to(ROOT / "examples").parts:  # CI pipelines, not specs
            continue
        for index, doc in enumerate(yaml.safe_load_all(file.read_text(encoding="utf-8"))):
            if doc is not None:
                rel = file.relative_to(ROOT)
                params.append(pytest.param(doc, id=f"{rel}#{index}-{doc.get('kind')}"))
    return params


# --- not stale ------------------------------------------------------------------------------


def test_committed_schema_is_current(schema: dict[str, Any]) -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == schema, f"specs/ftops.schema.json is stale: run {REGENERATE}"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_module.schema_text()


def test_readme_tables_are_current() -> None:
    text = README.read_text(encoding="utf-8")
    assert schema_module.render_readme(text) == text, (
        "specs/README.md is stale: run python -m reconciler.specs.schema --readme specs/README.md"
    )


def test_main_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert schema_module.main([]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(SCHEMA_FILE.read_text())


# --- complete -------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "alias"), field_aliases())
def test_every_field_is_described(schema: dict[str, Any], model: str, alias: str) -> None:
    prop = schema["$defs"][model]["properties"][alias]
    assert prop.get("description"), f"give {model}.{alias} a docstring in specs/models.py"


def test_every_model_is_described(schema: dict[str, Any]) -> None:
    assert set(schema["$defs"]) == set(all_models())
    missing = [name for name, d in schema["$defs"].items() if not d.get("description")]
    assert not missing, f"give {missing} a class docstring in specs/models.py"


def test_no_stale_docs() -> None:
    assert set(schema_module.KEY_NAMES) == set(SPEC_CLASSES)


@pytest.mark.parametrize(("model", "alias"), field_aliases())
def test_readme_lists_every_field(model: str, alias: str) -> None:
    assert f"`{alias}`" in README.read_text(encoding="utf-8") or (
        f".{alias}`" in README.read_text(encoding="utf-8")
    ), f"{model}.{alias} is not in specs/README.md"


def test_readme_has_a_table_row_per_spec_field(schema: dict[str, Any]) -> None:
    text = README.read_text(encoding="utf-8")
    for kind in SPEC_CLASSES:
        section = text.split(f"### {kind}\n", 1)[1].split("\n### ", 1)[0]
        if kind == "LocalRun":  # TrainingRun's first name: its rows are TrainingRun's
            assert "The first name of `TrainingRun`" in section
            continue
        for row in schema_module.field_rows(kind, schema):
            assert f"| `{row['field']}` |" in section, f"{kind}: {row['field']} has no row"


def test_every_object_forbids_extra_fields(schema: dict[str, Any]) -> None:
    assert schema["additionalProperties"] is False
    for name, definition in schema["$defs"].items():
        assert definition["additionalProperties"] is False, name


def test_kinds_select_their_spec_model(schema: dict[str, Any]) -> None:
    rules = {r["if"]["properties"]["kind"]["const"]: r["then"] for r in schema["allOf"]}
    assert set(rules) == set(SPEC_CLASSES) == set(schema["properties"]["kind"]["enum"])
    for kind, then in rules.items():
        assert SPEC_CLASSES[kind].__name__ in json.dumps(then["properties"]["spec"])
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


# --- the examples pass ----------------------------------------------------------------------


@pytest.mark.parametrize("document", example_documents())
def test_example_documents_validate(
    validator: jsonschema.Draft202012Validator, document: dict[str, Any]
) -> None:
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not problems


def test_there_are_examples() -> None:
    kinds = {p.values[0]["kind"] for p in example_documents()}
    assert {"Project", "Account", "Dataset", "FineTune", "Deployment"} <= kinds


# --- the schema and the loader agree --------------------------------------------------------

ACCOUNT = {
    "apiVersion": "ftops/v1",
    "kind": "Account",
    "metadata": {"name": "main"},
    "spec": {
        "subscription": "00000000-0000-0000-0000-000000000000",
        "resourceGroup": "rg",
        "accountName": "acct-eastus2",
        "region": "eastus2",
    },
}
DEPLOYMENT = {
    "apiVersion": "ftops/v1",
    "kind": "Deployment",
    "metadata": {"name": "travel"},
    "spec": {
        "account": "main",
        "model": {"fineTune": "travel-v1", "checkpoint": {"epoch": 2}},
        "sku": {"name": "GlobalStandard", "capacity": 1},
    },
}
DATASET = {
    "apiVersion": "ftops/v1",
    "kind": "Dataset",
    "metadata": {"name": "travel"},
    "spec": {"path": "data/travel.jsonl"},
}
PROJECT = {"apiVersion": "ftops/v1", "kind": "Project", "metadata": {"name": "demo"}}


def changed(document: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    node = doc
    for part in path[:-1]:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(path[-1])
    else:
        node[path[-1]] = value
    return doc


DELETE = object()

INVALID = {
    "unknown top-level field": changed(ACCOUNT, ("status",), {}),
    "unknown spec field": changed(ACCOUNT, ("spec", "location"), "eastus2"),
    "unknown nested field": changed(DEPLOYMENT, ("spec", "sku", "tier"), "Standard"),
    "unknown field in a union variant": changed(
        DEPLOYMENT, ("spec", "model", "checkpoint", "step"), 10
    ),
    "missing required field": changed(ACCOUNT, ("spec", "region"), DELETE),
    "missing spec": changed(ACCOUNT, ("spec",), DELETE),
    "wrong apiVersion": changed(ACCOUNT, ("apiVersion",), "ftops/v2"),
    "unknown kind": changed(ACCOUNT, ("kind",), "Cluster"),
    "bad name": changed(ACCOUNT, ("metadata", "name"), "Main_Account"),
    "bad enum": changed(DEPLOYMENT, ("spec", "onMissing"), "ignore"),
    "capacity below 1": changed(DEPLOYMENT, ("spec", "sku", "capacity"), 0),
    "checkpoint epoch 0": changed(DEPLOYMENT, ("spec", "model", "checkpoint", "epoch"), 0),
    "dataset with path and url": changed(DATASET, ("spec", "url"), "https://example.com/a.jsonl"),
    "dataset with neither": changed(DATASET, ("spec", "path"), DELETE),
    "bad accountName": changed(ACCOUNT, ("spec", "accountName"), "-bad name"),
    "apiKeyEnv with a dash": changed(ACCOUNT, ("spec", "auth"), {"apiKeyEnv": "MY-KEY"}),
    "auth neither entra nor apiKeyEnv": changed(ACCOUNT, ("spec", "auth"), "key"),
}

VALID = {
    "account": ACCOUNT,
    "project without spec": PROJECT,
    "project with null spec": {**PROJECT, "spec": None},
    "deployment of a checkpoint": DEPLOYMENT,
    "deployment of a base model": changed(
        DEPLOYMENT, ("spec", "model"), {"base": "gpt-4o-mini", "version": "2024-07-18"}
    ),
    "dataset with url": changed(
        changed(DATASET, ("spec", "path"), DELETE), ("spec", "url"), "https://x/a.jsonl"
    ),
    "accountName from the environment": changed(
        ACCOUNT, ("spec", "accountName"), "ftops-${env:FTOPS_TEST_STAGE}-eastus2"
    ),
    "api key auth": changed(ACCOUNT, ("spec", "auth"), {"apiKeyEnv": "AZURE_OPENAI_KEY"}),
    "labels": changed(ACCOUNT, ("metadata", "labels"), {"team": "travel"}),
}


def loader_accepts(document: dict[str, Any], tmp_path: Path) -> bool:
    file = tmp_path / "doc.yaml"
    file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    loaded = Loaded()
    load_file(file, loaded)
    return not loaded.diagnostics and len(loaded.documents) == 1


@pytest.mark.parametrize("document", list(INVALID.values()), ids=list(INVALID))
def test_invalid_documents_fail_the_schema_and_the_loader(
    validator: jsonschema.Draft202012Validator, document: dict[str, Any], tmp_path: Path
) -> None:
    assert list(validator.iter_errors(document)), "the schema accepts it"
    assert not loader_accepts(document, tmp_path), "the loader accepts it"


@pytest.mark.parametrize("document", list(VALID.values()), ids=list(VALID))
def test_valid_documents_pass_the_schema_and_the_loader(
    validator: jsonschema.Draft202012Validator,
    document: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FTOPS_TEST_STAGE", "dev")
    assert not [e.message for e in validator.iter_errors(document)]
    assert loader_accepts(document, tmp_path)


def test_an_unknown_field_names_the_field(validator: jsonschema.Draft202012Validator) -> None:
    document = changed(DEPLOYMENT, ("spec", "sku", "tier"), "Standard")
    messages = [e.message for e in validator.iter_errors(document)]
    assert any("'tier'" in m for m in messages), messages
