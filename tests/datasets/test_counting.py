"""The fast count (quicktok) equals tiktoken's `encode_ordinary` on every text of the real datasets
and on text built to break tokenizers, in both encodings; tiktoken stays the fallback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.datasets import encodings, inspect_dataset

ENCODINGS = ("o200k_base", "cl100k_base")
REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included (tool schemas count theirs)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def real_texts() -> list[str]:
    texts = {
        text
        for path in sorted(REAL.rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
        for text in strings(json.loads(line))
    }
    return sorted(texts)


ADVERSARIAL = [
    "",
    " ",
    " " * 5000,
    "\t \t\n\n  \r\n\u00a0\u3000\u2028\u2029" * 200,
    "word" + " " * 17 + "word\n\n\n   \n",
    "0123456789" * 400,
    "1,234,567.890 -42 3.14159e-10 0x1F 2026-12-01T14:15:04Z",
    "日本語のテキストと漢字、ひらがな、カタカナ。中文文本\uff0c标点符号\uff01한국어 텍스트" * 30,
    "👩‍👩‍👧‍👦🏳️‍🌈👍🏽🇯🇵🙂" * 100,
    "e\u0301\u0301\u0301 a\u0308 \u0915\u094d\u0937 \u0e01\u0e33 \u05e9\u05c1\u05b8",
    "مرحبا بالعالم עברית русский язык Ελληνικά ภาษาไทย हिन्दी",
    "I'm you'RE he'll she'd we've they'S don't 'tis ''quoted''",
    "!!!???...,,,;;;:::---___===+++***&&&%%%$$$###@@@" * 50,
    "a" * 60000,
    "ab" * 30000,
    "\x00\x01\x02\x1b[31mred\x1b[0m\x7f",
    "<|endoftext|><|im_start|>user<|im_end|><|fim_prefix|>",
    "def f(x):\n    return {'k': [1, 2, 3]}  # comment\n\tif x: pass\n",
    "https://example.com/path?q=1&r=%20#frag user@example.com",
    "\ufeffBOM \ufffd replacement \U0010ffff last plane \ue000 private",
    "lone \ud800 high and \udfff low surrogates \ud83d",
    "MiXeD CaSe AND UPPERCASE WORDS with lowercase",
]


@pytest.fixture(scope="module", params=ENCODINGS)
def pair(request: pytest.FixtureRequest) -> tuple[encodings.CountTokens, Any]:
    name = request.param
    native = encodings.native_counter(name)
    assert native is not None, "quicktok is a dependency: the fast count must be the one tested"
    return native, encodings.get_encoding(name)


def test_the_fast_count_is_the_one_used() -> None:
    for name in ENCODINGS:
        assert encodings.get_counter(name)("hello world") == 2
        assert encodings.native_counter(name) is not None


def test_counts_equal_tiktoken_on_every_real_text(pair: tuple[Any, Any]) -> None:
    count, tiktoken_encoding = pair
    texts = real_texts()
    assert len(texts) > 1000  # the vendored datasets: thousands of distinct strings
    wrong = [t for t in texts if count(t) != len(tiktoken_encoding.encode_ordinary(t))]
    assert wrong == []


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_counts_equal_tiktoken_on_adversarial_text(pair: tuple[Any, Any], text: str) -> None:
    count, tiktoken_encoding = pair
    assert count(text) == len(tiktoken_encoding.encode_ordinary(text))


PIECES = st.sampled_from(
    [" ", "  ", "\n", "\t", "\u00a0", "7", "42", "'s", "'LL", "日本", "한", "👍🏽", "‍", "e\u0301"]
)
GENERATED = st.lists(st.one_of(st.text(max_size=40), PIECES), max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=GENERATED)
def test_counts_equal_tiktoken_on_generated_text(text: str) -> None:
    for name in ENCODINGS:
        count = encodings.native_counter(name)
        assert count is not None
        assert count(text) == len(encodings.get_encoding(name).encode_ordinary(text))


def test_without_quicktok_tiktoken_counts_the_same_report(monkeypatch: pytest.MonkeyPatch) -> None:
    path = REAL / "openai-cookbook" / "toy_chat_fine_tuning.jsonl"
    fast = inspect_dataset(path)
    monkeypatch.setenv("FTOPS_TOKEN_COUNTER", "tiktoken")
    monkeypatch.setattr(encodings, "_counters", {})
    assert encodings.native_counter("o200k_base") is None
    slow = inspect_dataset(path)
    assert fast.tokens is not None and slow.tokens is not None
    assert fast.tokens.total == slow.tokens.total > 0
    assert fast.as_json() == slow.as_json()
