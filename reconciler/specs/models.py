"""Pydantic models of the six kinds. Unknown fields are errors (`extra="forbid"`).

YAML uses camelCase; Python uses snake_case through an alias generator, so
`spec.trainingData` is `FineTuneSpec.training_data`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from reconciler.specs.fields import (
    Behaviour,
    Identity,
    InPlace,
    Placement,
    Replaces,
    Secret,
    Where,
)

API_VERSION = "ftops/v1"
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
INSTANCE_TYPE = re.compile(r"^Standard_[A-Za-z0-9_]+$")
ENDPOINT_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")
Auto = Literal["auto"]


class SpecModel(BaseModel):
    # A field's docstring (the string under it) is its description in the schema and reference.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
    )


# --- Project -------------------------------------------------------------------------------


class Budget(SpecModel):
    """Refuse a plan (exit 4) whose estimates exceed these limits."""

    max_training_cost_usd: float | None = Field(default=None, ge=0)
    """The most the plan's training may cost (estimate, USD)."""
    max_hosting_cost_usd_per_hour: float | None = Field(default=None, ge=0)
    """The most the fine-tuned deployments may cost per hour (estimate, USD)."""


class Policy(SpecModel):
    """What plan and apply are allowed to do."""

    prune: bool = False
    """Delete owned resources that left the specs (deployments tagged with this project, files
    ftops uploaded that nothing needs), as with `--prune`.
    """
    max_deletes: int = Field(default=5, ge=0)
    """Refuse a plan with more deletes than this (exit 4) unless `--force`."""
    budget: Budget = Budget()
    """Cost limits checked against the plan's estimates."""


class AzureBlobLock(SpecModel):
    """Serialize applies with an Azure Blob lease."""

    account_url: str
    """The storage account's blob endpoint, e.g. https://mystorage.blob.core.windows.net."""
    container: str
    """The container that holds the lock blob."""
    blob: str = "ftops.lock"
    """The lock blob's name."""


class Lock(SpecModel):
    """How applies of one project are serialized (a file lock when unset)."""

    azure_blob: AzureBlobLock | None = None
    """Take an Azure Blob lease instead of a local file lock, so that applies on different
    machines (CI runners) are serialized.
    """


class ProjectSpec(SpecModel):
    """One per repository: the ownership namespace (its name is written into every resource ftops
    creates) and the policy of plan and apply.
    """

    policy: Policy = Policy()
    """The rules plan and apply follow: prune, maxDeletes and the budget."""
    catalog: str | None = None
    """A catalog file (fine-tunable models per region, methods, limits, prices) that overrides
    the built-in one; relative to the Project's file.
    """
    lock: Lock = Lock()
    """How applies of this project are serialized."""


# --- Account -------------------------------------------------------------------------------


class ApiKeyAuth(SpecModel):
    """Authenticate to the data plane with an API key read from an environment variable."""

    api_key_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    """The name of the environment variable that holds the API key (never the key itself)."""


