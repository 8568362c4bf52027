"""Pydantic models of the six kinds. Unknown fields are errors (`extra="forbid"`).

YAML uses camelCase; Python uses snake_case through an alias generator, so
`spec.trainingData` is `FineTuneSpec.training_data`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

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
    subscription: str
    resource_group: str
    account_name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,63}$")]
    region: str
    endpoint: str | None = None
    tenant: str | None = None
    auth: Literal["entra"] | ApiKeyAuth = "entra"

    @property
    def resolved_endpoint(self) -> str:
        return self.endpoint or f"https://{self.account_name}.openai.azure.com"


# --- Dataset -------------------------------------------------------------------------------


class DatasetSpec(SpecModel):
    path: str | None = None
    url: str | None = None
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
    epochs: int | Auto = Field(default="auto")
    batch_size: int | Auto = Field(default="auto")
    learning_rate_multiplier: float | Auto = Field(default="auto")
    beta: float | Auto | None = None


class Method(SpecModel):
    type: Literal["supervised", "dpo"] = "supervised"
    hyperparameters: Hyperparameters = Hyperparameters()


class FineTuneSpec(SpecModel):
    account: Name
    base_model: str | FineTuneRef
    training_data: Name
    validation_data: Name | None = None
    method: Method = Method()
    seed: int | None = None
    suffix: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,31}$")] | None = None


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
    name: str = "Standard"
    capacity: int = Field(default=1, ge=1)


class DeploymentSpec(SpecModel):
    account: Name
    deployment_name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$")] | None = (
        None
    )
    model: FineTunedModelRef | BaseModelRef
    sku: Sku = Sku()
    rai_policy: str | None = None
    version_upgrade_option: (
        Literal["OnceNewDefaultVersionAvailable", "OnceCurrentVersionExpired", "NoAutoUpgrade"]
        | None
    ) = None
    protect: bool = False
    on_missing: Literal["recreate", "warn"] = "recreate"


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
    per_device_batch_size: int = Field(default=4, ge=1)
    learning_rate: float = Field(default=2e-4, gt=0)
    lr_scheduler: str = "linear"
    warmup_fraction: float = Field(default=0.0, ge=0, lt=1)
    max_seq_len: int = Field(default=2048, ge=8)
    packing: bool = False
    precision: Literal["bf16", "fp16", "fp32"] = "bf16"
    gradient_checkpointing: bool = False
    seed: int = 42
    beta: float = Field(default=0.1, gt=0)


class Compute(SpecModel):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_processes: int = Field(default=1, ge=1)
    launcher: Literal["python", "accelerate", "torchrun"] = "python"


class LocalOutputs(SpecModel):
    eval_every_steps: int = Field(default=10, ge=1)
    save_every_steps: int = Field(default=100, ge=1)
    keep_checkpoints: Literal["last", "all", "none"] = "last"


class LocalRunSpec(SpecModel):
    base_model: LocalBaseModel
    method: Literal["sft", "dpo"] = "sft"
    training_data: Name
    validation_data: Name | None = None
    loss_on: Literal["assistant", "all"] = "assistant"
    adapter: Adapter = Adapter()
    hyperparameters: LocalHyperparameters = LocalHyperparameters()
    compute: Compute = Compute()
    outputs: LocalOutputs = LocalOutputs()


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
