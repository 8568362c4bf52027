"""The baseline of validate_bench.py: the OpenAI cookbook's "Data preparation and analysis for
chat model fine-tuning" (examples/Chat_finetuning_data_prep.ipynb, b774cbf), as written there:
load every line into a list, check formats, count tokens, print the distributions.

    python benchmarks/validate_cookbook_baseline.py FILE

Only two changes: the encoding is o200k_base (as in Azure's tutorial), loaded offline through
reconciler.datasets.encodings (tiktoken itself), and the cap is 65,536 (today's limit).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict

from reconciler.datasets.encodings import get_encoding

encoding = get_encoding("o200k_base")
MAX_TOKENS_PER_EXAMPLE = 65536


def num_tokens_from_messages(messages, tokens_per_message=3, tokens_per_name=1):  # type: ignore[no-untyped-def]
    num_tokens = 0
    for message in messages:
        num_tokens += tokens_per_message
        for key, value in message.items():
            num_tokens += len(encoding.encode(value))
            if key == "name":
                num_tokens += tokens_per_name
    num_tokens += 3
    return num_tokens


def num_assistant_tokens_from_messages(messages):  # type: ignore[no-untyped-def]
    num_tokens = 0
    for message in messages:
        if message["role"] == "assistant":
            num_tokens += len(encoding.encode(message["content"]))
    return num_tokens


def format_errors(dataset):  # type: ignore[no-untyped-def]
    errors: dict[str, int] = defaultdict(int)
    for ex in dataset:
        if not isinstance(ex, dict):
            errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                errors["message_missing_key"] += 1
            if any(
                k not in ("role", "content", "name", "function_call", "weight") for k in message
            ):
                errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            errors["example_missing_assistant_message"] += 1
    return errors


def print_distribution(values, name):  # type: ignore[no-untyped-def]
    print(f"\n#### Distribution of {name}:")
    print(f"min / max: {min(values)}, {max(values)}")
    print(f"mean / median: {statistics.mean(values)}, {statistics.median(values)}")
    deciles = statistics.quantiles(values, n=10)
    print(f"p5 / p95: {deciles[0]}, {deciles[-1]}")


def main(path: str) -> None:
    with open(path, encoding="utf-8") as f:
        dataset = [json.loads(line) for line in f]
    print("Num examples:", len(dataset))
    errors = format_errors(dataset)
    print("Found errors:" if errors else "No errors found", dict(errors))
    n_missing_system = n_missing_user = 0
    n_messages, convo_lens, assistant_message_lens = [], [], []
    for ex in dataset:
        messages = ex["messages"]
        if not any(message["role"] == "system" for message in messages):
            n_missing_system += 1
        if not any(message["role"] == "user" for message in messages):
            n_missing_user += 1
        n_messages.append(len(messages))
        convo_lens.append(num_tokens_from_messages(messages))
        assistant_message_lens.append(num_assistant_tokens_from_messages(messages))
    print("Num examples missing system message:", n_missing_system)
    print("Num examples missing user message:", n_missing_user)
    print_distribution(n_messages, "num_messages_per_example")
    print_distribution(convo_lens, "num_total_tokens_per_example")
    print_distribution(assistant_message_lens, "num_assistant_tokens_per_example")
    n_too_long = sum(length > MAX_TOKENS_PER_EXAMPLE for length in convo_lens)
    billing = sum(min(MAX_TOKENS_PER_EXAMPLE, length) for length in convo_lens)
    print(f"{n_too_long} examples may be over the limit; ~{billing} billable tokens per epoch")


if __name__ == "__main__":
    main(sys.argv[1])
