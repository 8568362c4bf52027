"""The emulator's small model catalog and per-account limits.

Deliberately independent of `reconciler.catalog` (the emulator is written from the API docs, not
from our client code). Fine-tuning is allowed in every region here; the reconciler's own catalog
is where region availability is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

# Azure's documented per-resource fine-tuning limits (quotas-limits page).
MAX_FINE_TUNED_DEPLOYMENTS = 5
MAX_FILES = 50
MAX_FILE_BYTES = 1_000_000_000  # 1 GB of fine-tuning files per resource
MAX_UPLOAD_PART_BYTES = 64 * 1024 * 1024  # one part of an Upload (the SDK's default part size)
UPLOAD_EXPIRY_SECONDS = 3600  # an Upload not completed within an hour expires
MAX_QUEUED_JOBS = 20
MAX_JOBS = 100
MIN_TRAINING_EXAMPLES = 10
MAX_SUFFIX_LENGTH = 40
FINE_TUNED_MODEL_VERSION = "1"
# Azure deletes fine-tuned deployments that have had no traffic for 15 days.
IDLE_DEPLOYMENT_SECONDS = 15 * 24 * 3600
# Developer-tier deployments (sku DeveloperTier) are for evaluation: deleted 24 hours after
# their creation.
DEVELOPER_DEPLOYMENT_SECONDS = 24 * 3600
DEVELOPER_SKU = "DeveloperTier"
# Reinforcement fine-tuning is billed by the hour of training (the emulator's rate), and Azure
# pauses a job whose cost reaches its cap ($5,000 by default; POST /_emulator/settings changes it).
RFT_USD_PER_TRAINING_HOUR = 100.0
RFT_DEFAULT_COST_CAP_USD = 5000.0
# Training tiers of a job's `trainingType` (case-insensitive), as Microsoft Learn spells them
# (Standard, GlobalStandard, developerTier); DataZone has no documented value: both spellings.
TRAINING_TYPES = {
    "standard": "standard",
    "globalstandard": "globalstandard",
    "datazone": "datazone",
    "datazonestandard": "datazone",
    "developer": "developer",
    "developertier": "developer",
}
# The account kind (Accounts_Create `kind`) of Azure AI Foundry resources: only they fine-tune
# the open models.
FOUNDRY_KIND = "AIServices"

# 2025-03-01 / 2026-03-01 as unix seconds: far enough in the future to be "not deprecated".
_INFERENCE_RETIRES = 1772323200
_FINE_TUNE_RETIRES = 1767225600


@dataclass(frozen=True)
class BaseModel:
    model_id: str  # the data-plane id, e.g. gpt-4o-mini-2024-07-18
    name: str  # the ARM deployment model name, e.g. gpt-4o-mini
    version: str  # the ARM deployment model version, e.g. 2024-07-18
    fine_tunable: bool
    dpo: bool
    created_at: int
    lifecycle_status: str = "generally-available"
    retired_at: int | None = None  # inference (and fine-tuning) retirement, if in the past
    supervised: bool = True
    reinforcement: bool = False
    developer_tier: bool = False  # may train with trainingType developer
    # Open-weight models: fine-tuned (supervised) only with trainingType globalstandard, only in
    # AIServices accounts, and listed only there; not deployable as base models here.
    open_weights: bool = False

    @property
    def methods(self) -> tuple[str, ...]:
        allowed = {
            "supervised": self.supervised,
            "dpo": self.dpo,
            "reinforcement": self.reinforcement,
        }
        return tuple(name for name, ok in allowed.items() if ok and self.fine_tunable)

    def as_data_plane_model(self) -> dict[str, object]:
        deprecation: dict[str, int] = {"inference": self.retired_at or _INFERENCE_RETIRES}
        if self.fine_tunable:
            deprecation["fine_tune"] = self.retired_at or _FINE_TUNE_RETIRES
        return {
            "object": "model",
            "id": self.model_id,
            "created_at": self.created_at,
            "status": "succeeded",
            "capabilities": {
                "fine_tune": self.fine_tunable,
                "inference": True,
                "completion": False,
                "chat_completion": True,
                "embeddings": False,
            },
            "lifecycle_status": self.lifecycle_status,
            "deprecation": deprecation,
        }


BASE_MODELS: tuple[BaseModel, ...] = (
    BaseModel(
        "gpt-4o-mini-2024-07-18",
        "gpt-4o-mini",
        "2024-07-18",
        True,
        True,
        1721260800,
        developer_tier=True,
    ),
    BaseModel(
        "gpt-4o-2024-08-06", "gpt-4o", "2024-08-06", True, True, 1722902400, developer_tier=True
    ),
    BaseModel(
        "gpt-4.1-2025-04-14", "gpt-4.1", "2025-04-14", True, True, 1744588800, developer_tier=True
    ),
    BaseModel(
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-mini",
        "2025-04-14",
        True,
        True,
        1744588800,
        developer_tier=True,
    ),
    BaseModel(
        "gpt-4.1-nano-2025-04-14",
        "gpt-4.1-nano",
        "2025-04-14",
        True,
        True,
        1744588800,
        developer_tier=True,
    ),
    BaseModel(
        "o4-mini-2025-04-16",
        "o4-mini",
        "2025-04-16",
        True,
        False,
        1744761600,
        supervised=False,
        reinforcement=True,
        developer_tier=True,
    ),
    BaseModel("gpt-35-turbo-0125", "gpt-35-turbo", "0125", True, False, 1706140800),
    BaseModel("Ministral-3B", "Ministral-3B", "1", True, False, 1728950400, open_weights=True),
    BaseModel("Qwen-32B", "Qwen-32B", "1", True, False, 1740787200, open_weights=True),
    BaseModel(
        "Llama-3.3-70B-Instruct",
        "Llama-3.3-70B-Instruct",
        "1",
        True,
        False,
        1733356800,
        open_weights=True,
    ),
    BaseModel("gpt-oss-20b", "gpt-oss-20b", "1", True, False, 1754352000, open_weights=True),
    BaseModel("gpt-4o-2024-11-20", "gpt-4o", "2024-11-20", False, False, 1732060800),
    # Retired models that the swagger's x-ms-examples use (curie jobs, ada deployments); kept so
    # that the official example requests round-trip. Their deprecation dates are in the past (the
    # stable swagger's lifecycle_status has no "deprecated").
    BaseModel("curie", "curie", "1", True, False, 1646126127, retired_at=1709284527),
    BaseModel("ada", "ada", "1", True, False, 1646126127, retired_at=1709284527),
)

# Deployment SKUs Azure documents for OpenAI models.
BASE_SKUS = (
    "Standard",
    "GlobalStandard",
    "DataZoneStandard",
    "ProvisionedManaged",
    "GlobalProvisionedManaged",
    "DataZoneProvisionedManaged",
    "GlobalBatch",
)
FINE_TUNED_SKUS = ("Standard", "GlobalStandard", "DeveloperTier", "ProvisionedManaged")


def base_model_by_id(model_id: str) -> BaseModel | None:
    return next((m for m in BASE_MODELS if m.model_id == model_id), None)


def models_for_kind(kind: str) -> list[BaseModel]:
    """The base models an account of this ARM kind lists (open models: AIServices only)."""
    return [m for m in BASE_MODELS if not m.open_weights or kind == FOUNDRY_KIND]


def openai_models() -> list[BaseModel]:
    """The models ARM lists and deploys (format OpenAI)."""
    return [m for m in BASE_MODELS if not m.open_weights]


def base_model_for_deployment(name: str, version: str | None) -> BaseModel | None:
    """The catalog entry an ARM `{name, version}` refers to; no version means the newest."""
    matches = [m for m in openai_models() if m.name == name]
    if version is not None:
        matches = [m for m in matches if m.version == version]
    return max(matches, key=lambda m: m.version, default=None)
