"""Dataset validation, digests and offline token counting (research/datasets.md §5).

    inspect_dataset(path, role=, format=, base_model=, count_tokens=, cache_dir=) -> DatasetReport
    compare_datasets(training, validation) -> [Diagnostic]   (SET_FORMAT_DIFFERS, overlap)
    data_diff(old_bytes_or_path, new_path) -> DataDiff       (+N / -M examples, token delta)
    validate_jsonl(path) -> [Diagnostic]
    file_digest(path) -> sha256 hex

This package imports nothing from reconciler but `reconciler.errors` and `reconciler.fileio`
(digests, atomic writes; `file_digest` is the one shared); the catalog's `ModelInfo`
is accepted wherever a model is (see profiles.ModelProfile).
"""

from reconciler.fileio import file_digest

from .codes import RULES, RULES_VERSION
from .inspection import (
    TOKENIZED,
    compare_datasets,
    data_diff,
    inspect_dataset,
    validate_jsonl,
)
from .profiles import ModelProfile, fallback_profile
from .report import DataDiff, DatasetReport, TokenStats
from .tokens import EPOCHS_HEURISTIC_NOTE, default_epochs

__all__ = [
    "EPOCHS_HEURISTIC_NOTE",
    "RULES",
    "RULES_VERSION",
    "TOKENIZED",
    "DataDiff",
    "DatasetReport",
    "ModelProfile",
    "TokenStats",
    "compare_datasets",
    "data_diff",
    "default_epochs",
    "fallback_profile",
    "file_digest",
    "inspect_dataset",
    "validate_jsonl",
]
