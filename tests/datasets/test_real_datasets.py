"""The verdict on every real dataset (research/datasets.md §2.5 and §6): valid files pass,
the documented broken ones fail at the right line. Run on shared/datasets/ where it exists,
and on the MIT-licensed copies in tests/data/real/ always."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from reconciler.datasets import inspect_dataset
from reconciler.errors import Severity

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"
VENDORED = Path(__file__).resolve().parents[1] / "data" / "real"

GPT_4O = "gpt-4o-2024-08-06"
MINI = "gpt-4o-mini-2024-07-18"


class Verdict(NamedTuple):
    file: str
    role: str
    model: str
    errors: dict[str, list[int | None]]  # error code -> lines (None: file level); {} = passes
    why: str


VERDICTS = [
    Verdict("mslearn-ai-studio/travel-finetune.jsonl", "training", MINI, {}, "10 clean examples"),
    Verdict("mslearn-ai-studio/travel-finetune-hotel.jsonl", "training", MINI, {}, "clean"),
    Verdict(
        "mslearn-ai-studio/travel-finetune-validation.jsonl",
        "validation",
        MINI,
        {"EX_NO_ASSISTANT": [1, 2, 3, 4, 5]},
        "no example has an assistant message (§6); 5 < 10 is only a warning for validation",
    ),
    Verdict(
        "openai-cookbook/toy_chat_fine_tuning.jsonl",
        "training",
        MINI,
        {"FILE_TOO_FEW_EXAMPLES": [None]},
        "5 examples: the cookbook does not flag < 10 (§2.5)",
    ),
    Verdict(
        "microsoft-foundry-fine-tuning/dpo-orca/validation.jsonl", "validation", GPT_4O, {}, "DPO"
    ),
    Verdict(
        "microsoft-foundry-fine-tuning/dpo-orca/validation.jsonl",
        "validation",
        MINI,
        {"DPO_MODEL_UNSUPPORTED": [1]},
        "gpt-4o-mini has no DPO",
    ),
    Verdict(
        "microsoft-foundry-fine-tuning/gsm8k/chat_validation.jsonl", "validation", MINI, {}, "clean"
    ),
    Verdict(
        "microsoft-foundry-fine-tuning/tool-calling/stock_toolcall_training.jsonl",
        "training",
        MINI,
        {},
        "tool_calls without content are valid (cookbook false positives, §2.5)",
    ),
    Verdict(
        "microsoft-foundry-fine-tuning/tool-calling/stock_toolcall_validation.jsonl",
        "validation",
        MINI,
        {},
        "same",
    ),
    Verdict(
        "microsoft-foundry-fine-tuning/zava-retail-tooluse/datagen-ToolUse-FineTuneSupervised-valid.jsonl",
        "validation",
        MINI,
        {},
        "agent traces: tool role and adjacent assistant turns are valid (§2.5)",
    ),
    Verdict(
        "microsoft-foundry-fine-tuning/multimodal-chartqa/training.jsonl",
        "training",
        GPT_4O,
        {},
        "vision with https URLs, list content on assistant messages",
    ),
    Verdict(
        "microsoft-foundry-fine-tuning/multimodal-chartqa/validation.jsonl",
        "validation",
        GPT_4O,
        {},
        "same",
    ),
    Verdict(
        "microsoft-foundry-fine-tuning/multimodal-chartqa/training.jsonl",
        "training",
        MINI,
        {"IMG_MODEL_UNSUPPORTED": [1]},
        "gpt-4o-mini has no vision fine-tuning",
    ),
    *[
        Verdict(f"azureai-samples-function-calling/{name}", role, MINI, {}, "legacy functions")
        for name, role in (
            ("stock-train-hallucination.jsonl", "training"),
            ("stock-test-hallucination.jsonl", "validation"),
            ("stock-train-token-reduction.jsonl", "training"),
            ("stock-test-token-reduction.jsonl", "validation"),
        )
    ],
    Verdict(
        "azure-samples-openai-legacy/generated_labels_context_switching_prepared_train.jsonl",
        "training",
        "babbage-002",
        {},
        "legacy prompt/completion for babbage-002",
    ),
    Verdict(
        "azure-samples-openai-legacy/generated_labels_context_switching_prepared_valid.jsonl",
        "validation",
        "davinci-002",
        {},
        "same",
    ),
    Verdict(
        "azure-samples-openai-legacy/generated_labels_context_switching_prepared_train.jsonl",
        "training",
        MINI,
        {"FILE_FORMAT_MODEL_MISMATCH": [1]},
        "prompt/completion data for a chat model",
    ),
    Verdict(
        "azure-docs-snippets/weighted-multiturn.jsonl",
        "validation",
        MINI,
        {},
        "weight 0/1 is valid",
    ),
    Verdict(
        "azure-docs-snippets/weighted-multiturn.jsonl",
        "training",
        MINI,
        {"FILE_TOO_FEW_EXAMPLES": [None]},
        "3 examples",
    ),
    Verdict("azure-docs-snippets/vision-single-example.jsonl", "validation", GPT_4O, {}, "vision"),
    Verdict("azure-docs-snippets/tool-calling-single-line.jsonl", "validation", MINI, {}, "tools"),
    Verdict(
        "azure-docs-snippets/dpo-doc-example-BROKEN.jsonl",
        "validation",
        GPT_4O,
        {"LINE_INVALID_JSON": [1, 2]},
        "`{{` on line 1 and a stray `}` on line 2 (§2.5: FAIL line 1)",
    ),
    Verdict(
        "azure-docs-snippets/tool-calling-pretty-with-comment-BROKEN.json",
        "validation",
        MINI,
        {"FILE_NOT_JSONL": [1]},
        "pretty-printed JSON: one FILE_NOT_JSONL, not random per-line results (§5.1)",
    ),
]


def errors_by_code(path: Path, verdict: Verdict) -> dict[str, list[int | None]]:
    report = inspect_dataset(path, role=verdict.role, base_model=verdict.model)  # type: ignore[arg-type]
    found: dict[str, list[int | None]] = {}
    for d in report.diagnostics:
        if d.severity is Severity.ERROR:
            found.setdefault(d.code, []).append(d.location.line if d.location else None)
    return found


def verdict_id(verdict: Verdict) -> str:
    return f"{verdict.file.split('/')[-1]}-{verdict.role}-{verdict.model}"


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared/datasets is not present")
@pytest.mark.parametrize("verdict", VERDICTS, ids=verdict_id)
def test_verdict_on_shared_dataset(verdict: Verdict) -> None:
    assert errors_by_code(SHARED / verdict.file, verdict) == verdict.errors, verdict.why


VENDORED_VERDICTS = [v for v in VERDICTS if (VENDORED / v.file).is_file()]


@pytest.mark.parametrize("verdict", VENDORED_VERDICTS, ids=verdict_id)
def test_verdict_on_vendored_copy(verdict: Verdict) -> None:
    assert errors_by_code(VENDORED / verdict.file, verdict) == verdict.errors, verdict.why


def test_vendored_copies_cover_every_mit_file() -> None:
    assert len(VENDORED_VERDICTS) >= 16
    assert not list(VENDORED.rglob("*chartqa*")), "GPL-3.0 data must not be vendored"


def test_toy_chat_matches_the_cookbooks_printed_numbers() -> None:
    """The cookbook notebook prints min/max 26/8032 and 4306 billable tokens at a 4,096 cap
    (cl100k_base); for plain chat our formula is the cookbook's (shared/datasets/SOURCES.md)."""
    report = inspect_dataset(
        VENDORED / "openai-cookbook/toy_chat_fine_tuning.jsonl", base_model="gpt-35-turbo-0613"
    )
    assert report.tokens is not None
    assert (report.tokens.min, report.tokens.max, report.tokens.billable) == (26, 8032, 4306)
    assert report.tokens.truncated == 1
    too_long = [d for d in report.diagnostics if d.code == "EX_TOO_MANY_TOKENS"]
    assert [d.location.line for d in too_long if d.location] == [5]
