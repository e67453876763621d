"""Generalised linear mixed models for counts: :func:`pool_glmm` (metafor's ``rma.glmm``).

Models (Stijnen, Hamza & Özdemir 2010, Stat Med 29:3046; Jackson et al. 2018, Stat Med
37:1059; metafor 3.8-1 ``rma.glmm``), for study ``i`` with true effect
``theta_i = x_i'beta + tau * u_i``, ``u_i ~ N(0, 1)`` under ``method="ML"`` (``tau = 0``
under ``"EE"``):

* ``PLO``  — binomial-normal: ``x_i ~ Bin(n_i, expit(theta_i))``.
* ``IRLN`` — Poisson-normal: ``x_i ~ Poisson(t_i exp(theta_i))``.
* ``OR``/``IRR`` with ``model="UM.FS"`` — two rows per study (binomial or Poisson), a fixed
  intercept ``alpha_i`` per study, ``eta_ij = alpha_i + g_j theta_i`` with ``g = +1/2``
  (group 1) and ``-1/2`` (group 2), as metafor's default ``coding = 1/2``.
* ``CM.AL`` (``OR``) — the approximate conditional model: ``a_i ~ Bin(a_i + c_i,
  expit(theta_i + log(n1_i / n2_i)))``; for ``IRR`` the conditional model is exact:
  ``x1_i ~ Bin(x1_i + x2_i, expit(theta_i + log(t1_i / t2_i)))`` (``CM.AL`` is ``CM.EL``).
* ``CM.EL`` (``OR``) — the exact conditional model: ``a_i`` given the margins is
  non-central hypergeometric with odds ratio ``exp(theta_i)``.
* ``UM.RS`` — random study intercepts: ``eta_ij = c + sigma v_i + x_i'beta g1_j + g_j tau
  u_i`` with the two random effects independent, Laplace approximation (``nAGQ = 1``, as
  metafor/lme4 force for this model).

The marginal likelihood is integrated over ``u_i`` by adaptive Gauss-Hermite quadrature
with ``nAGQ`` nodes (metafor's default 7; lme4's rule: centred at the conditional mode,
scaled by the curvature there), maximised jointly over ``(beta, tau)``; standard errors come
from the inverse Hessian of the log-likelihood in ``(tau, beta)`` (as lme4's ``vcov`` with
its finite-difference Hessian). ``method="EE"`` fits the GLM by IRLS (R's ``glm.fit``).

Heterogeneity tests (metafor's ``QE.Wld``/``QE.LRT``, df ``k - p``): the equal-effects
model against the saturated model in which every study has its own effect — the Wald test
of the extra coefficients of the saturated GLM and the likelihood-ratio test
``-2 (ll_EE - ll_saturated)``. I² and H² use metafor's typical within-study variance
``(k - p) / tr(P)`` of the escalc-type variances (1/2 added to studies with a zero cell).

``logLik`` is metafor's: for ML fits ``ll_saturated - deviance / 2`` with lme4's deviance,
which is the sum of squared deviance residuals at the conditional modes (a conditional
quantity); the quadrature marginal log-likelihood is ``logLik_marginal``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.special import chdtrc, expit, ndtr, ndtri

from sci_evidence.errors import ConvergenceWarning, DataWarning, InputError
from sci_evidence.meta._glmm_engine import GlmmProblem, ModelFit, fit_glmm, make_family
from sci_evidence.meta._glmm_irls import glm_fit, saturated_irls, wald_against
from sci_evidence.meta.results import PoolResult, _fmt, _json_safe, _p_eq

__all__ = ["pool_glmm", "GlmmResult", "GLMM_MEASURES", "GLMM_MODELS"]

GLMM_MEASURES = ("PLO", "IRLN", "OR", "IRR")
GLMM_MODELS = ("UM.FS", "UM.RS", "CM.EL", "CM.AL")
_MODEL_NAMES = {
    "UM.FS": "unconditional model with fixed study effects",
    "UM.RS": "unconditional model with random study effects",
    "CM.EL": "conditional model with exact likelihood",
    "CM.AL": "conditional model with approximate likelihood",
}


@dataclass(frozen=True, eq=False, repr=False)
class GlmmResult(PoolResult):
    """A :class:`PoolResult` of a GLMM fit (:func:`pool_glmm`), with the GLMM's own facts.

    ``Q``/``Q_pval`` hold the Wald-type heterogeneity test (metafor's ``QE.Wld``); the
    likelihood-ratio test is ``QE_LRT``/``QE_LRT_pval``. ``glmm_model`` is ``UM.FS``,
    ``UM.RS``, ``CM.EL`` or ``CM.AL`` (``None`` for the one-group measures PLO and IRLN).
    ``pred``/``pi_*``/``ci_*`` are on the model's scale (log odds, log rate, log OR, log
    IRR); ``back`` holds them back-transformed (proportion, rate, OR, IRR). ``yi``/``vi``
    are the escalc-type study estimates (1/2 added to the cells of studies with a zero) and
    ``weights`` the approximate shares ``1/(v_i + tau^2)``: display aids only, the model is
    fitted to the counts. ``counts`` holds ``(xi, ni)`` of the analysed studies for PLO (the
    forest plot draws their raw proportions), ``None`` for the other measures.
    """

    glmm_model: str | None = None
    nAGQ: int | None = None
    QE_LRT: float | None = None
    QE_LRT_pval: float | None = None
    logLik: float | None = None
    logLik_marginal: float | None = None
    deviance: float | None = None
    AIC: float | None = None
    BIC: float | None = None
    AICc: float | None = None
    sigma2: float | None = None  # variance of the random study intercepts (UM.RS)
    back: dict = field(default_factory=dict)
    back_scale: str = ""
    dropped: tuple[str, ...] = ()
    diagnostics: tuple[str, ...] = ()
    counts: tuple[np.ndarray, np.ndarray] | None = None

    def plot(self, **kwargs):
        """Forest plot on the back-transformed scale (proportion, rate, OR, IRR).

        PLO: each study row shows the study's raw proportion ``x/n`` with its exact
        (Clopper-Pearson) interval (:func:`~sci_evidence.meta.proportion_ci`; pass
        ``proportion_ci_method="wilson"`` for Wilson's), whatever the logit model makes of
        it — a 0/1 case report is drawn at 0 with [0, 0.975], not at a continuity-corrected
        value; ``counts=None`` draws the escalc-type estimates instead. Other measures: the
        escalc-type estimates (1/2 added to zero cells) with Wald intervals. A GLMM has no
        inverse-variance weights, so none are printed unless ``show_weights=True`` (then
        they are the approximate ``1/(v_i + tau^2)`` shares)."""
        from sci_evidence.meta.plots import forest_plot

        if self.measure == "PLO" and self.counts is not None:
            kwargs.setdefault("counts", self.counts)
        kwargs.setdefault("transf", expit if self.measure == "PLO" else np.exp)
        kwargs.setdefault("xlabel", self.back_scale)
        kwargs.setdefault("show_weights", False)
        kwargs.setdefault("show_refline", self.measure in ("OR", "IRR"))
        return forest_plot(self, **kwargs)

    @property
    def tau2_ci(self):  # the Q-profile interval belongs to rma.uni, not to a GLMM
        return None

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.update(
            _json_safe(
                {
                    "glmm_model": self.glmm_model,
                    "nAGQ": self.nAGQ,
                    "QE_Wld": self.Q,
                    "QE_Wld_pval": self.Q_pval,
                    "QE_LRT": self.QE_LRT,
                    "QE_LRT_pval": self.QE_LRT_pval,
                    "logLik": self.logLik,
                    "logLik_marginal": self.logLik_marginal,
                    "deviance": self.deviance,
                    "AIC": self.AIC,
                    "BIC": self.BIC,
                    "AICc": self.AICc,
                    "sigma2": self.sigma2,
                    "back_transformed": self.back,
                    "back_scale": self.back_scale,
                    "dropped": list(self.dropped),
                    "diagnostics": list(self.diagnostics),
                }
            )
        )
        return out

    def summary(self, digits: int = 4) -> str:
        d = digits
        base = super().summary(digits).split("\n")
        kind = "Mixed-Effects Model" if self.has_mods else "Random-Effects Model"
        if self.method == "EE":
            kind = "Fixed-Effects with Moderators Model" if self.has_mods else "Equal-Effects Model"
        head = f"{kind} (k = {self.k}; tau^2 estimator: {self.method})  measure: {self.measure}"
        model = f"Model Type: {_MODEL_NAMES[self.glmm_model]}" if self.glmm_model else ""
        lines = [head]
        if model:
            lines.append(model)
        if self.method != "EE":
            lines.append(f"Integration: adaptive Gauss-Hermite quadrature, nAGQ = {self.nAGQ}")
        lines.append(
            f"logLik = {_fmt(self.logLik, d)}  deviance = {_fmt(self.deviance, d)}  "
            f"AIC = {_fmt(self.AIC, d)}  BIC = {_fmt(self.BIC, d)}"
        )
        # replace the heterogeneity test block of the rma.uni layout by the GLMM's two tests
        body = base[1:]
        out = []
        skip = 0
        for line in body:
            if skip:
                skip -= 1
                continue
            if line.startswith("tau^2 search:"):
                continue
            if line.startswith("Test for Heterogeneity") or line.startswith("Test for Residual"):
                out.append(line)
                out.append(
                    f"Wld(df = {self.Q_df}) = {_fmt(self.Q, d)}, p-val {_p_eq(self.Q_pval, d)}"
                )
                out.append(
                    f"LRT(df = {self.Q_df}) = {_fmt(self.QE_LRT, d)}, "
                    f"p-val {_p_eq(self.QE_LRT_pval, d)}"
                )
                skip = 1
                continue
            out.append(line)
        if self.sigma2 is not None:
            out.insert(1, f"sigma^2 (variance of random study intercepts): {_fmt(self.sigma2, d)}")
        if self.back:
            b = self.back
            txt = (
                f"Back-transformed ({self.back_scale}): {_fmt(b.get('pred'), d)} "
                f"[{self.level:.0%} CI {_fmt(b.get('ci_lb'), d)}, {_fmt(b.get('ci_ub'), d)}]"
            )
            if b.get("pi_lb") is not None:
                txt += (
                    f"; prediction interval [{_fmt(b.get('pi_lb'), d)}, {_fmt(b.get('pi_ub'), d)}]"
                )
            out.append(txt)
        if self.dropped:
            out.append(
                f"Studies dropped (double-zero / all-event tables): {', '.join(self.dropped)}"
            )
        conv = "converged" if self.converged else "did NOT converge"
        out.append(f"Optimiser: {self.algorithm}, {conv} after {self.n_iter} iteration(s)")
        for m in self.diagnostics:
            out.append(f"Diagnostic: {m}")
        return "\n".join(lines + out)


# --------------------------------------------------------------------------- inputs
def _counts(name: str, v, k: int | None = None, *, integer: bool = True) -> np.ndarray:
    if v is None:
        raise InputError(f"{name} is required for this measure", column=name)
    try:
        a = np.asarray(v, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric", column=name) from exc
    if k is not None and len(a) != k:
        raise InputError(f"{name} has {len(a)} values, expected {k}", column=name)
    with np.errstate(invalid="ignore"):
        if np.isfinite(a).all() and (a >= 0).all() and (not integer or (a == np.round(a)).all()):
            return a  # valid: the row-by-row loop below only finds the first bad value
    for i, x in enumerate(a):
        if not math.isfinite(x):
            raise InputError(f"{name} must be finite", row=i + 1, column=name, value=float(x))
        if x < 0:
            raise InputError(f"{name} must not be negative", row=i + 1, column=name, value=_num(x))
        if integer and x != round(x):
            raise InputError(
                f"{name} must be a whole number", row=i + 1, column=name, value=float(x)
            )
    return a


def _num(x: float) -> int | float:
    """A value as the user wrote it (3, not np.float64(3.0)) for error messages."""
    x = float(x)
    return int(x) if math.isfinite(x) and x == int(x) else x


def _check_le(xname, x, nname, n):
    if (x <= n).all():
        return
    for i, (a, b) in enumerate(zip(x, n, strict=True)):
        if a > b:
            raise InputError(f"{xname} exceeds {nname}", row=i + 1, column=xname, value=_num(a))


def _positive(name, t):
    if (t > 0).all():
        return
    for i, x in enumerate(t):
        if x <= 0:
            raise InputError(f"{name} must be positive", row=i + 1, column=name, value=_num(x))


def _mods_matrix(mods, k: int, names) -> tuple[np.ndarray, tuple[str, ...]]:
    if mods is None:
        return np.ones((k, 1)), ("intrcpt",)
    if isinstance(mods, dict):
        cols = list(mods.items())
        M = np.column_stack([np.asarray(v, dtype=float) for _, v in cols])
        mnames = [str(n) for n, _ in cols]
    elif hasattr(mods, "columns") and hasattr(mods, "to_numpy"):
        M = mods.to_numpy(dtype=float)
        mnames = [str(c) for c in mods.columns]
    else:
        M = np.asarray(mods, dtype=float)
        if M.ndim == 1:
            M = M[:, None]
        mnames = [f"mod{j + 1}" for j in range(M.shape[1])] if M.shape[1] > 1 else ["mods"]
    if names is not None:
        mnames = list(names)
    if M.shape[0] != k:
        raise InputError(f"mods has {M.shape[0]} rows, expected one per study ({k})", column="mods")
    if not np.all(np.isfinite(M)):
        r = int(np.where(~np.all(np.isfinite(M), axis=1))[0][0])
        raise InputError("mods has a missing or non-finite value", row=r + 1, column="mods")
    X = np.column_stack([np.ones(k), M])
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise InputError("the model matrix (intercept and mods) is not of full rank", column="mods")
    return X, ("intrcpt", *mnames)


def _escalc(measure, d, k):
    """yi/vi as metafor's escalc with add = 1/2 to studies with a zero cell (to='only0')."""
    if measure == "PLO":
        x, m = d["xi"], d["ni"] - d["xi"]
        z = (x == 0) | (m == 0)
        x, m = x + 0.5 * z, m + 0.5 * z
        return np.log(x / m), 1 / x + 1 / m
    if measure == "IRLN":
        x = d["xi"] + 0.5 * (d["xi"] == 0)
        return np.log(x / d["ti"]), 1 / x
    if measure == "OR":
        a, b = d["ai"], d["n1i"] - d["ai"]
        c, dd = d["ci"], d["n2i"] - d["ci"]
        z = (a == 0) | (b == 0) | (c == 0) | (dd == 0)
        a, b, c, dd = (v + 0.5 * z for v in (a, b, c, dd))
        return np.log(a * dd / (b * c)), 1 / a + 1 / b + 1 / c + 1 / dd
    x1, x2 = d["x1i"], d["x2i"]
    z = (x1 == 0) | (x2 == 0)
    x1, x2 = x1 + 0.5 * z, x2 + 0.5 * z
    return np.log(x1 / d["t1i"]) - np.log(x2 / d["t2i"]), 1 / x1 + 1 / x2


def _typical_variance(vi, X) -> float:
    """metafor's s² = (k - p) / tr(P), P = W - W X (X'WX)^-1 X'W, W = diag(1/vi)."""
    w = 1 / vi
    if X.shape[1] == 1 and (X == 1.0).all():  # intercept only: tr(P) = sum w - sum w² / sum w
        sw = w.sum()
        return (len(vi) - 1) / (sw - float(w @ w) / sw)
    XtW = X.T * w
    A = np.linalg.inv(XtW @ X)
    tr = w.sum() - np.trace(A @ (XtW * w) @ X)
    return (len(vi) - X.shape[1]) / tr


# --------------------------------------------------------------------------- designs
@dataclass
class _Design:
    family: str
    y: np.ndarray
    n: np.ndarray | None
    X: np.ndarray  # fixed-effects design; the first p columns are the model's beta
    offset: np.ndarray
    z: np.ndarray
    group: np.ndarray
    X_sat: np.ndarray  # saturated model (the EE design plus one effect per study)


def _design(measure, model, d, X) -> _Design:
    k, p = X.shape
    eye = np.eye(k)
    if measure in ("PLO", "IRLN") or model == "CM.AL" or (measure == "IRR" and model == "CM.EL"):
        if measure == "PLO":
            fam, y, n, off = "binomial", d["xi"], d["ni"], np.zeros(k)
        elif measure == "IRLN":
            fam, y, n, off = "poisson", d["xi"], None, np.log(d["ti"])
        elif measure == "OR":
            fam, y, n = "binomial", d["ai"], d["ai"] + d["ci"]
            off = np.log(d["n1i"] / d["n2i"])
        else:
            fam, y, n = "binomial", d["x1i"], d["x1i"] + d["x2i"]
            off = np.log(d["t1i"] / d["t2i"])
        return _Design(fam, y, n, X, off, np.ones(k), np.arange(k), np.column_stack([X, eye]))
    # UM.FS / UM.RS: two rows per study (group 1, group 2)
    group = np.repeat(np.arange(k), 2)
    g1 = np.tile([1.0, 0.0], k)
    Xfit = X[group] * g1[:, None]
    if measure == "OR":
        fam = "binomial"
        y = np.ravel(np.column_stack([d["ai"], d["ci"]]))
        n = np.ravel(np.column_stack([d["n1i"], d["n2i"]]))
        off = np.zeros(2 * k)
    else:
        fam, n = "poisson", None
        y = np.ravel(np.column_stack([d["x1i"], d["x2i"]]))
        off = np.log(np.ravel(np.column_stack([d["t1i"], d["t2i"]])))
    study = eye[group]
    return _Design(
        fam,
        y,
        n,
        np.column_stack([Xfit, study]),
        off,
        np.tile([0.5, -0.5], k),
        group,
        np.column_stack([Xfit, study, study * g1[:, None]]),
    )


# --------------------------------------------------------------------------- main
def pool_glmm(
    *,
    measure: str,
    xi=None,
    ni=None,
    ti=None,
    ai=None,
    n1i=None,
    ci=None,
    n2i=None,
    x1i=None,
    t1i=None,
    x2i=None,
    t2i=None,
    model: str = "UM.FS",
    method: str = "ML",
    mods=None,
    mod_names=None,
    nAGQ: int = 7,
    level: float = 0.95,
    drop00: bool = True,
    labels=None,
) -> GlmmResult:
    """Fit a generalised linear (mixed) model to counts, as metafor's ``rma.glmm``.

    Parameters
    ----------
    measure
        ``"PLO"`` (``xi`` events of ``ni``), ``"IRLN"`` (``xi`` events over person-time
        ``ti``), ``"OR"`` (``ai`` of ``n1i`` vs ``ci`` of ``n2i``) or ``"IRR"`` (``x1i``
        over ``t1i`` vs ``x2i`` over ``t2i``).
    model
        For OR/IRR: ``"UM.FS"`` (default), ``"UM.RS"``, ``"CM.EL"``, ``"CM.AL"`` (see the
        module docstring); ignored for PLO/IRLN. ``CM.AL`` with IRR is ``CM.EL``.
    method
        ``"ML"`` (random/mixed effects, tau² by maximum likelihood) or ``"EE"``.
    mods
        Moderators: an array (k,) or (k, m), a dict name → values or a DataFrame; an
        intercept is added.
    nAGQ
        Quadrature nodes (default 7 as metafor; 1 = Laplace). UM.RS always uses 1.
    drop00
        Drop OR tables with no events or only events in both groups (IRR: no events), as
        metafor does by default (a :class:`DataWarning` names them).

    Returns
    -------
    GlmmResult
        A :class:`PoolResult` (z tests, CI and prediction interval
        ``beta ± z·sqrt(se² + tau²)`` on the model's scale) with the GLMM's tests, fit
        statistics and back-transformed values. Optimiser problems raise
        :class:`~sci_evidence.errors.ConvergenceWarning` and are kept in ``diagnostics``.

    Reference: metafor 3.8-1 ``rma.glmm`` (Viechtbauer 2010, J Stat Softw 36(3)); lme4
    ``glmer`` (Bates et al. 2015, J Stat Softw 67(1)).
    """
    measure = str(measure).upper()
    if measure not in GLMM_MEASURES:
        raise InputError(f"measure must be one of {', '.join(GLMM_MEASURES)}", value=measure)
    if model not in GLMM_MODELS:
        raise InputError(f"model must be one of {', '.join(GLMM_MODELS)}", value=model)
    method = str(method).upper()
    if method not in ("ML", "EE"):
        raise InputError("method must be 'ML' or 'EE'", value=method)
    if not (0 < level < 1):
        level = level / 100 if 1 < level < 100 else level
        if not (0 < level < 1):
            raise InputError("level must be in (0, 1)", value=level)
    nAGQ = int(nAGQ)
    if nAGQ < 1:
        raise InputError("nAGQ must be at least 1", value=nAGQ)
    if measure in ("PLO", "IRLN"):
        model_used = None
    else:
        model_used = "CM.EL" if (model == "CM.AL" and measure == "IRR") else model

    d: dict[str, np.ndarray] = {}
    if measure == "PLO":
        d["xi"] = _counts("xi", xi)
        d["ni"] = _counts("ni", ni, len(d["xi"]))
        _positive("ni", d["ni"])
        _check_le("xi", d["xi"], "ni", d["ni"])
    elif measure == "IRLN":
        d["xi"] = _counts("xi", xi)
        d["ti"] = _counts("ti", ti, len(d["xi"]), integer=False)
        _positive("ti", d["ti"])
    elif measure == "OR":
        d["ai"] = _counts("ai", ai)
        k0 = len(d["ai"])
        d["n1i"] = _counts("n1i", n1i, k0)
        d["ci"] = _counts("ci", ci, k0)
        d["n2i"] = _counts("n2i", n2i, k0)
        _positive("n1i", d["n1i"])
        _positive("n2i", d["n2i"])
        _check_le("ai", d["ai"], "n1i", d["n1i"])
        _check_le("ci", d["ci"], "n2i", d["n2i"])
    else:
        d["x1i"] = _counts("x1i", x1i)
        k0 = len(d["x1i"])
        d["t1i"] = _counts("t1i", t1i, k0, integer=False)
        d["x2i"] = _counts("x2i", x2i, k0)
        d["t2i"] = _counts("t2i", t2i, k0, integer=False)
        _positive("t1i", d["t1i"])
        _positive("t2i", d["t2i"])
    k_all = len(next(iter(d.values())))
    if k_all == 0:
        raise InputError("no studies given")
    labs = (
        tuple(str(x) for x in labels)
        if labels is not None
        else tuple(str(i + 1) for i in range(k_all))
    )
    if len(labs) != k_all:
        raise InputError(f"labels has {len(labs)} values, expected {k_all}", column="labels")
    X_all, names = _mods_matrix(mods, k_all, mod_names)

    keep = np.ones(k_all, bool)
    if drop00 and measure == "OR":
        keep = ~(
            ((d["ai"] == 0) & (d["ci"] == 0)) | ((d["ai"] == d["n1i"]) & (d["ci"] == d["n2i"]))
        )
    if drop00 and measure == "IRR":
        keep = ~((d["x1i"] == 0) & (d["x2i"] == 0))
    dropped = tuple(lab for lab, kk in zip(labs, keep, strict=True) if not kk)
    if dropped:
        warnings.warn(
            f"{len(dropped)} stud{'y' if len(dropped) == 1 else 'ies'} without information "
            f"(no events or only events in both groups) dropped: {', '.join(dropped)}",
            DataWarning,
            stacklevel=2,
        )
    d = {kk: v[keep] for kk, v in d.items()}
    X = X_all[keep]
    labs = tuple(lab for lab, kk in zip(labs, keep, strict=True) if kk)
    k, p = X.shape
    if method == "EE" and p > k:
        raise InputError(f"more parameters ({p}) than studies ({k})")
    if method == "ML" and p + 1 > k:
        raise InputError(
            f"a random-effects GLMM needs more studies ({k}) than parameters + 1 ({p + 1})"
        )
    if p > 1 and np.linalg.matrix_rank(X) < p:
        raise InputError(
            "the model matrix is not of full rank after dropping studies", column="mods"
        )

    yi, vi = _escalc(measure, d, k)

    if measure == "OR" and model_used == "CM.EL":
        from sci_evidence.meta._glmm_conditional import fit_cm_el

        fit = fit_cm_el(d, X, method, max(nAGQ, 1))
    elif model_used == "UM.RS":
        from sci_evidence.meta._glmm_conditional import fit_um_rs

        fit = fit_um_rs(_design(measure, "UM.RS", d, X), k, p, method)
    else:
        fit = _fit_standard(
            _design(measure, model_used, d, X), k, p, method, nAGQ, *_start(yi, vi, X)
        )

    return _result(
        fit,
        measure=measure,
        glmm_model=model_used,
        method=method,
        level=level,
        X=X,
        names=names,
        yi=yi,
        vi=vi,
        labels=labs,
        dropped=dropped,
        nAGQ=(1 if model_used == "UM.RS" else nAGQ) if method == "ML" else None,
        counts=(d["xi"].copy(), d["ni"].copy()) if measure == "PLO" else None,
    )


def _saturated(des: _Design, p: int, k: int, fam=None):
    """The saturated GLM (every study its own effect): its log-likelihood and the Wald test
    that the study effects follow the equal-effects model."""
    if k < 2:
        return None, None
    sat = saturated_irls(des.family, des.y, des.n, des.offset, fam)
    two_rows = len(des.y) == 2 * k
    if two_rows:  # UM.FS: study intercepts partialled out, the treatment columns remain
        wld = wald_against(sat.eta - des.offset, sat.w2, des.X[:, :p], des.group, k)
    else:
        wld = wald_against(sat.eta - des.offset, sat.w2, des.X)
    return sat.loglik, wld


def _start(yi, vi, X) -> tuple[float, np.ndarray | None]:
    """Starting values: tau from the DerSimonian-Laird estimate on the escalc scale (floored
    at 0.1, since tau = 0 is a stationary point of the even likelihood) and beta from the
    random-effects weighted least squares with it."""
    w = 1 / vi
    k, p = X.shape
    if k <= p:
        return 0.5, None
    if p == 1 and (X == 1.0).all():  # intercept only: the same estimates as weighted means
        sw = w.sum()
        Q = float(w @ (yi - float(w @ yi) / sw) ** 2)
        t2 = max(0.0, (Q - (k - 1)) / (sw - float(w @ w) / sw))
        wr = 1 / (vi + t2)
        return max(0.1, math.sqrt(t2)), np.array([float(wr @ yi) / wr.sum()])
    A = np.linalg.solve((X.T * w) @ X, X.T * w)
    Q = float(np.sum(w * (yi - X @ (A @ yi)) ** 2))
    P_tr = w.sum() - np.trace(np.linalg.solve((X.T * w) @ X, (X.T * w**2) @ X))
    t2 = max(0.0, (Q - (k - p)) / P_tr)
    wr = 1 / (vi + t2)
    beta = np.linalg.solve((X.T * wr) @ X, X.T @ (wr * yi))
    return max(0.1, math.sqrt(t2)), beta


def _ee_loglik_closed(des: _Design, fam) -> float | None:
    """The maximised log-likelihood of the equal-effects GLM without moderators, in closed
    form, for one row per study: binomial without offset (PLO; ``p = sum x / sum n``) and
    Poisson with log person-time offset (IRLN; ``rate = sum x / sum t``). It equals glm.fit's
    at convergence (to rounding: the canonical-link IRLS is Newton's method, the deviance rule
    stops it within ~1e-16 of the maximum in log-likelihood). ``None`` when glm.fit must run:
    other designs, or no events (or only events), where its iteration stops short of the
    maximum at infinity and says so."""
    X = des.X
    if X.shape[1] != 1 or len(des.y) != X.shape[0] or not (X == 1.0).all():
        return None
    x = des.y
    sx = float(x.sum())
    if des.family == "binomial":
        if des.offset.any():  # CM.AL: the offset log(n1/n2) leaves no closed form
            return None
        sn = float(des.n.sum())
        if not 0.0 < sx < sn:
            return None
        p = sx / sn
        return float(fam.const.sum()) + sx * math.log(p) + (sn - sx) * math.log1p(-p)
    if sx <= 0.0:
        return None
    # mu_i = t_i * rate: sum x_i log(mu_i) - sum mu_i = sum x_i log t_i + sx log(rate) - sx
    rate = sx / float(np.exp(des.offset).sum())
    return float(fam.const.sum()) + float(x @ des.offset) + sx * math.log(rate) - sx


def _fit_standard(
    des: _Design, k: int, p: int, method: str, nAGQ: int, tau0: float = 0.5, beta_re=None
) -> ModelFit:
    P = des.X.shape[1]
    fam = make_family(des.family, des.y, des.n)  # one set of constants for all the fits
    ll_ee = _ee_loglik_closed(des, fam) if method == "ML" else None
    if ll_ee is not None:
        fe = None  # the ML fit needs only the EE log-likelihood (LRT), in closed form here
    else:
        fe = glm_fit(des.family, des.X, des.y, des.n, des.offset, full_rank=True, fam=fam)
        ll_ee = fe.loglik
    messages = []
    if fe is not None and not fe.converged:
        messages.append(f"the equal-effects GLM did not converge in {fe.n_iter} IRLS iterations")
    ll_QE, wld = _saturated(des, p, k, fam)
    two_rows = len(des.y) == 2 * k
    k_eff = 2 * k if two_rows else k
    if method == "EE":
        return ModelFit(
            beta=fe.coef[:p],
            vb=fe.vcov[:p, :p],
            tau2=0.0,
            ll_FE=fe.loglik,
            ll_QE=ll_QE,
            QE_Wld=wld,
            ll_ML=fe.loglik,
            ll_marginal=fe.loglik,
            parms=P,
            k_eff=k_eff,
            converged=fe.converged,
            n_iter=fe.n_iter,
            algorithm="IRLS (glm.fit)",
            messages=messages,
        )
    prob = GlmmProblem.build(fam, des.X, des.offset, des.z, des.group, k, nAGQ)
    if beta_re is not None and len(des.y) == k:  # one row per study: the RE estimate
        beta0 = np.asarray(beta_re, dtype=float)
    elif fe is not None:
        beta0 = np.where(np.isfinite(fe.coef), fe.coef, 0.0)
    else:  # pragma: no cover - the closed form is only taken with one row per study
        beta0 = np.zeros(P)
    g = fit_glmm(prob, beta0, tau0)
    messages += g.messages
    # metafor: ll.ML = ll.QE - deviance/2 with lme4's (conditional) deviance
    sat_rows = fam.saturated_loglik() if hasattr(fam, "saturated_loglik") else None
    cond_dev = 2.0 * float(np.sum(sat_rows)) - 2.0 * g.cond_loglik
    ll_ml = (ll_QE - cond_dev / 2.0) if ll_QE is not None else g.loglik
    return ModelFit(
        beta=g.beta[:p],
        vb=g.vcov_beta[:p, :p],
        tau2=g.tau**2,
        ll_FE=ll_ee,
        ll_QE=ll_QE,
        QE_Wld=wld,
        ll_ML=ll_ml,
        ll_marginal=g.loglik,
        parms=P + 1,
        k_eff=k_eff,
        converged=g.converged,
        n_iter=g.n_iter,
        algorithm=f"Newton on the AGQ log-likelihood (nAGQ = {nAGQ})",
        messages=messages,
    )


def _result(
    fit: ModelFit,
    *,
    measure,
    glmm_model,
    method,
    level,
    X,
    names,
    yi,
    vi,
    labels,
    dropped,
    nAGQ,
    counts=None,
):
    k, p = X.shape
    se_chk = np.sqrt(np.abs(np.diag(np.asarray(fit.vb, float))))
    if not np.all(np.isfinite(se_chk)) or np.any(se_chk > 1e3):
        # separation: e.g. no study has an event (or every patient had one); the maximum
        # likelihood estimate is at infinity and the iteration stopped somewhere on the way
        fit.messages.append(
            "an estimate diverges (standard error > 1000): the data are separated, e.g. no "
            "events (or only events) in every study; the estimate and interval are not "
            "informative"
        )
    for m in fit.messages:
        warnings.warn(
            f"pool_glmm ({measure}{' ' + glmm_model if glmm_model else ''}): {m}",
            ConvergenceWarning,
            stacklevel=3,
        )
    beta = np.asarray(fit.beta, float)
    vb = np.asarray(fit.vb, float)
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.where(np.diag(vb) >= 0, np.diag(vb), np.nan))
    zval = beta / se
    pval = 2 * ndtr(-np.abs(zval))
    crit = float(ndtri(0.5 + level / 2))
    ci_lb, ci_ub = beta - crit * se, beta + crit * se
    # heterogeneity tests
    QE_df = k - p
    if k > 1 and fit.ll_QE is not None:
        lrt = max(0.0, -2.0 * (fit.ll_FE - fit.ll_QE))
        wld = None if fit.QE_Wld is None else max(0.0, fit.QE_Wld)
        if QE_df > 0:
            lrt_p = float(chdtrc(QE_df, lrt))
            wld_p = float(chdtrc(QE_df, wld)) if wld is not None else math.nan
        else:
            lrt_p, wld_p = 1.0, 1.0
    else:
        lrt = wld = None
        lrt_p = wld_p = math.nan
    # QM: all coefficients but the intercept (or the intercept alone without moderators)
    btt = np.arange(1, p) if p > 1 else np.arange(1)
    try:
        QM = float(beta[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], beta[btt]))
    except np.linalg.LinAlgError:
        QM = math.nan
    QM_p = float(chdtrc(len(btt), QM))
    vt = _typical_variance(vi, X) if k > p else float(np.mean(vi))
    tau2 = float(fit.tau2)
    I2 = 100 * tau2 / (vt + tau2)
    H2 = tau2 / vt + 1
    pi_lb = pi_ub = None
    back: dict = {}
    inv = expit if measure == "PLO" else np.exp
    scale = {
        "PLO": "proportion",
        "IRLN": "rate per unit of person-time",
        "OR": "odds ratio",
        "IRR": "incidence rate ratio",
    }[measure]
    if p == 1:
        back = {
            "pred": float(inv(beta[0])),
            "ci_lb": float(inv(ci_lb[0])),
            "ci_ub": float(inv(ci_ub[0])),
        }
        if method == "ML":  # metafor gives no prediction interval for an EE model
            sd_pi = math.sqrt(se[0] ** 2 + tau2)
            pi_lb, pi_ub = float(beta[0] - crit * sd_pi), float(beta[0] + crit * sd_pi)
            back.update(pi_lb=float(inv(pi_lb)), pi_ub=float(inv(pi_ub)))
    ll = fit.ll_ML
    parms = fit.parms
    dev = -2 * (ll - fit.ll_QE) if (ll is not None and fit.ll_QE is not None) else None
    k_eff = fit.k_eff
    AIC = -2 * ll + 2 * parms
    BIC = -2 * ll + parms * math.log(k_eff)
    AICc = -2 * ll + 2 * parms * max(k_eff, parms + 2) / (max(k_eff, parms + 2) - parms - 1)
    w = 1 / (vi + tau2)
    return GlmmResult(
        k=k,
        p=p,
        estimate=float(beta[0]),
        se=float(se[0]),
        stat=float(zval[0]),
        pval=float(pval[0]),
        ci_lb=float(ci_lb[0]),
        ci_ub=float(ci_ub[0]),
        pi_lb=pi_lb,
        pi_ub=pi_ub,
        tau2=tau2,
        se_tau2=None,
        I2=float(I2),
        H2=float(H2),
        Q=math.nan if wld is None else float(wld),
        Q_df=int(QE_df),
        Q_pval=wld_p,
        method=method,
        test="z",
        level=level,
        converged=bool(fit.converged),
        n_iter=int(fit.n_iter),
        yi=np.asarray(yi, float),
        vi=np.asarray(vi, float),
        X=X,
        coef_names=tuple(names),
        beta=beta,
        beta_se=se,
        beta_stat=zval,
        beta_pval=pval,
        beta_ci_lb=ci_lb,
        beta_ci_ub=ci_ub,
        vcov=vb,
        QM=QM if p > 1 else None,
        QM_df=len(btt) if p > 1 else None,
        QM_pval=QM_p if p > 1 else None,
        weights=100 * w / w.sum(),
        labels=tuple(labels),
        measure=measure,
        vt=float(vt),
        algorithm=fit.algorithm,
        model="GLMM",
        glmm_model=glmm_model,
        nAGQ=nAGQ,
        QE_LRT=lrt,
        QE_LRT_pval=lrt_p if lrt is not None else None,
        logLik=ll,
        logLik_marginal=fit.ll_marginal,
        deviance=dev,
        AIC=AIC,
        BIC=BIC,
        AICc=AICc,
        sigma2=fit.sigma2,
        back=back,
        back_scale=scale,
        dropped=tuple(dropped),
        diagnostics=tuple(fit.messages),
        counts=counts,
    )
