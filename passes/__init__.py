"""Graph passes, one per file. `conversion_pipeline()` lists the ANN → SNN conversion."""

from snnc.passes.base import PASSES, Pass, PassContext, PassManager
from snnc.passes.pipeline import DEFAULT_PASSES, conversion_pipeline

__all__ = ["DEFAULT_PASSES", "PASSES", "Pass", "PassContext", "PassManager", "conversion_pipeline"]
