"""A tiny Llama and a BPE tokenizer built offline (research/local-runs.md §2.2), and toy chat data.

Nothing is downloaded and nothing is committed: the base model directory (~0.4 MB) is built in a
fraction of a second from a fixed seed, so every run sees the same bytes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SYSTEM = "You are a calculator. Answer in one sentence."


def chat_rows(n: int, seed: int) -> list[dict]:
    """Addition questions; every third row is multi-turn with a wrong `weight: 0` first answer."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(1, 60), rng.randint(1, 60)
        question = {"role": "user", "content": f"What is {a} plus {b}?"}
        right = f"{a} plus {b} is {a + b}."
        messages = [{"role": "system", "content": SYSTEM}, question]
        if i % 3 == 2:
            messages += [
                {
                    "role": "assistant",
                    "content": f"Sorry, {a} plus {b} is {a + b - 1}.",
                    "weight": 0,
                },
                {"role": "user", "content": "Are you sure?"},
                {"role": "assistant", "content": f"My mistake: {right}", "weight": 1},
            ]
        else:
            messages.append({"role": "assistant", "content": right})
        rows.append({"messages": messages})
    return rows


def dpo_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = rng.randint(1, 60), rng.randint(1, 60)
        rows.append(
            {
                "input": {
                    "messages": [
                        {"role": "system", "content": SYSTEM},
                        {"role": "user", "content": f"What is {a} plus {b}?"},
                    ]
                },
                "preferred_output": [{"role": "assistant", "content": f"{a} plus {b} is {a + b}."}],
                "non_preferred_output": [
                    {"role": "assistant", "content": f"{a} plus {b} is {a + b + 3}."}
                ],
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def build_tokenizer(texts: list[str], vocab_size: int = 384):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|pad|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|pad|>", bos_token=None
    )
    fast.chat_template = CHATML
    return fast


def build_base(
    target: Path,
    rows: list[dict],
    *,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    intermediate: int = 128,
    vocab_size: int = 384,
) -> Path:
    """Save a randomly initialised (seeded) Llama + tokenizer into `target`; returns it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    texts = [m["content"] for r in rows for m in r["messages"]]
    tokenizer = build_tokenizer(texts, vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target
