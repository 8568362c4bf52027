"""The scoring script of a managed online deployment that serves a TrainingRun's adapter.

Azure ML's inference server calls `init()` once, with `AZUREML_MODEL_DIR` where it mounted the
model ftops registered (`base/`, `adapter/`, `serving.json`), then `run(body)` per request. A
request is chat messages (`{"messages": [...], "max_tokens": 64}`); the answer is shaped like an
OpenAI chat completion, so clients read it as they read Azure OpenAI's. Decoding is greedy: the
same request gets the same answer, as a smoke test wants.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MANIFEST = "serving.json"
DEFAULT_MAX_TOKENS = 64
_served: dict[str, Any] = {}


def model_root() -> Path:
    """The folder that holds serving.json: Azure mounts a folder model one level down (by its
    name); the emulator copies it as is."""
    root = Path(os.environ["AZUREML_MODEL_DIR"])
    found = sorted(root.rglob(MANIFEST), key=lambda p: len(p.parts))
    if not found:
        raise FileNotFoundError(f"no {MANIFEST} under {root}: not a model ftops registered")
    return found[0].parent


def init() -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    root = model_root()
    manifest = json.loads((root / MANIFEST).read_text())
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    base = _base_dir(root, manifest)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype, local_files_only=True)
    adapted = PeftModel.from_pretrained(model, str(root / "adapter"), local_files_only=True)
    _served.update(
        model=adapted.to(device).eval(),
        tokenizer=_tokenizer(root / "adapter", base),
        device=device,
        name=manifest["model"],
    )


def _base_dir(root: Path, manifest: dict[str, Any]) -> Path:
    """The base model's folder; a GGUF file is dequantised once, as the trainer did."""
    base = root / "base"
    gguf = manifest.get("ggufFile")
    if not gguf:
        return base
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the code snapshot's root
    from reconciler.training.model import dequantised_gguf_dir

    cache = Path(tempfile.gettempdir()) / "ftops-cache"
    return dequantised_gguf_dir(base, gguf, manifest["baseDigests"]["weights"], cache)


def _tokenizer(adapter: Path, base: Path) -> Any:
    """The trainer saved the tokenizer with its chat template beside the adapter."""
    from transformers import AutoTokenizer

    source = adapter if (adapter / "tokenizer_config.json").exists() else base
    return AutoTokenizer.from_pretrained(source, local_files_only=True)


def run(raw: str) -> dict[str, Any]:
    import torch

    request = json.loads(raw)
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        return {"error": {"code": "BadRequest", "message": "'messages' is a required list"}}
    tokenizer, model = _served["tokenizer"], _served["model"]
    started = time.perf_counter()
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(_served["device"])
    limit = int(request.get("max_tokens") or DEFAULT_MAX_TOKENS)
    with torch.no_grad():
        output = model.generate(
            **inputs, max_new_tokens=limit, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    new = output[0, inputs["input_ids"].shape[1] :]
    text = tokenizer.decode(new, skip_special_tokens=True)
    return {
        "object": "chat.completion",
        "created": int(time.time()),
        "model": _served["name"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "length" if len(new) >= limit else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": int(inputs["input_ids"].shape[1]),
            "completion_tokens": len(new),
            "total_tokens": int(inputs["input_ids"].shape[1] + len(new)),
        },
        "latency_ms": round((time.perf_counter() - started) * 1000),
    }
