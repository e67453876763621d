"""Meta-analysis core: effect sizes, equal/random/mixed-effects models, subgroups, plots.

Pure numpy/scipy; no I/O. Reproduces R's metafor (``escalc``, ``rma.uni``).
"""

from sci_evidence.meta.models import fit_design, pool
from sci_evidence.meta.results import PoolResult, SubgroupResult
from sci_evidence.meta.subgroups import subgroups

__all__ = ["pool", "fit_design", "subgroups", "PoolResult", "SubgroupResult"]

# meta-effects: effect sizes, back-transformations, ri sensitivity, Mantel-Haenszel/Peto
from sci_evidence.meta.correlation import (  # noqa: E402
    correlation_sensitivity,
    plot_correlation_sensitivity,
)
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
    "plot_correlation_sensitivity",
    "pool_mh",
    "pool_peto",
    "MantelHaenszelResult",
]

# meta-bias: publication bias, sensitivity and robustness (issue 3)
from sci_evidence.meta.bias import egger_test, fail_safe_n, pet_peese, rank_test  # noqa: E402
from sci_evidence.meta.bias_plots import baujat_plot, funnel_plot, gosh_plot  # noqa: E402
from sci_evidence.meta.cumulative import cumulative  # noqa: E402
from sci_evidence.meta.gosh import gosh  # noqa: E402
from sci_evidence.meta.influence import (  # noqa: E402
    baujat,
    influence,
    influence_result,
    leave_one_out,
    leave_one_out_result,
)
from sci_evidence.meta.permutation import permutation_test  # noqa: E402
from sci_evidence.meta.trimfill import trim_and_fill  # noqa: E402

__all__ += [
    "egger_test",
    "rank_test",
    "pet_peese",
    "fail_safe_n",
    "trim_and_fill",
    "leave_one_out",
    "leave_one_out_result",
    "influence",
    "influence_result",
    "baujat",
    "cumulative",
    "gosh",
    "permutation_test",
    "funnel_plot",
    "baujat_plot",
    "gosh_plot",
]
from sci_evidence.meta.glmm import GlmmResult, pool_glmm  # noqa: E402  (issue 14 §1)

__all__ += ["pool_glmm", "GlmmResult"]
