"""Meta-analysis core: effect sizes, equal/random/mixed-effects models, subgroups, bias and
sensitivity analyses, plots.

Pure numpy/scipy; no I/O. Reproduces R's metafor (``escalc``, ``rma.uni``, ``leave1out``,
``influence``, ``trimfill``, ``regtest``, ``permutest``, ``gosh``).

The public API is :data:`__all__`: one name per line, sorted, so that adding a name is a
one-line change. Import a new module's names in the import block (kept sorted by ruff) and
add them to the list; ``tests/meta/test_public_api.py`` checks both.
"""

from sci_evidence.meta.bayes import BayesResult, pool_bayes
from sci_evidence.meta.bias import egger_test, fail_safe_n, pet_peese, rank_test
from sci_evidence.meta.bias_plots import baujat_plot, funnel_plot, gosh_plot
from sci_evidence.meta.change_sd import correlation_from_change, sd_change
from sci_evidence.meta.correlation import correlation_sensitivity, plot_correlation_sensitivity
from sci_evidence.meta.cumulative import cumulative
from sci_evidence.meta.effects import MEASURES, effect_sizes
from sci_evidence.meta.fivenum import fivenum_to_mean_sd, fivenum_to_mean_sd_frame
from sci_evidence.meta.glmm import GlmmResult, pool_glmm
from sci_evidence.meta.gosh import gosh
from sci_evidence.meta.gosh_summary import gosh_summary
from sci_evidence.meta.heterogeneity import tau2_confint
from sci_evidence.meta.influence import (
    baujat,
    influence,
    influence_result,
    leave_one_out,
    leave_one_out_result,
)
from sci_evidence.meta.mantel_haenszel import MantelHaenszelResult, pool_mh, pool_peto
from sci_evidence.meta.models import fit_design, pool
from sci_evidence.meta.permutation import permutation_test
from sci_evidence.meta.proportion_ci import proportion_ci
from sci_evidence.meta.results import PoolResult, SubgroupResult
from sci_evidence.meta.subgroups import subgroups
from sci_evidence.meta.transforms import MeasureScale, back_transform, measure_scale
from sci_evidence.meta.trimfill import trim_and_fill

__all__ = [
    "BayesResult",
    "GlmmResult",
    "MEASURES",
    "MantelHaenszelResult",
    "MeasureScale",
    "PoolResult",
    "SubgroupResult",
    "back_transform",
    "baujat",
    "baujat_plot",
    "correlation_from_change",
    "correlation_sensitivity",
    "cumulative",
    "effect_sizes",
    "egger_test",
    "fail_safe_n",
    "fit_design",
    "fivenum_to_mean_sd",
    "fivenum_to_mean_sd_frame",
    "funnel_plot",
    "gosh",
    "gosh_plot",
    "gosh_summary",
    "influence",
    "influence_result",
    "leave_one_out",
    "leave_one_out_result",
    "measure_scale",
    "permutation_test",
    "pet_peese",
    "plot_correlation_sensitivity",
    "pool",
    "pool_bayes",
    "pool_glmm",
    "pool_mh",
    "pool_peto",
    "proportion_ci",
    "rank_test",
    "sd_change",
    "subgroups",
    "tau2_confint",
    "trim_and_fill",
]