class AccountSpec(SpecModel):
    """An existing Azure OpenAI / AI Services account. ftops never creates or deletes accounts
    (except in the emulator).
    """

    subscription: Annotated[str, Where("ARM id of the account")]
    """The Azure subscription id that holds the account."""
    resource_group: Annotated[str, Where("ARM id of the account")]
    """The resource group that holds the account."""
    account_name: Annotated[
        str, Where("ARM id of the account"), Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,63}$")
    ]
    """The Azure OpenAI / AI Services account (resource) name."""
    region: str
    """The account's Azure region (e.g. eastus2); the catalog checks that the base models are
    fine-tunable there.
    """
    endpoint: str | None = None
    """The data-plane endpoint; defaults to https://{accountName}.openai.azure.com. Must be
    https.
    """
    tenant: str | None = None
    """The Entra tenant of the account, when it differs from the default credential's. A
    deployment copying a model from an account in another tenant sends that tenant's token in
    x-ms-authorization-auxiliary.
    """
    auth: Literal["entra"] | ApiKeyAuth = "entra"
    """Data-plane authentication: `entra` (DefaultAzureCredential, for the account's tenant) or
    `{apiKeyEnv: VAR}`. ARM calls always use Entra.
    """
    kind: Literal["OpenAI", "AIServices"] = "OpenAI"
    """The account's ARM kind: `OpenAI` (an Azure OpenAI resource) or `AIServices` (a Microsoft
    Foundry resource). Open models (Llama, Ministral, Qwen, gpt-oss) fine-tune only on
    `AIServices` accounts.
    """
    data_plane_api: Literal["v1", "2025-04-01-preview"] = "v1"
    """Which data-plane API ftops calls: `v1` (`/openai/v1/...`, no api-version; current) or the
    versioned `2025-04-01-preview` (`/openai/...?api-version=`).
    """

    @property
    def resolved_endpoint(self) -> str:
        return self.endpoint or f"https://{self.account_name}.openai.azure.com"


# --- Dataset -------------------------------------------------------------------------------


class DatasetSpec(SpecModel):
    """A JSONL training or validation file: a path inside the repository, or a URL to import."""

    path: Annotated[str | None, Identity(note="by its bytes, not its path")] = None
    """The JSONL file, relative to the directory of the spec file that declares it; it must stay
    inside the repository. Give exactly one of path and url.
    """
    url: Annotated[str | None, Secret("may hold a SAS token: never written to a plan")] = None
    """An https URL (e.g. an Azure Blob SAS URL) of the JSONL file. ftops streams it into
    .ftops/cache/datasets/ to validate it, count its tokens and name it by content, then
    uploads those bytes, so the URL (and its SAS signature) never reaches a plan, a receipt or
    a log. Plain http only for loopback. Give exactly one of path and url.
    """
    format: Literal["auto", "chat", "dpo", "completion", "rft"] = "auto"
    """The examples' format: chat (messages), dpo (input + preferred_output +
    non_preferred_output), completion (prompt + completion) or rft (messages ending with the
    user's turn, plus the fields a grader reads); auto detects it (rft when a reinforcement
    FineTune trains on it).
    """

    @model_validator(mode="after")
    def _path_xor_url(self) -> DatasetSpec:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of 'path' (a file in the repo) or 'url'")
        return self


# --- FineTune ------------------------------------------------------------------------------


class FineTuneRef(SpecModel):
    """Continue training from the model another FineTune produces."""

    fine_tune: Name
    """The upstream FineTune (metadata.name)."""


class Hyperparameters(SpecModel):
    """Azure's hyperparameters; each may be 'auto' (Azure chooses)."""

    epochs: Annotated[int | Auto, Identity()] = "auto"
    """Passes over the training data."""
    batch_size: Annotated[int | Auto, Identity()] = "auto"
    """Examples per training step."""
    learning_rate_multiplier: Annotated[float | Auto, Identity()] = "auto"
    """Multiplier of the base learning rate."""
    beta: Annotated[float | Auto | None, Identity()] = None
    """DPO only: how far the model may move from the reference model."""
    reasoning_effort: Annotated[Literal["default", "low", "medium", "high"] | None, Identity()] = (
        None
    )
    """Reinforcement only: the reasoning effort the model uses while training."""
    eval_interval: Annotated[int | Auto | None, Identity(), Field(ge=1)] = None
    """Reinforcement only: training steps between evaluations."""
    eval_samples: Annotated[int | Auto | None, Identity(), Field(ge=1)] = None
    """Reinforcement only: samples generated per evaluation example."""
    compute_multiplier: Annotated[float | Auto | None, Identity(), Field(gt=0)] = None
    """Reinforcement only: multiplier of the compute used to explore the search space (and of
    the hours billed).
    """


# --- graders (reinforcement fine-tuning) ----------------------------------------------------


