"""Pydantic models of the six kinds. Unknown fields are errors (`extra="forbid"`).

YAML uses camelCase; Python uses snake_case through an alias generator, so
`spec.trainingData` is `FineTuneSpec.training_data`.
"""

from __future__ import annotations

from typing import Annotated, Literal

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
Auto = Literal["auto"]


class SpecModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


# --- Project -------------------------------------------------------------------------------


class Budget(SpecModel):
    max_training_cost_usd: float | None = Field(default=None, ge=0)
    max_hosting_cost_usd_per_hour: float | None = Field(default=None, ge=0)


class Policy(SpecModel):
    prune: bool = False
    max_deletes: int = Field(default=5, ge=0)
    budget: Budget = Budget()


class AzureBlobLock(SpecModel):
    account_url: str
    container: str
    blob: str = "ftops.lock"


class Lock(SpecModel):
    azure_blob: AzureBlobLock | None = None


class ProjectSpec(SpecModel):
    policy: Policy = Policy()
    catalog: str | None = None
    lock: Lock = Lock()


# --- Account -------------------------------------------------------------------------------


class ApiKeyAuth(SpecModel):
    api_key_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class AccountSpec(SpecModel):
    subscription: Annotated[str, Where("ARM id of the account")]
    resource_group: Annotated[str, Where("ARM id of the account")]
    account_name: Annotated[
        str, Where("ARM id of the account"), Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,63}$")
    ]
    region: str
    endpoint: str | None = None
    tenant: str | None = None
    auth: Literal["entra"] | ApiKeyAuth = "entra"

    @property
    def resolved_endpoint(self) -> str:
        return self.endpoint or f"https://{self.account_name}.openai.azure.com"


# --- Dataset -------------------------------------------------------------------------------


class DatasetSpec(SpecModel):
    path: Annotated[str | None, Identity(note="by its bytes, not its path")] = None
    url: Annotated[str | None, Secret("may hold a SAS token: never written to a plan")] = None
    format: Literal["auto", "chat", "dpo", "completion"] = "auto"

    @model_validator(mode="after")
    def _path_xor_url(self) -> DatasetSpec:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of 'path' (a file in the repo) or 'url'")
        return self


# --- FineTune ------------------------------------------------------------------------------


class FineTuneRef(SpecModel):
    fine_tune: Name


class Hyperparameters(SpecModel):
    epochs: Annotated[int | Auto, Identity()] = "auto"
    batch_size: Annotated[int | Auto, Identity()] = "auto"
    learning_rate_multiplier: Annotated[float | Auto, Identity()] = "auto"
    beta: Annotated[float | Auto | None, Identity()] = None


class Method(SpecModel):
    type: Literal["supervised", "dpo"] = "supervised"
    hyperparameters: Hyperparameters = Hyperparameters()


class FineTuneSpec(SpecModel):
    account: Annotated[Name, Where("where the job runs: another account trains anew")]
    base_model: Annotated[
        str | FineTuneRef, Identity("base", "a chained upstream enters as its own job key")
    ]
    training_data: Annotated[Name, Identity("training", "as the file's sha256, not its name")]
    validation_data: Annotated[
        Name | None, Identity("validation", "as the file's sha256, not its name")
    ] = None
    method: Annotated[Method, Identity()] = Method()
    seed: Annotated[int | None, Identity()] = None
    suffix: Annotated[
        Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,31}$")] | None,
        Behaviour("the label of the job suffix `{suffix or name}-{key[:8]}`"),
    ] = None


# --- Deployment ----------------------------------------------------------------------------


class CheckpointRef(SpecModel):
    epoch: int = Field(ge=1)


class FineTunedModelRef(SpecModel):
    fine_tune: Name
    checkpoint: CheckpointRef | None = None


class BaseModelRef(SpecModel):
    base: str
    version: str


