"""ftops: a declarative GitOps reconciler for fine-tuned models.

The package is layered; imports point down (checked by import-linter, see pyproject.toml):

    cli
    applying | rendering
    providers
    planning
    desired
    plans | live
    specs | datasets | catalog
    errors

`emulator` is a faithful local Azure and imports nothing from the rest of the package.
`training` is the local LoRA/DPO trainer, run as a subprocess, and the only importer of torch.
"""

__version__ = "0.1.0"
