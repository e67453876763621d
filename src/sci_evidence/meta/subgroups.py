r"""Subgroup analysis: a pooled result per subgroup and the test for subgroup differences.

Two conventions, as in the literature and the R packages:

* ``tau2="separate"`` (R ``meta``'s default): each subgroup is its own random-effects model
  with its own tau². The test for subgroup differences is the equal-effect Q of the subgroup
  estimates, :math:`Q_B = \sum_g (\hat\mu_g - \bar\mu)^2/SE_g^2` with
  :math:`\bar\mu = \sum_g \hat\mu_g SE_g^{-2}/\sum_g SE_g^{-2}`, on G − 1 df (chi²).
* ``tau2="common"`` (metafor's way: ``rma(yi, vi, mods = ~ factor(group))``): one tau² is
  estimated from the meta-regression on the subgroup factor; each subgroup's estimate is then
  its inverse-variance mean with that tau² (the cell-means model ``~ 0 + factor(group)``), and
  the test is the moderator test QM of the meta-regression (chi² on G − 1 df under ``z``;
  under ``knha`` the F statistic with (G − 1, k − G) df, reported as ``Q_between = F``).

Groups are ordered as sorted strings (the first is the reference level of the factor).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.special import chdtrc

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.meta.models import _METHOD_ALIASES, _TEST_ALIASES, METHODS, TESTS, pool
from sci_evidence.meta.results import SubgroupResult
from sci_evidence.meta.validation import check_level, check_option, check_vector

__all__ = ["subgroups"]


def subgroups(
    yi: Any,
    vi: Any,
    groups: Any,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    tau2: str = "separate",
    labels: Any = None,
    measure: str | None = None,
    control: dict | None = None,
) -> SubgroupResult:
    """Pool within each subgroup and test whether the subgroups differ.

    Parameters
    ----------
    yi, vi : array_like of shape (k,)
        Effect sizes and sampling variances.
    groups : array_like of shape (k,)
        Subgroup of each study (any values; compared as strings).
    method, test, level, control
        As in :func:`~sci_evidence.meta.models.pool` (default REML, z, 0.95).
    tau2 : {"separate", "common"}, default "separate"
        One tau² per subgroup, or one tau² shared by all subgroups (see module docstring).
    labels : sequence of str, optional
        Study labels.
    measure : str, optional
        Effect measure name.

    Returns
    -------
    SubgroupResult
        ``results[g]`` is the :class:`PoolResult` of subgroup ``g``; ``overall`` pools all
        studies ignoring the subgroups; ``Q_between``/``Q_between_df``/``Q_between_pval``
        test the subgroup differences.

    Raises
    ------
    InputError
        Fewer than two subgroups, a missing group value, or bad yi/vi.
    """
    method = check_option("method", method, METHODS, aliases=_METHOD_ALIASES)
    test = check_option("test", test, TESTS, aliases=_TEST_ALIASES)
    mode = check_option("tau2", tau2, ("separate", "common"))
    level = check_level(level)
    y = check_vector("yi", yi)
    v = check_vector("vi", vi)
    g_raw = list(np.asarray(groups, dtype=object).ravel())
    if len(g_raw) != y.shape[0] or len(v) != y.shape[0]:
        raise InputError(
            f"yi, vi and groups must have one value per study (got {len(y)}, {len(v)}, "
            f"{len(g_raw)})"
        )
    for i, gv in enumerate(g_raw, start=1):
        if gv is None or (isinstance(gv, float) and gv != gv):
            raise InputError(f"groups: study {i} has no group (value: {gv!r})")
    g = np.array([str(x) for x in g_raw], dtype=object)
    names = tuple(sorted(set(g.tolist())))
    if len(names) < 2:
        raise InputError(
            f"subgroup analysis needs at least two subgroups; all studies are in {names[0]!r}"
        )
    lab = None if labels is None else [str(x) for x in labels]
    overall = pool(
        y, v, method=method, test=test, level=level, labels=lab, measure=measure, control=control
    )

    results = {}
    if mode == "separate":
        for name in names:
            idx = np.flatnonzero(g == name)
            sub_test = test if idx.size > 1 else "z"
            if sub_test != test:
                warnings.warn(
                    f"subgroup {name!r} has one study: test='z' used for it",
                    DataWarning,
                    stacklevel=2,
                )
            results[name] = pool(
                y[idx],
                v[idx],
                method=method,
                test=sub_test,
                level=level,
                labels=None if lab is None else [lab[i] for i in idx],
                measure=measure,
                control=control,
            )
        est = np.array([results[n].estimate for n in names])
        w = 1.0 / np.array([results[n].se for n in names]) ** 2
        mean = float(w @ est / w.sum())
        Qb = float(w @ (est - mean) ** 2)
        dfb = len(names) - 1
        pval = float(chdtrc(dfb, Qb))
        mod_fit = None
    else:
        mod_fit = pool(
            y,
            v,
            method=method,
            test=test,
            level=level,
            mods={"group": list(g)},
            labels=lab,
            measure=measure,
            control=control,
        )
        common = mod_fit.tau2
        for name in names:
            idx = np.flatnonzero(g == name)
            sub_test = test if idx.size > 1 else "z"
            results[name] = pool(
                y[idx],
                v[idx],
                method=method,
                test=sub_test,
                level=level,
                tau2=common,
                labels=None if lab is None else [lab[i] for i in idx],
                measure=measure,
            )
        Qb, dfb, pval = float(mod_fit.QM), int(mod_fit.QM_df), float(mod_fit.QM_pval)

    return SubgroupResult(
        groups=names,
        results=results,
        Q_between=Qb,
        Q_between_df=dfb,
        Q_between_pval=pval,
        tau2_mode=mode,
        overall=overall,
        method=method,
        test=test,
        level=level,
        measure=measure,
        moderator_fit=mod_fit,
        group_of=tuple(g.tolist()),
    )