class StringCheckGrader(SpecModel):
    """Compares the model's output with a reference string: 1 when the check holds, else 0."""

    type: Literal["string_check"]
    """string_check."""
    name: str
    """The grader's name (a multi grader refers to it in calculateOutput)."""
    input: str
    """The text checked, a template such as `{{sample.output_text}}`."""
    reference: str
    """The text to compare with, e.g. `{{item.answer}}` (a field of the training example)."""
    operation: Literal["eq", "ne", "like", "ilike"]
    """eq, ne, like (contains) or ilike (contains, case-insensitive)."""


class TextSimilarityGrader(SpecModel):
    """Scores how similar the output is to a reference (0 to 1)."""

    type: Literal["text_similarity"]
    """text_similarity."""
    name: str
    """The grader's name."""
    input: str
    """The text scored, e.g. `{{sample.output_text}}`."""
    reference: str
    """The reference text, e.g. `{{item.answer}}`."""
    evaluation_metric: Literal[
        "fuzzy_match",
        "bleu",
        "gleu",
        "meteor",
        "cosine",
        "rouge_1",
        "rouge_2",
        "rouge_3",
        "rouge_4",
        "rouge_5",
        "rouge_l",
    ]
    """The similarity metric."""


class GraderMessage(SpecModel):
    """One message of a score_model grader's prompt."""

    role: Literal["system", "developer", "user", "assistant"] = "user"
    """Who says it."""
    content: str
    """What is said; may use templates such as `{{sample.output_text}}` and `{{item.x}}`."""


class ScoreModelGrader(SpecModel):
    """A model reads the output and returns a score."""

    type: Literal["score_model"]
    """score_model."""
    name: str
    """The grader's name."""
    model: str
    """The grading model, e.g. o3-mini."""
    input: Annotated[list[GraderMessage], Field(min_length=1)]
    """The grading prompt."""
    range: tuple[float, float] | None = None
    """The lowest and highest score, e.g. [0, 1]."""
    sampling_params: dict[str, float | int | str] | None = None
    """Sampling parameters of the grading model (temperature, top_p, seed, …)."""


class PythonGrader(SpecModel):
    """Python code that scores the output: `def grade(sample, item) -> float`. Azure runs it
    without network, with 2 GB of memory and a 2 minute limit."""

    type: Literal["python"]
    """python."""
    name: str
    """The grader's name."""
    source: str | None = None
    """The code, inline. Give exactly one of source and sourceFile."""
    source_file: str | None = None
    """A .py file with the code, relative to the spec file's directory (inside the repository);
    its text is what is sent and what enters the job key.
    """
    image_tag: str | None = None
    """The grader image Azure runs the code in (Azure's default when unset)."""

    @model_validator(mode="after")
    def _source_xor_file(self) -> PythonGrader:
        if (self.source is None) == (self.source_file is None):
            raise ValueError("give exactly one of 'source' (inline code) or 'sourceFile'")
        return self


class MultiGrader(SpecModel):
    """Several graders combined by a formula."""

    type: Literal["multi"]
    """multi."""
    name: str
    """The grader's name."""
    graders: Annotated[dict[str, Grader], Field(min_length=1)]
    """The graders, by the names calculateOutput uses."""
    calculate_output: str
    """A formula over the graders' names, e.g. `0.5 * exact + 0.5 * similar`."""


Grader = Annotated[
    StringCheckGrader | TextSimilarityGrader | ScoreModelGrader | PythonGrader | MultiGrader,
    Field(discriminator="type"),
]


