"""Fine-tunable base models on Azure OpenAI: regions, methods, limits, prices, each sourced.

    load_catalog(override=None) -> Catalog
    Catalog.model(id) -> ModelInfo | None          (versioned ids and aliases accepted)
    Catalog.fine_tunable_in(model, region) -> bool

The data is `catalog.json` beside this file; a Project's `spec.catalog` file of the same shape
replaces or adds models by id.
"""

from .loading import Catalog, CatalogError, load_catalog
from .models import ModelInfo, Source, Sourced

__all__ = ["Catalog", "CatalogError", "ModelInfo", "Source", "Sourced", "load_catalog"]
