"""The swagger validator itself: it accepts every official example and rejects broken variants."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.contract import swagger as sw

EXAMPLES = [ex for doc in sw.all_swaggers() for ex in doc.examples()]
RESPONSES = [(ex, status, body) for ex in EXAMPLES for status, body in ex.responses()]
STABLE = sw.swagger(sw.DATA_PLANE_SWAGGERS["2024-10-21"])
PREVIEW = sw.swagger(sw.DATA_PLANE_SWAGGERS["2025-04-01-preview"])
V1 = sw.swagger(sw.DATA_PLANE_SWAGGERS["v1"])
ARM = sw.swagger(sw.ARM_SWAGGERS["2025-09-01"])


def _example(relpath_suffix: str, operation_id: str) -> sw.Example:
    for ex in EXAMPLES:
        if str(ex.path).endswith(relpath_suffix) and ex.operation_id == operation_id:
            return ex
    raise LookupError(relpath_suffix)


def _body(relpath_suffix: str, operation_id: str, status: str) -> Any:
    ex = _example(relpath_suffix, operation_id)
    return copy.deepcopy(dict(ex.responses())[status])


# --------------------------------------------------------------------------------------------------
# Vendored files


def test_vendored_files_are_complete_and_self_contained() -> None:
    root = sw.CONTRACTS_DIR
    assert (root / "LICENSE").read_text().count("MIT License") >= 1
    sources = (root / "SOURCES.md").read_text()
    vendored = sorted(root.rglob("*.json"))
    assert vendored, f"no swagger is vendored under {root}"
    for path in vendored:
        rel = path.relative_to(root).as_posix()
        assert f"`{rel}`" in sources, f"{rel} has no provenance row in SOURCES.md"
        assert "/work/shared" not in path.read_text()
    # every non-example $ref of the three swaggers resolves inside tests/contracts
    for doc in sw.all_swaggers():
        for node, base in _refs(doc.doc, doc.file):
            sw.resolve_ref(node, base)


def _refs(node: Any, base: Path) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    seen: set[tuple[str, str]] = set()
    stack: list[tuple[Any, Path]] = [(node, base)]
    while stack:
        cur, file = stack.pop()
        if isinstance(cur, dict):
            for key, value in cur.items():
                if key == "x-ms-examples":
                    continue
                if key == "$ref" and isinstance(value, str):
                    out.append((value, file))
                    target_file, pointer, target = sw.resolve_ref(value, file)
                    if (str(target_file), pointer) not in seen:
                        seen.add((str(target_file), pointer))
                        stack.append((target, target_file))
                else:
                    stack.append((value, file))
        elif isinstance(cur, list):
            stack.extend((v, file) for v in cur)
    return out


def test_every_vendored_example_is_attached_to_an_operation() -> None:
    used = {ex.path for ex in EXAMPLES}
    vendored = sorted(sw.CONTRACTS_DIR.rglob("examples/*.json"))
    assert vendored, "no x-ms-examples file is vendored"
    for path in vendored:
        assert path.resolve() in used, f"{path} is vendored but not checked"


def test_api_version_selects_the_swagger() -> None:
    assert sw.swagger_for("/acct/openai/files", "2024-10-21") is STABLE
    assert sw.swagger_for("/acct/openai/fine_tuning/jobs", "2025-04-01-preview") is PREVIEW
    assert sw.swagger_for("/subscriptions/s/resourceGroups/rg", "2025-09-01") is ARM
    with pytest.raises(sw.ContractError):
        sw.swagger_for("/acct/openai/files", "2023-05-15")
    with pytest.raises(sw.ContractError):
        sw.swagger_for("/subscriptions/s", "2024-10-21")
    assert "FineTuning_Pause" in PREVIEW.operations
    assert "FineTuning_Pause" not in STABLE.operations
    # the v1 paths take no api-version (and ignore one)
    assert sw.swagger_for("/acct/openai/v1/fine_tuning/jobs", None) is V1
    assert sw.swagger_for("/acct/openai/v1/files", "2024-10-21") is V1
    with pytest.raises(sw.ContractError):
        sw.swagger_for("/acct/openai/files", "v1")
    assert V1.operation("pauseFineTuningJob").path == "/fine_tuning/jobs/{fine_tuning_job_id}/pause"


# --------------------------------------------------------------------------------------------------
# Self-check: every official example validates


@pytest.mark.parametrize(
    ("example", "status", "body"),
    RESPONSES,
    ids=[f"{ex.name}::{status}" for ex, status, _ in RESPONSES],
)
def test_official_example_responses_validate(example: sw.Example, status: str, body: Any) -> None:
    if example.doc.response_is_binary(example.operation_id, status):
        pytest.skip("binary body")
    for strict in (False, True):
        errors = example.doc.validate_response(
            example.operation_id, status, body, strict_enums=strict
        )
        assert errors == [], errors


REQUESTS = [ex for ex in EXAMPLES if ex.request_body is not None]


@pytest.mark.parametrize("example", REQUESTS, ids=[ex.name for ex in REQUESTS])
def test_official_example_requests_validate(example: sw.Example) -> None:
    validator = example.doc.request_validator(example.operation_id, strict_enums=True)
    assert validator is not None
    assert validator.errors(example.request_body) == []


def test_the_self_check_covers_the_operations_that_matter() -> None:
    covered = {(ex.doc.relpath, ex.operation_id) for ex, _, _ in RESPONSES}
    for op in (
        "Files_Upload", "Files_Import", "Files_List", "Files_Get", "Files_Delete",
        "FineTuning_Create", "FineTuning_Get", "FineTuning_List", "FineTuning_Cancel",
        "FineTuning_GetEvents", "FineTuning_GetCheckpoints", "Models_List", "Models_Get",
    ):  # fmt: skip
        assert (STABLE.relpath, op) in covered, op
    for op in ("FineTuning_Pause", "FineTuning_Resume", "FineTuning_Create", "Files_GetContent"):
        assert (PREVIEW.relpath, op) in covered, op
    for op in (
        "Accounts_Get", "Deployments_Get", "Deployments_CreateOrUpdate", "Deployments_List",
        "Deployments_Update", "Deployments_Delete", "Deployments_ListSkus",
    ):  # fmt: skip
        assert (ARM.relpath, op) in covered, op


# --------------------------------------------------------------------------------------------------
# ...and rejects broken variants (so it can fail)


DROP = object()

S = "stable/2024-10-21/examples/"
P = "2025-04-01-preview/examples/"
A = "stable/2025-09-01/examples/"
A1 = "stable/2024-10-01/examples/"

# (name, swagger, example file, operation, status, path into the body, new value or DROP, error)
BROKEN: list[tuple[str, sw.SwaggerDoc, str, str, str, tuple[str | int, ...], Any, str]] = [
    ("job missing required model", STABLE, S + "get_finetuning_job.json", "FineTuning_Get",
     "200", ("model",), DROP, "'model' is a required property"),
    ("job created_at as string", STABLE, S + "get_finetuning_job.json", "FineTuning_Get",
     "200", ("created_at",), "yesterday", "is not of type 'integer'"),
    ("job null fine_tuned_model (no x-nullable)", STABLE, S + "get_finetuning_job.json",
     "FineTuning_Get", "200", ("fine_tuned_model",), None, "None is not of type 'string'"),
    ("job hyperparameters wrong type", PREVIEW, P + "get_finetuning_job.json", "FineTuning_Get",
     "200", ("hyperparameters",), {"n_epochs": "three"}, "is not of type 'integer'"),
    ("paused job missing training_file", PREVIEW, P + "pause_finetuning_job.json",
     "FineTuning_Pause", "200", ("training_file",), DROP,
     "'training_file' is a required property"),
    ("file missing filename", STABLE, S + "upload_file.json", "Files_Upload", "201",
     ("filename",), DROP, "'filename' is a required property"),
    ("file bytes null", STABLE, S + "get_file.json", "Files_Get", "200", ("bytes",), None,
     "None is not of type 'integer'"),
    ("file list data not an array", STABLE, S + "get_files.json", "Files_List", "200",
     ("data",), {"id": "x"}, "is not of type 'array'"),
    ("file list item missing purpose", STABLE, S + "get_files.json", "Files_List", "200",
     ("data", 0, "purpose"), DROP, "'purpose' is a required property"),
    ("delete file deleted as string", STABLE, S + "delete_file.json", "Files_Delete", "200",
     ("deleted",), "true", "is not of type 'boolean'"),
    ("event missing message", STABLE, S + "get_finetuning_job_events.json",
     "FineTuning_GetEvents", "200", ("data", 0, "message"), DROP,
     "'message' is a required property"),
    ("checkpoint step_number string", STABLE, S + "get_finetuning_job_checkpoints.json",
     "FineTuning_GetCheckpoints", "200", ("data", 0, "step_number"), "10",
     "is not of type 'integer'"),
    ("model missing capabilities", STABLE, S + "get_model_base.json", "Models_Get", "200",
     ("capabilities",), DROP, "'capabilities' is a required property"),
    ("model capabilities missing embeddings", STABLE, S + "get_models.json", "Models_List",
     "200", ("data", 0, "capabilities", "embeddings"), DROP,
     "'embeddings' is a required property"),
    ("deployment sku without name", ARM, A + "GetDeployment.json", "Deployments_Get", "200",
     ("sku", "name"), DROP, "'name' is a required property"),
    ("deployment model format as int", ARM, A1 + "PutDeployment.json",
     "Deployments_CreateOrUpdate", "201", ("properties", "model", "format"), 5,
     "is not of type 'string'"),
    ("deployment id as int (common-types ProxyResource via allOf)", ARM,
     A + "GetDeployment.json", "Deployments_Get", "200", ("id",), 7, "is not of type 'string'"),
    ("deployment systemData.createdAt not a date-time (common-types v3)", ARM,
     A + "GetDeployment.json", "Deployments_Get", "200", ("systemData",),
     {"createdAt": "last tuesday"}, "is not a 'date-time'"),
    ("deployment list value not an array", ARM, A1 + "ListDeployments.json", "Deployments_List",
     "200", ("value",), "none", "is not of type 'array'"),
    ("deployment skus capacity as string", ARM, A + "ListDeploymentSkus.json",
     "Deployments_ListSkus", "200", ("value", 0, "capacity"), "big", "is not of type 'object'"),
    ("account properties as list", ARM, A + "GetAccount.json", "Accounts_Get", "200",
     ("properties",), [], "is not of type 'object'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "doc", "suffix", "op", "status", "path", "value", "expect"),
    BROKEN,
    ids=[b[0] for b in BROKEN],
)
def test_broken_variants_are_rejected(
    name: str,
    doc: sw.SwaggerDoc,
    suffix: str,
    op: str,
    status: str,
    path: tuple[str | int, ...],
    value: Any,
    expect: str,
) -> None:
    body = _body(suffix, op, status)
    assert doc.validate_response(op, status, body) == []
    node = body
    for key in path[:-1]:
        node = node[key]
    if value is DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    errors = doc.validate_response(op, status, body)
    assert errors, f"{name}: the validator accepted a broken body"
    assert any(expect in e for e in errors), errors


def test_undocumented_status_and_missing_bodies_are_rejected() -> None:
    ok = _body(A1 + "PutDeployment.json", "Deployments_CreateOrUpdate", "201")
    # PUT deployment may answer 200/201 only (202 makes the SDK raise)
    assert any("does not document status 202" in e
               for e in ARM.validate_response("Deployments_CreateOrUpdate", 202, ok))  # fmt: skip
    # a documented JSON body that is absent
    assert ARM.validate_response("Deployments_Get", 200, None)
    # a body where the swagger documents none (FineTuning_Delete 204)
    assert STABLE.validate_response("FineTuning_Delete", 204, {"deleted": True})
    assert STABLE.validate_response("FineTuning_Delete", 204, None) == []
    # binary content is not JSON-validated
    assert PREVIEW.validate_response("Files_GetContent", 200, None) == []


def test_error_bodies() -> None:
    good = {"error": {"code": "notFound", "message": "File not found."}}
    assert STABLE.validate_response("Files_Get", 404, good) == []
    assert STABLE.validate_response("Files_Get", 404, {"error": {"code": "notFound"}})
    assert STABLE.validate_response("Files_Get", 404, {"detail": "not found"})
    assert (
        STABLE.validate_response("Files_Get", 404, {"error": {"code": "nope", "message": "m"}})
        == []
    )
    assert STABLE.validate_response(
        "Files_Get", 404, {"error": {"code": "nope", "message": "m"}}, strict_enums=True
    )
    assert "jsonlValidationFailed" in sw.data_plane_error_codes(STABLE)
    arm = {"error": {"code": "DeploymentNotFound", "message": "not found"}}
    assert ARM.validate_response("Deployments_Get", 404, arm) == []
    assert sw.arm_error_validator().errors(arm) == []
    assert sw.arm_error_validator().errors({"error": {"message": "no code"}})
    assert sw.arm_error_validator().errors({"error": {"code": 5, "message": "m"}})


def test_lro_status_shape() -> None:
    v = sw.lro_status_validator()
    assert v.errors({"id": "/subscriptions/s/providers/p/locations/l/operationResults/1",
                     "name": "1", "status": "InProgress"}) == []  # fmt: skip
    assert v.errors({"status": "Succeeded", "startTime": "2024-01-01T00:00:00Z"}) == []
    assert v.errors({"name": "1"})  # status is required
    assert v.errors({"status": "Failed"})  # a failure carries its error
    assert v.errors({"status": "Failed", "error": {"code": "X", "message": "m"}}) == []
    assert v.errors({"status": "Succeeded", "startTime": "soon"})
    assert v.errors({"status": "Succeeded", "percentComplete": 140})


# --------------------------------------------------------------------------------------------------
# Swagger semantics, on a synthetic document


SYNTHETIC = {
    "swagger": "2.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/pets/{id}": {
            "put": {
                "operationId": "Pets_Put",
                "parameters": [
                    {"in": "body", "name": "pet", "schema": {"$ref": "#/definitions/Pet"}}
                ],
                "responses": {
                    "200": {"description": "ok", "schema": {"$ref": "#/definitions/Pet"}},
                    "default": {"description": "err", "schema": {"$ref": "#/definitions/Err"}},
                },
            }
        }
    },
    "definitions": {
        "Pet": {
            "type": "object",
            "required": ["id", "kind", "name"],
            "discriminator": "kind",
            "properties": {
                "id": {"type": "string", "readOnly": True},
                "kind": {"type": "string"},
                "name": {"type": "string", "minLength": 1},
                "nick": {"type": "string", "x-nullable": True},
                "size": {"type": "string", "enum": ["s", "m"]},
                "color": {
                    "type": "string",
                    "enum": ["red"],
                    "x-ms-enum": {"name": "Color", "modelAsString": True},
                },
                "shade": {
                    "type": "string",
                    "enum": ["dark"],
                    "x-ms-enum": {"name": "Shade", "modelAsString": False},
                },
                "closed": {"$ref": "#/definitions/Closed"},
                "born": {"type": "string", "format": "date-time"},
                "weight": {"type": "integer", "format": "int32"},
            },
        },
        "Cat": {
            "x-ms-discriminator-value": "cat",
            "allOf": [{"$ref": "#/definitions/Pet"}],
            "required": ["lives"],
            "properties": {"lives": {"type": "integer"}},
        },
        "Dog": {
            "allOf": [{"$ref": "#/definitions/Pet"}],
            "required": ["barks"],
            "properties": {"barks": {"type": "boolean"}},
        },
        "Closed": {"type": "object", "additionalProperties": False, "properties": {"a": {}}},
        "Err": {"type": "object", "required": ["error"]},
    },
}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> sw.SwaggerDoc:
    root = tmp_path_factory.mktemp("swagger")
    (root / "pets.json").write_text(json.dumps(SYNTHETIC))
    return sw.SwaggerDoc("pets.json", root=root)


PET = {"id": "1", "kind": "bird", "name": "tweety"}


@pytest.mark.parametrize(
    ("patch", "ok"),
    [
        ({}, True),
        ({"extra": {"any": "thing"}}, True),  # additionalProperties defaults to true
        ({"nick": None}, True),  # x-nullable
        ({"name": None}, False),  # not nullable
        ({"size": "xl"}, False),  # plain enum is strict
        ({"color": "blue"}, True),  # modelAsString: any string
        ({"color": 3}, False),
        ({"shade": "light"}, False),  # modelAsString: false is strict
        ({"closed": {"a": 1}}, True),
        ({"closed": {"b": 1}}, False),  # additionalProperties: false
        ({"born": "2024-05-01T10:00:00.1234567Z"}, True),
        ({"born": "May 1st"}, False),
        ({"weight": 2**31}, False),  # int32 range
        ({"kind": "cat", "lives": 9}, True),  # discriminator → subtype
        ({"kind": "cat"}, False),  # subtype's required
        ({"kind": "cat", "lives": "nine"}, False),
        ({"kind": "Dog", "barks": True}, True),  # no x-ms-discriminator-value: the name
        ({"kind": "Dog"}, False),
        ({"kind": "fish"}, True),  # unknown value: lenient, base only
    ],
)
def test_swagger_semantics(synthetic: sw.SwaggerDoc, patch: dict[str, Any], ok: bool) -> None:
    errors = synthetic.validate_response("Pets_Put", 200, {**PET, **patch})
    assert (errors == []) is ok, errors


def test_read_only_is_not_required_in_requests(synthetic: sw.SwaggerDoc) -> None:
    request = synthetic.request_validator("Pets_Put")
    assert request is not None
    assert request.errors({"kind": "bird", "name": "x"}) == []
    assert synthetic.validate_response("Pets_Put", 200, {"kind": "bird", "name": "x"})
    assert synthetic.validate_response("Pets_Put", 500, {"error": {}}) == []
    assert synthetic.validate_response("Pets_Put", 500, {"oops": 1})


# --------------------------------------------------------------------------------------------------
# The v1 spec (OpenAPI 3.0) through the adapter


def _v1_job(**changes: Any) -> dict[str, Any]:
    job = {
        "object": "fine_tuning.job", "id": "ftjob-1", "created_at": 1, "error": None,
        "fine_tuned_model": None, "finished_at": None, "hyperparameters": {"n_epochs": "auto"},
        "model": "m", "organization_id": "", "result_files": [], "status": "queued",
        "trained_tokens": None, "training_file": "file-1", "validation_file": None, "seed": 1,
        "metadata": None,
    }  # fmt: skip
    job.update(changes)
    return job


GRADER = {"type": "string_check", "name": "s", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip


@pytest.mark.parametrize(
    ("op", "body", "ok"),
    [
        ("retrieveFineTuningJob", _v1_job(), True),
        ("retrieveFineTuningJob", _v1_job(organization_id=None), False),  # not nullable
        ("retrieveFineTuningJob", {k: v for k, v in _v1_job().items() if k != "seed"}, False),
        ("retrieveFineTuningJob", _v1_job(status="paused"), False),  # OpenAI's six only
        ("retrieveFineTuningJob", _v1_job(error={"code": "c", "message": "m", "param": None}),
         True),  # nullable inside a nullable object
        ("retrieveFineTuningJob", _v1_job(error={"code": "c", "message": "m"}), False),
        ("retrieveFineTuningJob", _v1_job(hyperparameters={"n_epochs": "many"}), False),  # anyOf
        ("retrieveFineTuningJob", _v1_job(hyperparameters={"batch_size": None}), True),
        ("retrieveFineTuningJob", _v1_job(method={"type": "reinforcement", "reinforcement":
                                                  {"grader": GRADER}}), True),
        ("retrieveFineTuningJob", _v1_job(method={"type": "reinforcement", "reinforcement":
                                                  {"grader": {**GRADER, "operation": "gt"}}}),
         False),
        ("retrieveFineTuningJob", _v1_job(method={"type": "rlhf"}), False),
        ("retrieveFineTuningJob", _v1_job(integrations=[{"type": "wandb"}]), False),  # mapping
        ("retrieveFineTuningJob", _v1_job(integrations=[{"type": "wandb", "wandb":
                                                         {"project": "p"}}]), True),
        ("retrieveModel", {"id": "m", "created": 1, "object": "model", "owned_by": "o"}, True),
        ("retrieveModel", {"id": "m", "created_at": 1, "object": "model"}, False),
        ("listFineTuningEvents", {"object": "list", "has_more": False, "data": [
            {"object": "fine_tuning.job.event", "id": "e", "created_at": 1, "level": "warn",
             "message": "m"}]}, True),
        ("listFineTuningEvents", {"object": "list", "has_more": False, "data": [
            {"object": "fine_tuning.job.event", "id": "e", "created_at": 1, "level": "warning",
             "message": "m"}]}, False),
        ("listFiles", {"object": "list", "data": [], "has_more": False}, False),  # first/last_id
        ("validateGrader", {"grader": {"type": "python", "name": "p", "source": "x"}}, True),
    ],
)  # fmt: skip
def test_v1_semantics(op: str, body: Any, ok: bool) -> None:
    errors = V1.validate_response(op, 200, body, strict_enums=True)
    assert (errors == []) is ok, errors


def test_v1_statuses_bodies_and_errors() -> None:
    assert V1.validate_response("createFineTuningJob", 201, _v1_job())  # v1 answers 200
    assert V1.validate_response("createFineTuningJob", 200, _v1_job()) == []
    assert V1.response_is_binary("downloadFile", 200)
    assert V1.validate_response("downloadFile", 200, None) == []
    error = {"error": {"code": "notFound", "message": "m", "param": "p", "type": "error"}}
    assert V1.validate_response("retrieveFile", 404, error) == []
    assert V1.validate_response("retrieveFile", 404, {"error": {"code": 4}})
    request = V1.request_validator("createFineTuningJob", strict_enums=True)
    assert request is not None and V1.body_parameter("createFineTuningJob") is not None
    assert request.errors({"model": "gpt-4o-mini", "training_file": "f", "suffix": None}) == []
    assert request.errors({"model": "gpt-4o-mini", "training_file": "f", "suffix": "x" * 65})
    assert V1.body_parameter("createFile") is None  # multipart: formData parameters
    form = {p["name"] for p in V1.operation("createFile").parameters if p["in"] == "formData"}
    assert form == {"file", "expires_after", "purpose"}


def test_widenings_name_what_they_let_through() -> None:
    status = sw.Widening(
        "/definitions/OpenAI.FineTuningJob/properties/status", {"enum": ["paused"]}, "why"
    )
    widened = sw.SwaggerDoc(sw.V1_SPEC, widenings=[status])
    assert widened.validate_response("retrieveFineTuningJob", 200, _v1_job(status="paused")) == []
    assert widened.validate_response("retrieveFineTuningJob", 200, _v1_job(status="pausing"))
    assert V1.validate_response("retrieveFineTuningJob", 200, _v1_job(status="paused"))  # as is
    with pytest.raises(sw.ContractError, match="does not resolve"):
        sw.SwaggerDoc(sw.V1_SPEC, widenings=[sw.Widening("/definitions/Nope/x", {}, "why")])


SYNTHETIC_3 = {
    "openapi": "3.0.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/pets/{id}": {
            "post": {
                "operationId": "putPet",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"$ref": "#/components/schemas/Id"}}],
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
                "responses": {
                    "200": {"description": "ok", "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
                    "204": {"description": "none"},
                    "default": {"description": "err", "content": {
                        "application/json": {"schema": {"type": "object", "required": ["error"]}}
                    }},
                },
            },
        },
    },
    "components": {"schemas": {
        "Id": {"type": "string"},
        "Pet": {
            "type": "object",
            "required": ["kind", "name"],
            "properties": {
                "kind": {"type": "string"},
                "name": {"type": "string", "nullable": True},
                "nullable": {"type": "integer"},  # a property named like a keyword
                "age": {"anyOf": [{"type": "string", "enum": ["young"]}, {"type": "integer"}]},
                "photo": {"type": "string", "format": "binary"},
            },
            "discriminator": {"propertyName": "kind",
                              "mapping": {"cat": "#/components/schemas/Cat"}},
        },
        "Cat": {"type": "object", "required": ["kind", "lives"],
                "properties": {"kind": {"type": "string", "enum": ["cat"]},
                               "lives": {"type": "integer"}},
                "allOf": [{"$ref": "#/components/schemas/Pet"}]},
    }},
}  # fmt: skip


@pytest.fixture(scope="module")
def synthetic3(tmp_path_factory: pytest.TempPathFactory) -> sw.SwaggerDoc:
    root = tmp_path_factory.mktemp("openapi3")
    (root / "pets3.json").write_text(json.dumps(SYNTHETIC_3))
    return sw.SwaggerDoc("pets3.json", root=root)


def test_the_adapter_rewrites_openapi3(synthetic3: sw.SwaggerDoc) -> None:
    adapted = synthetic3.doc
    assert adapted["swagger"] == "2.0" and adapted["x-openapi"] == "3.0.0"
    pet = adapted["definitions"]["Pet"]
    assert pet["discriminator"] == "kind" and pet["properties"]["name"]["x-nullable"] is True
    assert pet["properties"]["nullable"] == {"type": "integer"}
    assert pet["properties"]["photo"] == {"type": "file"}
    assert adapted["definitions"]["Cat"]["x-ms-discriminator-value"] == "cat"
    assert adapted["definitions"]["Cat"]["allOf"] == [{"$ref": "#/definitions/Pet"}]
    assert "$ref" not in json.dumps(adapted).replace('"$ref": "#/definitions/', "")
    body = synthetic3.body_parameter("putPet")
    assert body is not None and body["in"] == "body" and body["required"] is True
    assert not synthetic3.response_has_body("putPet", 204)


@pytest.mark.parametrize(
    ("patch", "ok"),
    [
        ({}, True),
        ({"name": None}, True),  # nullable
        ({"kind": None}, False),
        ({"nullable": "x"}, False),
        ({"age": "young"}, True),  # anyOf
        ({"age": 3}, True),
        ({"age": "old"}, False),
        ({"kind": "cat", "lives": 9}, True),  # discriminator mapping → subtype
        ({"kind": "cat"}, False),
        ({"kind": "dog"}, True),  # unknown value: lenient, base only
    ],
)
def test_openapi3_semantics(synthetic3: sw.SwaggerDoc, patch: dict[str, Any], ok: bool) -> None:
    errors = synthetic3.validate_response("putPet", 200, {"kind": "bird", "name": "x", **patch})
    assert (errors == []) is ok, errors
    assert synthetic3.validate_response("putPet", 500, {"oops": 1})
