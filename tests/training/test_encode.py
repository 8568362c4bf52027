"""Labels built by ftops: only assistant tokens of `weight: 1` (or unweighted) turns are learned."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from reconciler.training.encode import IGNORE, TemplateError, encode_chat
from tests.training import tiny

pytestmark = pytest.mark.local


@pytest.fixture(scope="module")
def tokenizer(tiny_source: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_source / "models/tiny", local_files_only=True)


def trained_text(tokenizer, encoded: dict) -> str:
    pairs = zip(encoded["input_ids"], encoded["labels"], strict=True)
    kept = [token for token, label in pairs if label != IGNORE]
    return tokenizer.decode(kept)


CONVERSATION = [
    {"role": "system", "content": tiny.SYSTEM},
    {"role": "user", "content": "What is 8 plus 36?"},
    {"role": "assistant", "content": "Sorry, 8 plus 36 is 45.", "weight": 0},
    {"role": "user", "content": "Are you sure?"},
    {"role": "assistant", "content": "8 plus 36 is 44.", "weight": 1},
]


def test_weight_zero_turns_get_no_labels(tokenizer) -> None:
    encoded = encode_chat(tokenizer, CONVERSATION)
    assert trained_text(tokenizer, encoded) == "8 plus 36 is 44.<|im_end|>"
    text = tokenizer.decode(encoded["input_ids"])
    assert "Sorry, 8 plus 36 is 45." in text  # still in the context, just not learned
    assert len(encoded["labels"]) == len(encoded["input_ids"])
    native = tokenizer.apply_chat_template(
        [{k: v for k, v in m.items() if k != "weight"} for m in CONVERSATION], tokenize=True
    )
    native_ids = native["input_ids"] if hasattr(native, "keys") else native
    assert encoded["input_ids"] == list(native_ids)


def test_unweighted_assistant_turns_are_all_learned(tokenizer) -> None:
    messages = [{k: v for k, v in m.items() if k != "weight"} for m in CONVERSATION]
    encoded = encode_chat(tokenizer, messages)
    assert trained_text(tokenizer, encoded) == (
        "Sorry, 8 plus 36 is 45.<|im_end|>8 plus 36 is 44.<|im_end|>"
    )


def test_loss_on_all_learns_every_token(tokenizer) -> None:
    encoded = encode_chat(tokenizer, CONVERSATION, loss_on="all")
    assert encoded["labels"] == encoded["input_ids"]


def test_truncation_keeps_ids_and_labels_aligned(tokenizer) -> None:
    encoded = encode_chat(tokenizer, CONVERSATION, max_length=10)
    assert len(encoded["input_ids"]) == len(encoded["labels"]) == 10


def test_template_that_is_not_prefix_preserving_is_refused(tokenizer) -> None:
    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    # Renders the message count up front, so a shorter conversation is not a prefix of a longer one.
    tokenizer.chat_template = "{{ messages | length }}" + tiny.CHATML
    with pytest.raises(TemplateError, match="prefix-preserving"):
        encode_chat(tokenizer, CONVERSATION)
