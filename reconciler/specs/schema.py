"""The published format: a JSON Schema (draft 2020-12) of one ftops/v1 document, and the field
reference of specs/README.md, both generated from the pydantic models in `models.py`.

    python -m reconciler.specs.schema > specs/ftops.schema.json
    python -m reconciler.specs.schema --readme specs/README.md    # rewrite the generated tables

The models say what is valid; this module adds what a reader needs: a description of every field
(`FIELD_DOCS`, unless the model's `Field(description=…)` gives one), which identity a field
enters (from the policy markers on the models, `reconciler.specs.fields`), and the constraints
that the models enforce in code rather than in types (a Dataset has exactly one of `path` and
`url`; `${env:NAME}` in an Account's identity fields). Tests check
that the committed schema and README are not stale and that every field is described.
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

KIND_DOCS: dict[str, str] = {
    "Project": "One per repository: the ownership namespace (its name is written into every "
    "resource ftops creates) and the policy of plan and apply.",
    "Account": "An existing Azure OpenAI / AI Services account. ftops never creates or deletes "
    "accounts (except in the emulator).",
    "Dataset": "A JSONL training or validation file: a path inside the repository, or a URL "
    "to import.",
    "FineTune": "An Azure OpenAI fine-tuning job and the model it produces.",
    "Deployment": "A model deployment in an account: of a fine-tune (or one of its checkpoints), "
    "or of a base model.",
    "LocalRun": "A LoRA/QLoRA fine-tune run on the local machine's GPU (or CPU), producing an "
    "adapter under .ftops/runs/.",
}

MODEL_DOCS: dict[str, str] = {
    "Metadata": "The document's name (unique per kind) and free-form labels.",
    "Budget": "Refuse a plan (exit 4) whose estimates exceed these limits.",
    "Policy": "What plan and apply are allowed to do.",
    "Lock": "How applies of one project are serialized (a file lock when unset).",
    "AzureBlobLock": "Serialize applies with an Azure Blob lease.",
    "ApiKeyAuth": "Authenticate to the data plane with an API key read from an environment "
    "variable.",
    "FineTuneRef": "Continue training from the model another FineTune produces.",
    "Hyperparameters": "Azure's hyperparameters; each may be 'auto' (Azure chooses).",
    "Method": "The training method and its hyperparameters.",
    "CheckpointRef": "One of the checkpoints Azure keeps (the last 3 epochs).",
    "FineTunedModelRef": "The model a FineTune produces, or one of its checkpoints.",
    "BaseModelRef": "A base model by name and version.",
    "Sku": "The deployment type and its capacity.",
    "LocalBaseModel": "Where the base model's weights are.",
    "Quantization": "4-bit quantization of the base model (adapter.type qlora only).",
    "Adapter": "The LoRA adapter to train.",
    "LocalHyperparameters": "Training hyperparameters of a local run.",
    "Compute": "Placement: where and how the run executes. Not part of the run key.",
    "LocalOutputs": "Evaluation and checkpoint cadence. Not part of the run key.",
    **{f"{kind}Spec": doc for kind, doc in KIND_DOCS.items()},
}

# "Model.alias" → what the field means. The model's own Field(description=…) wins when present.
FIELD_DOCS: dict[str, str] = {
    # envelope
    "Metadata.name": "The document's name: lowercase letters, digits and '-', at most 63 "
    "characters. Other documents refer to it; it must be unique per kind.",
    "Metadata.labels": "Free-form string labels. Not used by ftops.",
    # Project
    "ProjectSpec.policy": "What plan and apply are allowed to do.",
    "ProjectSpec.catalog": "A catalog file (fine-tunable models per region, methods, limits, "
    "prices) that overrides the built-in one; relative to the Project's file.",
    "ProjectSpec.lock": "How applies of this project are serialized.",
    "Policy.prune": "Delete owned resources that left the specs (deployments tagged with this "
    "project, files ftops uploaded that nothing needs), as with `--prune`.",
    "Policy.maxDeletes": "Refuse a plan with more deletes than this (exit 4) unless `--force`.",
    "Policy.budget": "Cost limits checked against the plan's estimates.",
    "Budget.maxTrainingCostUsd": "The most the plan's training may cost (estimate, USD).",
    "Budget.maxHostingCostUsdPerHour": "The most the fine-tuned deployments may cost per hour "
    "(estimate, USD).",
    "Lock.azureBlob": "Take an Azure Blob lease instead of a local file lock, so that applies "
    "on different machines (CI runners) are serialized.",
    "AzureBlobLock.accountUrl": "The storage account's blob endpoint, "
    "e.g. https://mystorage.blob.core.windows.net.",
    "AzureBlobLock.container": "The container that holds the lock blob.",
    "AzureBlobLock.blob": "The lock blob's name.",
    # Account
    "AccountSpec.subscription": "The Azure subscription id that holds the account.",
    "AccountSpec.resourceGroup": "The resource group that holds the account.",
    "AccountSpec.accountName": "The Azure OpenAI / AI Services account (resource) name.",
    "AccountSpec.region": "The account's Azure region (e.g. eastus2); the catalog checks that "
    "the base models are fine-tunable there.",
    "AccountSpec.endpoint": "The data-plane endpoint; defaults to "
    "https://{accountName}.openai.azure.com. Must be https.",
    "AccountSpec.tenant": "The Entra tenant of the account, when it differs from the default "
    "credential's. A deployment copying a model from an account in another tenant sends that "
    "tenant's token in x-ms-authorization-auxiliary.",
    "AccountSpec.auth": "Data-plane authentication: `entra` (DefaultAzureCredential, for the "
    "account's tenant) or `{apiKeyEnv: VAR}`. ARM calls always use Entra.",
    "ApiKeyAuth.apiKeyEnv": "The name of the environment variable that holds the API key "
    "(never the key itself).",
    # Dataset
    "DatasetSpec.path": "The JSONL file, relative to the directory of the spec file that "
    "declares it; it must stay inside the repository. Give exactly one of path and url.",
    "DatasetSpec.url": "An https URL (e.g. an Azure Blob SAS URL) of the JSONL file. ftops "
    "streams it into .ftops/cache/datasets/ to validate it, count its tokens and name it by "
    "content, then uploads those bytes, so the URL (and its SAS signature) never reaches a plan, "
    "a receipt or a log. Plain http only for loopback. Give exactly one of path and url.",
    "DatasetSpec.format": "The examples' format: chat (messages), dpo (input + preferred_output "
    "+ non_preferred_output) or completion (prompt + completion); auto detects it.",
    # FineTune
    "FineTuneSpec.account": "The Account (metadata.name) that trains the model.",
    "FineTuneSpec.baseModel": "A base model id (e.g. gpt-4o-mini-2024-07-18), or "
    "`{fineTune: NAME}` to continue from another FineTune's model in the same account "
    "(continuous fine-tuning).",
    "FineTuneSpec.trainingData": "The Dataset (metadata.name) to train on.",
    "FineTuneSpec.validationData": "The Dataset (metadata.name) to validate on.",
    "FineTuneSpec.method": "The training method and hyperparameters.",
    "FineTuneSpec.seed": "The job's random seed (Azure picks one when unset).",
    "FineTuneSpec.suffix": "A label for the job's suffix (default: metadata.name); ftops "
    "appends '-{key[:8]}'. At most 31 characters of [a-zA-Z0-9_-].",
    "FineTuneRef.fineTune": "The upstream FineTune (metadata.name).",
    "Method.type": "supervised (SFT on chat data) or dpo (direct preference optimization).",
    "Method.hyperparameters": "Hyperparameters; each may be 'auto' (Azure chooses).",
    "Hyperparameters.epochs": "Passes over the training data.",
    "Hyperparameters.batchSize": "Examples per training step.",
    "Hyperparameters.learningRateMultiplier": "Multiplier of the base learning rate.",
    "Hyperparameters.beta": "DPO only: how far the model may move from the reference model.",
    # Deployment
    "DeploymentSpec.account": "The Account (metadata.name) to deploy in. When it is not the "
    "fine-tune's account, the deployment is a cross-region (or cross-subscription, "
    "cross-tenant) copy of the model.",
    "DeploymentSpec.deploymentName": "The deployment's name in the account "
    "(default: metadata.name).",
    "DeploymentSpec.model": "What to deploy: `{fineTune: X}`, "
    "`{fineTune: X, checkpoint: {epoch: N}}` or `{base: id, version: v}`.",
    "DeploymentSpec.sku": "The deployment type and capacity.",
    "DeploymentSpec.raiPolicy": "The name of a content-filter (RAI) policy in the account; "
    "Azure's default when unset.",
    "DeploymentSpec.versionUpgradeOption": "Base models only: when Azure moves the deployment "
    "to a new model version.",
    "DeploymentSpec.protect": "Refuse (exit 4) any plan that deletes or replaces this deployment.",
    "DeploymentSpec.onMissing": "When the deployment was deleted outside ftops (Azure removes "
    "fine-tuned deployments after 15 days without traffic): recreate it, or only warn.",
    "FineTunedModelRef.fineTune": "The FineTune (metadata.name) whose model to deploy.",
    "FineTunedModelRef.checkpoint": "Deploy one of the job's checkpoints instead of the final "
    "model.",
    "CheckpointRef.epoch": "The checkpoint's epoch (1-based); Azure keeps the last 3.",
    "BaseModelRef.base": "The base model's name, e.g. gpt-4o-mini.",
    "BaseModelRef.version": "The base model's version, e.g. 2024-07-18.",
    "Sku.name": "The deployment type: Standard, GlobalStandard, DeveloperTier, "
    "ProvisionedManaged, …; changing it replaces the deployment.",
    "Sku.capacity": "Capacity units (thousands of tokens per minute for Standard).",
    # LocalRun
    "LocalRunSpec.baseModel": "The base model to adapt.",
    "LocalRunSpec.method": "sft (supervised, chat data) or dpo (preference pairs).",
    "LocalRunSpec.trainingData": "The Dataset (metadata.name) to train on.",
    "LocalRunSpec.validationData": "The Dataset (metadata.name) to evaluate on.",
    "LocalRunSpec.lossOn": "SFT: train on assistant turns only (honouring weight 0/1), or on "
    "every token.",
    "LocalRunSpec.adapter": "The LoRA adapter.",
    "LocalRunSpec.hyperparameters": "Training hyperparameters.",
    "LocalRunSpec.compute": "Where and how the run executes.",
    "LocalRunSpec.outputs": "Evaluation and checkpoint cadence.",
    "LocalBaseModel.path": "A Hugging Face model directory (safetensors) or a *.gguf file, "
    "relative to the spec file's directory (like a Dataset path); it must stay inside the "
    "repository.",
    "LocalBaseModel.ggufFile": "The GGUF file inside `path`, when path is a directory.",
    "LocalBaseModel.chatTemplate": "`default` (the tokenizer's template) or a path to a Jinja "
    "chat template, relative to the spec file's directory.",
    "Adapter.type": "lora, or qlora (4-bit base model; needs a CUDA GPU).",
    "Adapter.r": "LoRA rank.",
    "Adapter.alpha": "LoRA scaling alpha.",
    "Adapter.dropout": "LoRA dropout.",
    "Adapter.targetModules": "`all-linear`, or a list of module names to adapt.",
    "Adapter.quantization": "qlora only: how the base model is quantized.",
    "Quantization.type": "4-bit data type.",
    "Quantization.doubleQuant": "Quantize the quantization constants too.",
    "Quantization.computeDtype": "The dtype of the matmuls.",
    "LocalHyperparameters.epochs": "Passes over the training data (may be fractional); "
    "1 when neither epochs nor maxSteps is set.",
    "LocalHyperparameters.maxSteps": "Stop after this many optimizer steps.",
    "LocalHyperparameters.batchSize": "The effective batch: perDeviceBatchSize × gradient "
    "accumulation × numProcesses; it must divide evenly.",
    "LocalHyperparameters.perDeviceBatchSize": "Examples per device per forward pass "
    "(placement: not in the run key).",
    "LocalHyperparameters.learningRate": "The absolute peak learning rate.",
    "LocalHyperparameters.lrScheduler": "A transformers scheduler name (linear, cosine, "
    "constant, …).",
    "LocalHyperparameters.warmupFraction": "Fraction of the steps spent warming up.",
    "LocalHyperparameters.maxSeqLen": "Tokens per example; longer examples are truncated.",
    "LocalHyperparameters.packing": "Pack several examples into one sequence.",
    "LocalHyperparameters.precision": "bf16, fp16 (CUDA only) or fp32.",
    "LocalHyperparameters.gradientCheckpointing": "Recompute activations to save memory "
    "(same result: not in the run key).",
    "LocalHyperparameters.seed": "The random seed.",
    "LocalHyperparameters.beta": "DPO only: the strength of the KL penalty.",
    "Compute.device": "auto (CUDA when present), cpu or cuda.",
    "Compute.numProcesses": "Data-parallel processes (GPUs).",
    "Compute.launcher": "python (one process), accelerate or torchrun (several).",
    "LocalOutputs.evalEverySteps": "Evaluate on a validation sample every N steps.",
    "LocalOutputs.saveEverySteps": "Save a resumable checkpoint every N steps.",
    "LocalOutputs.keepCheckpoints": "Which checkpoints to keep once the run succeeds.",
}

# Kind → the name of the identity its `Identity`/`InPlace`/`Replaces` fields enter. Which fields
# enter it, and what a change of each does, is declared on the models (reconciler/specs/fields.py).
KEY_NAMES: dict[str, str] = {
    "Project": "",
    "Account": "",
    "Dataset": "the file name `{dataset}.{sha256[:16]}.jsonl`",
    "FineTune": "job key",
    "Deployment": "`ftops-key` tag",
    "LocalRun": "run key",
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
    for name, definition in defs.items():
        _describe(name, definition)
    _dataset_source(defs["DatasetSpec"])
    for kind, field in sorted(ENV_ALLOWED):
        _allow_env(defs[SPEC_CLASSES[kind].__name__]["properties"][field])
    return dict(sorted(defs.items()))


def _describe(name: str, definition: dict[str, Any]) -> None:
    """Replace pydantic's generated titles of fields with descriptions of what they mean."""
    if name in MODEL_DOCS:
        definition.setdefault("description", MODEL_DOCS[name])
    for alias, prop in definition.get("properties", {}).items():
        prop.pop("title", None)
        doc = FIELD_DOCS.get(f"{name}.{alias}")
        if doc and "description" not in prop:
            prop["description"] = doc


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
    found = [prop["$ref"]] if "$ref" in prop else []
    found += [v["$ref"] for v in prop.get("anyOf", ()) if "$ref" in v]
    return [ref.rsplit("/", 1)[-1] for ref in found]


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
    if "anyOf" in prop:
        variants = [v for v in prop["anyOf"] if v.get("type") != "null"]
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


def reference_markdown(schema: dict[str, Any] | None = None) -> str:
    """The generated part of specs/README.md: one table of fields per kind."""
    schema = schema or json_schema()
    lines = [BEGIN, "", *_envelope_table(schema), ""]
    for kind in SPEC_CLASSES:
        lines += [f"### {kind}", "", KIND_DOCS[kind], ""]
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
