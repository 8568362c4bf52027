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
MAX_QUEUED_JOBS = 20
MAX_JOBS = 100
MIN_TRAINING_EXAMPLES = 10
MAX_SUFFIX_LENGTH = 40
FINE_TUNED_MODEL_VERSION = "1"
# Azure deletes fine-tuned deployments that have had no traffic for 15 days.
IDLE_DEPLOYMENT_SECONDS = 15 * 24 * 3600

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
    BaseModel("gpt-4o-mini-2024-07-18", "gpt-4o-mini", "2024-07-18", True, True, 1721260800),
    BaseModel("gpt-4o-2024-08-06", "gpt-4o", "2024-08-06", True, True, 1722902400),
    BaseModel("gpt-4.1-2025-04-14", "gpt-4.1", "2025-04-14", True, True, 1744588800),
    BaseModel("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini", "2025-04-14", True, True, 1744588800),
    BaseModel("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano", "2025-04-14", True, True, 1744588800),
    BaseModel("gpt-35-turbo-0125", "gpt-35-turbo", "0125", True, False, 1706140800),
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


def base_model_for_deployment(name: str, version: str | None) -> BaseModel | None:
    """The catalog entry an ARM `{name, version}` refers to; no version means the newest."""
    matches = [m for m in BASE_MODELS if m.name == name]
    if version is not None:
        matches = [m for m in matches if m.version == version]
    return max(matches, key=lambda m: m.version, default=None)