class Method(SpecModel):
    """The training method and its hyperparameters."""

    type: Literal["supervised", "dpo", "reinforcement"] = "supervised"
    """supervised (SFT on chat data), dpo (direct preference optimization) or reinforcement
    (RFT: a grader scores the model's answers; o4-mini).
    """
    hyperparameters: Hyperparameters = Hyperparameters()
    """Hyperparameters; each may be 'auto' (Azure chooses)."""
    grader: Grader | None = None
    """Reinforcement only: how answers are scored. Checked by Azure's grader validation before
    any job is created.
    """
    response_format: dict[str, Any] | None = None
    """Reinforcement only: the structured output the model must produce, as the API's
    response_format object (`{type: json_schema, json_schema: {name, schema, strict}}`).
    """

    @model_validator(mode="after")
    def _grader_for_reinforcement(self) -> Method:
        if (self.type == "reinforcement") != (self.grader is not None):
            raise ValueError("a grader is required for type reinforcement, and only for it")
        return self


class FineTuneSpec(SpecModel):
    """A fine-tuning job and the model it produces: on an Azure OpenAI (Foundry) account, or, for
    Phi models, serverless in an Azure ML hub project (`workspace`)."""

    account: Annotated[Name | None, Where("where the job runs: another account trains anew")] = None
    """The Account (metadata.name) that trains the model. Exactly one of account and workspace."""
    workspace: Annotated[Name | None, Where("where the job runs: elsewhere trains anew")] = None
    """The MLWorkspace (metadata.name) of an AI Foundry hub project that fine-tunes the model
    serverless (models as a service: Phi-4, Phi-4-mini-instruct, ...)."""
    base_model: Annotated[
        str | FineTuneRef, Identity("base", "a chained upstream enters as its own job key")
    ]
    """A base model id (e.g. gpt-4o-mini-2024-07-18), or `{fineTune: NAME}` to continue from
    another FineTune's model in the same account (continuous fine-tuning).
    """
    training_data: Annotated[Name, Identity("training", "as the file's sha256, not its name")]
    """The Dataset (metadata.name) to train on."""
    validation_data: Annotated[
        Name | None, Identity("validation", "as the file's sha256, not its name")
    ] = None
    """The Dataset (metadata.name) to validate on."""
    method: Annotated[Method, Identity()] = Method()
    """The training method and hyperparameters."""
    seed: Annotated[int | None, Identity()] = None
    """The job's random seed (Azure picks one when unset)."""
    suffix: Annotated[
        Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,31}$")] | None,
        Behaviour("the label of the job suffix `{suffix or name}-{key[:8]}`"),
    ] = None
    """A label for the job's suffix (default: metadata.name); ftops appends '-{key[:8]}'. At most
    31 characters of [a-zA-Z0-9_-].
    """
    training_type: Annotated[
        Literal["Standard", "DataZone", "Global", "Developer"] | None,
        Placement("where and at what price the job trains, not what it learns"),
    ] = None
    """The training tier: Standard (data stays in the region), DataZone (in the data zone),
    Global (any region; 10-30 % cheaper) or Developer (50 % below Global, preemptible: Azure
    pauses the job when it reclaims capacity). Unset: Azure's default (Standard). The tier is
    placement: a change applies to the next job and never retrains a finished one.
    """
    paused: Annotated[bool | None, Behaviour()] = None
    """`true`: apply pauses the job while it trains; `false`: apply resumes it when it is paused
    (by a person or by Azure). Unset: a paused job is left paused and shown with who paused it.
    """

    @model_validator(mode="after")
    def _one_target(self) -> FineTuneSpec:
        _check_one_target(self.account, self.workspace)
        if self.workspace and (self.training_type or self.paused is not None):
            raise ValueError("trainingType and paused are Azure OpenAI's; a workspace has neither")
        return self


def _check_one_target(account: str | None, workspace: str | None) -> None:
    if (account is None) == (workspace is None):
        raise ValueError("give exactly one of account (Azure OpenAI) and workspace (Azure ML)")


# --- Deployment ----------------------------------------------------------------------------


class CheckpointRef(SpecModel):
    """One of the checkpoints Azure keeps (the last 3 epochs)."""

    epoch: int = Field(ge=1)
    """The checkpoint's epoch (1-based); Azure keeps the last 3."""


