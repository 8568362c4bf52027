"""Loading the base model and tokenizer offline, from a HF directory or a GGUF file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from reconciler.fileio import short_digest

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def _clear_gguf_quantisation(model: Any) -> None:
    """transformers dequantises GGUF to dense tensors but keeps the marker, and then refuses to
    train or save "a quantized model" (research/local-runs.md §2.6). Drop the marker."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def dequantised_gguf_dir(model_dir: Path, gguf_file: str, digest: str, cache_dir: Path) -> Path:
    """A safetensors copy of a GGUF base (dequantising takes ~17 s for 135M); cached by digest."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = cache_dir / "gguf" / short_digest(digest)
    if (target / "config.json").exists():
        return target
    tokenizer = AutoTokenizer.from_pretrained(model_dir, gguf_file=gguf_file, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, gguf_file=gguf_file, local_files_only=True
    )
    _clear_gguf_quantisation(model)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    try:
        tmp.rename(target)
    except OSError:  # another run cached it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_tokenizer(model_dir: Path, chat_template_file: str | None) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if chat_template_file:
        tokenizer.chat_template = Path(chat_template_file).read_text()
    if not tokenizer.chat_template:
        raise ValueError(
            f"the tokenizer in {model_dir} has no chat template; set baseModel.chatTemplate "
            "to a .jinja file"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(model_dir: Path, spec: dict, *, on_cuda: bool) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    hp, adapter = spec["hyperparameters"], spec["adapter"]
    kwargs: dict[str, Any] = {"local_files_only": True}
    if adapter["type"] == "qlora":
        if not on_cuda:
            raise RuntimeError("adapter.type qlora needs a CUDA GPU (bitsandbytes 4-bit kernels)")
        from transformers import BitsAndBytesConfig

        quant = adapter.get("quantization") or {}
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=quant.get("type", "nf4"),
            bnb_4bit_use_double_quant=quant.get("doubleQuant", True),
            bnb_4bit_compute_dtype=getattr(torch, quant.get("computeDtype", "bfloat16")),
        )
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    else:
        kwargs["dtype"] = getattr(torch, DTYPES[hp["precision"]])
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    if adapter["type"] == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=hp["gradientCheckpointing"]
        )
    return model


def lora_config(spec: dict) -> Any:
    from peft import LoraConfig

    adapter = spec["adapter"]
    return LoraConfig(
        r=adapter["r"],
        lora_alpha=adapter["alpha"],
        lora_dropout=adapter["dropout"],
        target_modules=adapter["targetModules"],
        bias="none",
        task_type="CAUSAL_LM",
    )
