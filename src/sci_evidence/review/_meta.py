"""The meta-analysis functions the review uses, in one place.

The review is built while the meta-analysis parts land; this adapter takes each function from
:mod:`sci_evidence.meta` and, only where one is not (yet) there, a small local equivalent whose
formulas are stated (``subgroups`` with separate tau² per subgroup: the Wald-type Q between
subgroup estimates, as metafor's ``rma(..., subset=)`` + ``rma(estimates, sei, method="FE")``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from sci_evidence import meta
from sci_evidence.meta.effects import effect_sizes
from sci_evidence.meta.transforms import back_transform

pool = meta.pool


def _local_subgroups(
    yi, vi, groups, *, method="REML", test="z", level=0.95, labels=None, measure=None
):
    from types import SimpleNamespace

    yi, vi, groups = np.asarray(yi, float), np.asarray(vi, float), np.asarray(groups, str)
    labels = list(labels) if labels is not None else [str(i + 1) for i in range(len(yi))]
    names = tuple(dict.fromkeys(groups))
    results = {}
    for g in names:
        m = groups == g
        results[g] = meta.pool(
            yi[m],
            vi[m],
            method=method,
            test=test,
            level=level,
            labels=[lab for lab, k in zip(labels, m, strict=True) if k],
            measure=measure,
        )
    est = np.array([results[g].estimate for g in names])
    se = np.array([results[g].se for g in names])
    w = 1 / se**2
    mu = np.sum(w * est) / np.sum(w)
    q = float(np.sum(w * (est - mu) ** 2))
    df = len(names) - 1
    overall = meta.pool(
        yi, vi, method=method, test=test, level=level, labels=labels, measure=measure
    )
    return SimpleNamespace(
        groups=names,
        results=results,
        Q_between=q,
        Q_between_df=df,
        Q_between_pval=float(stats.chi2.sf(q, df)) if df > 0 else float("nan"),
        tau2_mode="separate",
        overall=overall,
        method=method,
        test=test,
        level=level,
        measure=measure,
        group_of=tuple(groups),
    )


subgroups = getattr(meta, "subgroups", None) or _local_subgroups

_HOMES = ("bias", "trimfill", "influence", "cumulative", "plots", "funnel")


def optional(name: str):
    """``sci_evidence.meta.<name>`` if it exists (also looked up in the submodules that the
    bias/sensitivity part writes before exporting them), else None."""
    import importlib

    fn = getattr(meta, name, None)
    if fn is not None:
        return fn
    for home in _HOMES:
        try:
            mod = importlib.import_module(f"sci_evidence.meta.{home}")
        except ImportError:
            continue
        fn = getattr(mod, name, None)
        if fn is not None:
            return fn
    return None


__all__ = ["back_transform", "effect_sizes", "optional", "pool", "subgroups"]