class FineTunedModelRef(SpecModel):
    """The model a FineTune produces, or one of its checkpoints."""

    fine_tune: Name
    """The FineTune (metadata.name) whose model to deploy."""
    checkpoint: CheckpointRef | None = None
    """Deploy one of the job's checkpoints instead of the final model."""


class TrainingRunRef(SpecModel):
    """The adapter a TrainingRun placed on an Azure ML cluster produced."""

    training_run: Name
    """The TrainingRun (metadata.name) whose adapter to serve: placed (compute.azureML) on the
    Deployment's workspace."""


class ChatMessage(SpecModel):
    """One message of a smoke test's conversation."""

    role: Literal["system", "user", "assistant"] = "user"
    """Who says it."""
    content: str
    """What is said."""


class SmokeTest(SpecModel):
    """One chat completion sent after the deployment changed; a wrong answer fails the apply."""

    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    """The conversation to send (at least one message)."""
    expect: str | None = None
    """Text the answer must contain (case-insensitive); unset: any answer passes."""


class BaseModelRef(SpecModel):
    """A base model by name and version."""

    base: str
    """The base model's name, e.g. gpt-4o-mini."""
    version: str
    """The base model's version, e.g. 2024-07-18."""


class Sku(SpecModel):
    """The deployment type and its capacity."""

    name: Annotated[str, Replaces()] = "Standard"
    """The deployment type: Standard, GlobalStandard, DeveloperTier, ProvisionedManaged, …;
    changing it replaces the deployment.
    """
    capacity: Annotated[int, InPlace(), Field(ge=1)] = 1
    """Capacity units (thousands of tokens per minute for Standard)."""


