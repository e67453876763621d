"""Meta-analysis core: effect sizes, equal/random/mixed-effects models, subgroups, plots.

Pure numpy/scipy; no I/O. Reproduces R's metafor (``escalc``, ``rma.uni``).
"""

from sci_evidence.meta.models import fit_design, pool
from sci_evidence.meta.results import PoolResult, SubgroupResult
from sci_evidence.meta.subgroups import subgroups

__all__ = ["pool", "fit_design", "subgroups", "PoolResult", "SubgroupResult"]

# meta-effects: effect sizes, back-transformations, ri sensitivity, Mantel-Haenszel/Peto
from sci_evidence.meta.correlation import correlation_sensitivity  # noqa: E402
from sci_evidence.meta.effects import MEASURES, effect_sizes  # noqa: E402
from sci_evidence.meta.mantel_haenszel import MantelHaenszelResult, pool_mh, pool_peto  # noqa: E402
from sci_evidence.meta.transforms import MeasureScale, back_transform, measure_scale  # noqa: E402

__all__ += [
    "MEASURES",
    "effect_sizes",
    "back_transform",
    "measure_scale",
    "MeasureScale",
    "correlation_sensitivity",
    "pool_mh",
    "pool_peto",
    "MantelHaenszelResult",
]
