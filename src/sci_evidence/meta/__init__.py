"""Meta-analysis core: effect sizes, equal/random/mixed-effects models, subgroups, plots.

Pure numpy/scipy; no I/O. Reproduces R's metafor (``escalc``, ``rma.uni``).
"""

from sci_evidence.meta.models import fit_design, pool
from sci_evidence.meta.results import PoolResult, SubgroupResult

__all__ = ["pool", "fit_design", "PoolResult", "SubgroupResult"]