class Sku(SpecModel):
    name: Annotated[str, Replaces()] = "Standard"
    capacity: Annotated[int, InPlace(), Field(ge=1)] = 1


class DeploymentSpec(SpecModel):
    account: Annotated[Name, Identity(note="and the address")]
    deployment_name: Annotated[
        Annotated[str, Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")] | None,
        Identity("name", "and the address"),
    ] = None
    model: Annotated[
        FineTunedModelRef | BaseModelRef,
        InPlace(note="a fine-tune enters as its job key and account"),
    ]
    sku: Annotated[Sku, InPlace()] = Sku()
    rai_policy: Annotated[str | None, InPlace()] = None
    version_upgrade_option: Annotated[
        Literal["OnceNewDefaultVersionAvailable", "OnceCurrentVersionExpired", "NoAutoUpgrade"]
        | None,
        InPlace(),
    ] = None
    protect: Annotated[bool, Behaviour()] = False
    on_missing: Annotated[Literal["recreate", "warn"], Behaviour()] = "recreate"


# --- LocalRun ------------------------------------------------------------------------------


class LocalBaseModel(SpecModel):
    path: str
    gguf_file: str | None = None
    chat_template: str = "default"


class Quantization(SpecModel):
    type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"


class Adapter(SpecModel):
    type: Literal["lora", "qlora"] = "lora"
    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: Literal["all-linear"] | list[str] = "all-linear"
    quantization: Quantization | None = None


class LocalHyperparameters(SpecModel):
    epochs: float | None = Field(default=None, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=16, ge=1)
    per_device_batch_size: Annotated[int, Placement(), Field(ge=1)] = 4
    learning_rate: float = Field(default=2e-4, gt=0)
    lr_scheduler: str = "linear"
    warmup_fraction: float = Field(default=0.0, ge=0, lt=1)
    max_seq_len: int = Field(default=2048, ge=8)
    packing: bool = False
    precision: Literal["bf16", "fp16", "fp32"] = "bf16"
    gradient_checkpointing: Annotated[bool, Placement("same result")] = False
    seed: int = 42
    beta: Annotated[float, Identity(note="dpo only"), Field(gt=0)] = 0.1


class Compute(SpecModel):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_processes: int = Field(default=1, ge=1)
    launcher: Literal["python", "accelerate", "torchrun"] = "python"


class LocalOutputs(SpecModel):
    eval_every_steps: int = Field(default=10, ge=1)
    save_every_steps: int = Field(default=100, ge=1)
    keep_checkpoints: Literal["last", "all", "none"] = "last"


class LocalRunSpec(SpecModel):
    base_model: Annotated[
        LocalBaseModel,
        Identity(note="the weights', tokenizer's and template's sha256, not the paths"),
    ]
    method: Annotated[Literal["sft", "dpo"], Identity()] = "sft"
    training_data: Annotated[Name, Identity(note="the file's sha256")]
    validation_data: Annotated[Name | None, Identity(note="the file's sha256")] = None
    loss_on: Annotated[Literal["assistant", "all"], Identity()] = "assistant"
    adapter: Annotated[Adapter, Identity()] = Adapter()
    hyperparameters: Annotated[LocalHyperparameters, Identity()] = LocalHyperparameters()
    compute: Annotated[Compute, Placement()] = Compute()
    outputs: Annotated[LocalOutputs, Behaviour()] = LocalOutputs()


# --- Envelope ------------------------------------------------------------------------------


class Metadata(SpecModel):
    name: Name
    labels: dict[str, str] = {}


SPEC_CLASSES: dict[str, type[SpecModel]] = {
    "Project": ProjectSpec,
    "Account": AccountSpec,
    "Dataset": DatasetSpec,
    "FineTune": FineTuneSpec,
    "Deployment": DeploymentSpec,
    "LocalRun": LocalRunSpec,
}

Kind = Literal["Project", "Account", "Dataset", "FineTune", "Deployment", "LocalRun"]