class DeploymentSpec(SpecModel):
    """A model deployment in an account: of a fine-tune (or one of its checkpoints), or of a base
    model.
    """

    account: Annotated[Name | None, Identity(note="and the address")] = None
    """The Account (metadata.name) to deploy in. When it is not the fine-tune's account, the
    deployment is a cross-region (or cross-subscription, cross-tenant) copy of the model. Exactly
    one of account and workspace.
    """
    # Outside the key, unlike account: a new field may not move the keys of existing specs;
    # the address (`deployment/WORKSPACE/NAME`) still says where it is.
    workspace: Annotated[Name | None, Where("the address")] = None
    """The MLWorkspace (metadata.name) to serve from: a serverless endpoint of a model
    fine-tuned in that workspace (`{fineTune: X}`: pay per token, no sku, content filter or
    upgrade option), or a managed online endpoint of a TrainingRun's adapter (`{trainingRun:
    X}`: sku is the instance type and count)."""
    deployment_name: Annotated[
        Annotated[str, Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")] | None,
        Identity("name", "and the address"),
    ] = None
    """The deployment's name in the account (default: metadata.name)."""
    model: Annotated[
        FineTunedModelRef | BaseModelRef | TrainingRunRef,
        InPlace(note="a fine-tune (a training run) enters as its job key (run key) and place"),
    ]
    """What to deploy: `{fineTune: X}`, `{fineTune: X, checkpoint: {epoch: N}}`, `{base: id,
    version: v}`, or, in a workspace, `{trainingRun: X}`.
    """
    sku: Annotated[Sku, InPlace()] = Sku()
    """The deployment type and capacity. On a managed online endpoint: the instance type
    (`Standard_NC24ads_A100_v4`; a change replaces the deployment) and the instance count (in
    place)."""
    rai_policy: Annotated[str | None, InPlace()] = None
    """The name of a content-filter (RAI) policy in the account; Azure's default when unset."""
    version_upgrade_option: Annotated[
        Literal["OnceNewDefaultVersionAvailable", "OnceCurrentVersionExpired", "NoAutoUpgrade"]
        | None,
        InPlace(),
    ] = None
    """Base models only: when Azure moves the deployment to a new model version."""
    protect: Annotated[bool, Behaviour()] = False
    """Refuse (exit 4) any plan that deletes or replaces this deployment."""
    on_missing: Annotated[Literal["recreate", "warn"], Behaviour()] = "recreate"
    """When the deployment is missing: recreate it, or only warn. A deployment can only have been
    removed by Azure's 15-day rule (fine-tuned deployments without traffic) when its model is at
    least 15 days old, so `warn` still creates one of a younger model (a new deployment); either
    way a missing deployment keeps the plan from converging.
    """
    smoke_test: Annotated[SmokeTest | None, Behaviour()] = None
    """After apply changed the deployment: send one chat completion through the SDK, report the
    answer's first line and latency, and fail the apply when the answer lacks `expect`."""

    @model_validator(mode="after")
    def _one_target(self) -> DeploymentSpec:
        _check_one_target(self.account, self.workspace)
        if isinstance(self.model, TrainingRunRef):
            return self._online()
        if self.workspace is None:
            return self
        azure_only = {"sku", "rai_policy", "version_upgrade_option"} & self.model_fields_set
        if azure_only:
            names = ", ".join(sorted(to_camel(f) for f in azure_only))
            raise ValueError(f"a serverless endpoint (workspace) has no {names}")
        if not isinstance(self.model, FineTunedModelRef) or self.model.checkpoint is not None:
            raise ValueError(
                "a workspace serves {fineTune: NAME} (serverless) or {trainingRun: NAME} "
                "(managed online) only"
            )
        return self

    def _online(self) -> DeploymentSpec:
        """A managed online endpoint: Azure ML's rules for its name and instances."""
        if self.workspace is None:
            raise ValueError(
                "a trainingRun's adapter is served from an MLWorkspace's managed online "
                "endpoint: give workspace, not account"
            )
        azure_only = {"rai_policy", "version_upgrade_option"} & self.model_fields_set
        if azure_only:
            names = ", ".join(sorted(to_camel(f) for f in azure_only))
            raise ValueError(f"a managed online endpoint has no {names}")
        wanted = (
            "sku: {name: <instance type, e.g. Standard_NC24ads_A100_v4>, capacity: <instance "
            "count>}"
        )
        if "sku" not in self.model_fields_set:
            raise ValueError(f"a managed online endpoint needs {wanted}")
        if not INSTANCE_TYPE.match(self.sku.name):
            raise ValueError(
                f"sku.name {self.sku.name!r} is not an Azure ML instance type; a managed online "
                f"endpoint needs {wanted}"
            )
        return self  # its endpoint's name (deploymentName or metadata.name): references.py


# --- LocalRun ------------------------------------------------------------------------------


class LocalBaseModel(SpecModel):
    """Where the base model's weights are."""

    path: str
    """A Hugging Face model directory (safetensors) or a *.gguf file, relative to the spec file's
    directory (like a Dataset path); it must stay inside the repository.
    """
    gguf_file: str | None = None
    """The GGUF file inside `path`, when path is a directory."""
    chat_template: str = "default"
    """`default` (the tokenizer's template) or a path to a Jinja chat template, relative to the
    spec file's directory.
    """


class Quantization(SpecModel):
    """4-bit quantization of the base model (adapter.type qlora only)."""

    type: Literal["nf4", "fp4"] = "nf4"
    """4-bit data type."""
    double_quant: bool = True
    """Quantize the quantization constants too."""
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    """The dtype of the matmuls."""


class Adapter(SpecModel):
    """The LoRA adapter to train."""

    type: Literal["lora", "qlora"] = "lora"
    """lora, or qlora (4-bit base model; needs a CUDA GPU)."""
    r: int = Field(default=16, ge=1)
    """LoRA rank."""
    alpha: int = Field(default=32, ge=1)
    """LoRA scaling alpha."""
    dropout: float = Field(default=0.05, ge=0, lt=1)
    """LoRA dropout."""
    target_modules: Literal["all-linear"] | list[str] = "all-linear"
    """`all-linear`, or a list of module names to adapt."""
    quantization: Quantization | None = None
    """qlora only: how the base model is quantized."""


class LocalHyperparameters(SpecModel):
    """Training hyperparameters of a local run."""

    epochs: float | None = Field(default=None, gt=0)
    """Passes over the training data (may be fractional); 1 when neither epochs nor maxSteps is
    set.
    """
    max_steps: int | None = Field(default=None, ge=1)
    """Stop after this many optimizer steps."""
    batch_size: int = Field(default=16, ge=1)
    """The effective batch: perDeviceBatchSize × gradient accumulation × numProcesses; it must
    divide evenly.
    """
    per_device_batch_size: Annotated[int, Placement(), Field(ge=1)] = 4
    """Examples per device per forward pass (placement: not in the run key)."""
    learning_rate: float = Field(default=2e-4, gt=0)
    """The absolute peak learning rate."""
    lr_scheduler: str = "linear"
    """A transformers scheduler name (linear, cosine, constant, …)."""
    warmup_fraction: float = Field(default=0.0, ge=0, lt=1)
    """Fraction of the steps spent warming up."""
    max_seq_len: int = Field(default=2048, ge=8)
    """Tokens per example; longer examples are truncated."""
    packing: bool = False
    """Pack several examples into one sequence."""
    precision: Literal["bf16", "fp16", "fp32"] = "bf16"
    """bf16, fp16 (CUDA only) or fp32."""
    gradient_checkpointing: Annotated[bool, Placement("same result")] = False
    """Recompute activations to save memory (same result: not in the run key)."""
    seed: int = 42
    """The random seed."""
    beta: Annotated[float, Identity(note="dpo only"), Field(gt=0)] = 0.1
    """DPO only: the strength of the KL penalty."""


DEFAULT_AML_IMAGE = "mcr.microsoft.com/azureml/curated/acpt-pytorch-2.2-cuda12.1:latest"


class AzureMLPlacement(SpecModel):
    """Run the recipe as an Azure ML command job on a compute cluster instead of this machine.
    The same trainer runs there (several instances through torchrun); its adapter and results
    are downloaded into the run directory. Not part of the run key: moving a finished run
    between here and a cluster does not retrain it.
    """

    workspace: Name
    """The MLWorkspace (metadata.name) whose compute cluster runs the job."""
    cluster: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{1,31}$")
    """The compute cluster's name in the workspace. ftops never creates or resizes clusters
    (except in the emulator); plan checks it exists with this VM size and enough nodes.
    """
    instance_type: str = Field(pattern=r"^Standard_[A-Za-z0-9_]+$")
    """The cluster's VM size, e.g. Standard_NC24ads_A100_v4."""
    instance_count: int = Field(default=1, ge=1, le=100)
    """Nodes the job runs on."""
    processes_per_instance: int = Field(default=1, ge=1, le=16)
    """Training processes per node (its GPUs). Several in all: torchrun on every node."""
    image: str = DEFAULT_AML_IMAGE
    """The job's container image. It must provide torch, transformers and peft at the versions of
    ftops's [local] extra; ftops's own code travels with the job.
    """

    @property
    def world_size(self) -> int:
        return self.instance_count * self.processes_per_instance


class Compute(SpecModel):
    """Placement: where and how the run executes. Not part of the run key."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto (CUDA when present), cpu or cuda."""
    num_processes: int = Field(default=1, ge=1)
    """Data-parallel processes (GPUs)."""
    launcher: Literal["python", "accelerate", "torchrun"] = "python"
    """python (one process), accelerate or torchrun (several)."""
    azure_ml: AzureMLPlacement | None = Field(default=None, alias="azureML")
    """Run on an Azure ML compute cluster (see AzureMLPlacement); device, numProcesses and
    launcher then apply only when the run is placed back here.
    """

    @property
    def world_size(self) -> int:
        return self.azure_ml.world_size if self.azure_ml else self.num_processes


class LocalOutputs(SpecModel):
    """Evaluation and checkpoint cadence. Not part of the run key."""

    eval_every_steps: int = Field(default=10, ge=1)
    """Evaluate on a validation sample every N steps."""
    save_every_steps: int = Field(default=100, ge=1)
    """Save a resumable checkpoint every N steps."""
    keep_checkpoints: Literal["last", "all", "none"] = "last"
    """Which checkpoints to keep once the run succeeds."""


class LocalRunSpec(SpecModel):
    """A LoRA/QLoRA fine-tune run of a local base model, on this machine's GPU (or CPU) or on an
    Azure ML compute cluster (compute.azureML), producing an adapter under .ftops/runs/.
    `TrainingRun` is its name; `LocalRun`, the first one, is still read.
    """

    base_model: Annotated[
        LocalBaseModel,
        Identity(note="the weights', tokenizer's and template's sha256, not the paths"),
    ]
    """The base model to adapt."""
    method: Annotated[Literal["sft", "dpo"], Identity()] = "sft"
    """sft (supervised, chat data) or dpo (preference pairs)."""
    training_data: Annotated[Name, Identity(note="the file's sha256")]
    """The Dataset (metadata.name) to train on."""
    validation_data: Annotated[Name | None, Identity(note="the file's sha256")] = None
    """The Dataset (metadata.name) to evaluate on."""
    loss_on: Annotated[Literal["assistant", "all"], Identity()] = "assistant"
    """SFT: train on assistant turns only (honouring weight 0/1), or on every token."""
    adapter: Annotated[Adapter, Identity()] = Adapter()
    """The LoRA adapter."""
    hyperparameters: Annotated[LocalHyperparameters, Identity()] = LocalHyperparameters()
    """Training hyperparameters."""
    compute: Annotated[Compute, Placement()] = Compute()
    """Where and how the run executes."""
    outputs: Annotated[LocalOutputs, Behaviour()] = LocalOutputs()
    """Evaluation and checkpoint cadence."""


# --- MLWorkspace ---------------------------------------------------------------------------


class MLWorkspaceSpec(SpecModel):
    """An existing Azure Machine Learning workspace (or AI Foundry hub project): its compute
    clusters run TrainingRuns, and a hub project fine-tunes Phi models serverless (FineTune and
    Deployment `workspace`). ftops never creates or deletes workspaces (except in the emulator).
    """

    subscription: Annotated[str, Where("ARM id of the workspace")]
    """The Azure subscription id that holds the workspace."""
    resource_group: Annotated[str, Where("ARM id of the workspace")]
    """The resource group that holds the workspace."""
    workspace_name: Annotated[
        str, Where("ARM id of the workspace"), Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$")
    ]
    """The workspace's name."""
    region: str
    """The workspace's Azure region (e.g. eastus2)."""


# --- Envelope ------------------------------------------------------------------------------


class Metadata(SpecModel):
    """The document's name (unique per kind) and free-form labels."""

    name: Name
    """The document's name: lowercase letters, digits and '-', at most 63 characters. Other
    documents refer to it; it must be unique per kind.
    """
    labels: dict[str, str] = {}
    """Free-form string labels. Not used by ftops."""


SPEC_CLASSES: dict[str, type[SpecModel]] = {
    "Project": ProjectSpec,
    "Account": AccountSpec,
    "Dataset": DatasetSpec,
    "FineTune": FineTuneSpec,
    "Deployment": DeploymentSpec,
    "LocalRun": LocalRunSpec,
    "TrainingRun": LocalRunSpec,
    "MLWorkspace": MLWorkspaceSpec,
}

MultiGrader.model_rebuild()

Kind = Literal[
    "Project",
    "Account",
    "Dataset",
    "FineTune",
    "Deployment",
    "LocalRun",
    "TrainingRun",
    "MLWorkspace",
]
RUN_KINDS = ("TrainingRun", "LocalRun")  # one spec, two names: TrainingRun's first was LocalRun
