"""The training subprocess: `python -m reconciler.training RUN_DIR` (needs the `[local]` extra).

This package is the only place that imports torch, transformers, peft, trl and accelerate;
the rest of ftops talks to it through the run directory (`reconciler.localruns`) and
`providers.local`.
"""
