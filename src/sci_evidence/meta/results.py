"""Result objects of the meta-analysis models: :class:`PoolResult` and :class:`SubgroupResult`.

Both are frozen dataclasses: every number is a named field, nothing is recomputed behind the
user's back. R² is computed at fit time by :mod:`sci_evidence.meta.models` (a result never
refits a model). The Q-profile interval of tau² (a root search on the stored data) and the
coefficient DataFrame are computed on first access and cached, so the hot path of
:func:`~sci_evidence.meta.models.fit_design` stays fast for bias, GOSH and permutation code
that refits thousands of times.
"""

from __future__ import annotations

import hashlib
import html
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

__all__ = ["PoolResult", "SubgroupResult", "require_pool_result"]

_METHOD_NAMES = {
    "EE": "Equal-Effects",
    "DL": "DerSimonian-Laird",
    "REML": "restricted maximum likelihood",
    "ML": "maximum likelihood",
    "PM": "Paule-Mandel",
    "HE": "Hedges",
    "SJ": "Sidik-Jonkman",
    "EB": "empirical Bayes",
    "HS": "Hunter-Schmidt",
    "MH": "Mantel-Haenszel",
    "PETO": "Peto",
}


def _json_safe(value: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats to JSON-safe Python values."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    return f"{x:.{digits}f}"


def _fmt_p(p: float | None, digits: int = 4) -> str:
    if p is None or math.isnan(p):
        return "NA"
    if p < 10**-digits:
        return "<.0001" if digits == 4 else f"<{10**-digits:g}"  # table style, as metafor
    return f"{p:.{digits}f}"


def _stars(p: float) -> str:
    if p is None or math.isnan(p):
        return ""
    for cut, s in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return s
    return ""


@dataclass(frozen=True, eq=False, repr=False)
class PoolResult:
    """A fitted (mixed-effects) meta-analysis model.

    Fields named as metafor names them; ``estimate``/``se``/``stat``/``pval``/``ci_*`` refer
    to the intercept (the pooled effect when there are no moderators). ``I2`` and ``R2`` are
    in percent. ``weights`` are percent weights :math:`100\\,w_i/\\sum w_j` with
    :math:`w_i = 1/(v_i+\\tau^2)`.

    Attributes computed on first access: ``coefficients`` (DataFrame indexed by term with
    ``estimate, se, stat, pval, ci_lb, ci_ub``), ``tau2_ci``, ``I2_ci``, ``H2_ci`` (Q-profile),
    ``provenance``.
    """

    k: int
    p: int
    estimate: float
    se: float
    stat: float
    pval: float
    ci_lb: float
    ci_ub: float
    pi_lb: float | None
    pi_ub: float | None
    tau2: float
    se_tau2: float | None
    I2: float
    H2: float
    Q: float
    Q_df: int
    Q_pval: float
    method: str
    test: str
    level: float
    converged: bool
    n_iter: int
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    coef_names: tuple[str, ...]
    beta: np.ndarray
    beta_se: np.ndarray
    beta_stat: np.ndarray
    beta_pval: np.ndarray
    beta_ci_lb: np.ndarray
    beta_ci_ub: np.ndarray
    vcov: np.ndarray
    QM: float | None
    QM_df: int | None
    QM_pval: float | None
    weights: np.ndarray
    labels: tuple[str, ...]
    measure: str | None
    dof: int | None = None  # degrees of freedom of the t/F tests (knha, adhoc, t)
    QM_ddf: int | None = None  # denominator df of QM's F test (knha, adhoc, t)
    s2w: float = 1.0  # Knapp-Hartung scale factor applied to the covariance (1 under z)
    vt: float = 0.0  # typical within-study variance s² used by I² and H²
    tau2_fixed: bool = False
    algorithm: str = ""
    control: dict = field(default_factory=dict)
    model: str = "rma.uni"  # "rma.uni", or "MH"/"PETO" for pool_mh/pool_peto results
    # Percent of tau² accounted for by the moderators, max(0, 100·(τ²₀ − τ²)/τ²₀) with τ²₀
    # from the same estimator without moderators (computed at fit time); None without
    # moderators, for equal-effect models and for a fixed tau².
    R2: float | None = None

    @classmethod
    def _unchecked(cls, fields: dict) -> PoolResult:
        """A result from a dict holding *every* field, without the dataclass ``__init__``.

        The frozen ``__init__`` sets its 48 fields one ``object.__setattr__`` call at a time,
        which costs a fifth of a whole intercept-only fit; the lean fitting path
        (:mod:`sci_evidence.meta._lean_fit`) fills the instance dict in one step instead.
        tests/meta/test_lean_fit.py checks that it sets exactly the dataclass fields.
        """
        obj = object.__new__(cls)
        obj.__dict__.update(fields)
        return obj

    # ---- derived, lazily ---------------------------------------------------------------
    @property
    def tau(self) -> float:
        """Square root of tau²."""
        return math.sqrt(self.tau2)

    @property
    def has_mods(self) -> bool:
        return self.p > 1

    @cached_property
    def coefficients(self):
        """Coefficient table: DataFrame indexed by term (``estimate, se, stat, pval, ci_lb,
        ci_ub``)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "estimate": self.beta,
                "se": self.beta_se,
                "stat": self.beta_stat,
                "pval": self.beta_pval,
                "ci_lb": self.beta_ci_lb,
                "ci_ub": self.beta_ci_ub,
            },
            index=pd.Index(list(self.coef_names), name="term"),
        )

    @cached_property
    def tau2_ci(self) -> tuple[float, float] | None:
        """Q-profile confidence interval for tau² at ``level`` (None for EE/MH/Peto fits)."""
        if self.method in ("EE", "MH", "PETO") or self.k - self.p < 1:
            return None
        from sci_evidence.meta.heterogeneity import q_profile_ci

        return q_profile_ci(self.yi, self.vi, self.X, self.level)

    @property
    def I2_ci(self) -> tuple[float, float] | None:
        """Confidence interval of I² (percent) from the Q-profile bounds of tau²."""
        ci = self.tau2_ci
        if ci is None:
            return None
        return tuple(100.0 * t / (self.vt + t) if self.vt + t > 0 else 0.0 for t in ci)

    @property
    def H2_ci(self) -> tuple[float, float] | None:
        """Confidence interval of H² from the Q-profile bounds of tau²."""
        ci = self.tau2_ci
        if ci is None or self.vt <= 0:
            return None
        return tuple(t / self.vt + 1.0 for t in ci)

    @cached_property
    def input_hash(self) -> str:
        """SHA-256 of the inputs (yi, vi, X) — identifies the data a result was fitted to."""
        h = hashlib.sha256()
        for a in (self.yi, self.vi, self.X):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        return h.hexdigest()

    @property
    def provenance(self) -> dict:
        """Settings, package version and input hash (what a reader needs to reproduce it)."""
        from sci_evidence import __version__

        return {
            "package": "sci-evidence",
            "version": __version__,
            "model": self.model,
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "control": dict(self.control),
            "tau2_fixed": self.tau2_fixed,
            "algorithm": self.algorithm,
            "input_sha256": self.input_hash,
        }

    # ---- presentation -------------------------------------------------------------------
    def __repr__(self) -> str:
        return (
            f"PoolResult(k={self.k}, method={self.method!r}, test={self.test!r}, "
            f"estimate={self.estimate:.4g}, ci=[{self.ci_lb:.4g}, {self.ci_ub:.4g}], "
            f"tau2={self.tau2:.4g}, I2={self.I2:.4g}%)"
        )

    def study_frame(self):
        """Per-study table: label, yi, vi, sei, ci_lb, ci_ub (z-based) and weight (%)."""
        import pandas as pd
        from scipy.special import ndtri

        crit = float(ndtri(0.5 + self.level / 2))
        sei = np.sqrt(self.vi)
        return pd.DataFrame(
            {
                "label": list(self.labels),
                "yi": self.yi,
                "vi": self.vi,
                "sei": sei,
                "ci_lb": self.yi - crit * sei,
                "ci_ub": self.yi + crit * sei,
                "weight": self.weights,
            }
        )

    def to_frame(self):
        """The model results as a DataFrame: the coefficient table (one row per term), with
        the prediction interval as two extra columns on the intercept row of a model without
        moderators."""
        df = self.coefficients.copy()
        if self.pi_lb is not None:
            df["pi_lb"] = [self.pi_lb] + [np.nan] * (len(df) - 1)
            df["pi_ub"] = [self.pi_ub] + [np.nan] * (len(df) - 1)
        return df

    def to_dict(self) -> dict:
        """All results as a JSON-safe dict (NaN/inf become None, arrays become lists)."""
        out = {
            "k": self.k,
            "p": self.p,
            "measure": self.measure,
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "estimate": self.estimate,
            "se": self.se,
            "stat": self.stat,
            "pval": self.pval,
            "ci_lb": self.ci_lb,
            "ci_ub": self.ci_ub,
            "pi_lb": self.pi_lb,
            "pi_ub": self.pi_ub,
            "tau2": self.tau2,
            "se_tau2": self.se_tau2,
            "tau2_ci": self.tau2_ci,
            "I2": self.I2,
            "I2_ci": self.I2_ci,
            "H2": self.H2,
            "Q": self.Q,
            "Q_df": self.Q_df,
            "Q_pval": self.Q_pval,
            "dof": self.dof,
            "converged": self.converged,
            "n_iter": self.n_iter,
            "coefficients": [
                {
                    "term": n,
                    "estimate": self.beta[j],
                    "se": self.beta_se[j],
                    "stat": self.beta_stat[j],
                    "pval": self.beta_pval[j],
                    "ci_lb": self.beta_ci_lb[j],
                    "ci_ub": self.beta_ci_ub[j],
                }
                for j, n in enumerate(self.coef_names)
            ],
            "QM": self.QM,
            "QM_df": self.QM_df,
            "QM_ddf": self.QM_ddf,
            "QM_pval": self.QM_pval,
            "R2": self.R2,
            "studies": [
                {"label": lab, "yi": y, "vi": v, "weight": w}
                for lab, y, v, w in zip(self.labels, self.yi, self.vi, self.weights, strict=True)
            ],
            "provenance": self.provenance,
        }
        return _json_safe(out)

    def summary(self, digits: int = 4) -> str:
        """A printed summary laid out like metafor's ``print.rma.uni``."""
        d = digits
        lines = []
        random = self.method not in ("EE", "MH", "PETO")
        kind = (
            ("Mixed-Effects Model" if self.has_mods else "Random-Effects Model")
            if random
            else ("Fixed-Effects with Moderators Model" if self.has_mods else "Equal-Effects Model")
        )
        if self.model in ("MH", "PETO"):
            kind = f"Equal-Effects Model ({_METHOD_NAMES[self.model]})"
        head = f"{kind} (k = {self.k}"
        if random:
            head += f"; tau^2 estimator: {self.method}"
        head += ")"
        if self.measure:
            head += f"  measure: {self.measure}"
        lines += [head, ""]
        if random:
            res = "residual " if self.has_mods else "total "
            se_t = f" (SE = {_fmt(self.se_tau2, d)})" if self.se_tau2 is not None else ""
            lines.append(
                f"tau^2 (estimated amount of {res}heterogeneity): {_fmt(self.tau2, d)}{se_t}"
            )
            lines.append(f"tau (square root of estimated tau^2 value):  {_fmt(self.tau, d)}")
            what = "unaccounted variability" if self.has_mods else "total variability"
            lines.append(f"I^2 ({res}heterogeneity / {what}): {self.I2:.2f}%")
            lines.append(f"H^2 ({what} / sampling variability): {self.H2:.2f}")
            if self.has_mods and self.R2 is not None:
                lines.append(f"R^2 (amount of heterogeneity accounted for): {self.R2:.2f}%")
            ci = self.tau2_ci
            if ci is not None:
                i2 = self.I2_ci
                lines.append(
                    f"{self.level:.0%} Q-profile CI: tau^2 [{_fmt(ci[0], d)}, {_fmt(ci[1], d)}], "
                    f"I^2 [{i2[0]:.2f}%, {i2[1]:.2f}%]"
                )
        else:
            lines.append(f"I^2 (total heterogeneity / total variability): {self.I2:.2f}%")
            lines.append(f"H^2 (total variability / sampling variability): {self.H2:.2f}")
        lines.append("")
        test_name = "Test for Residual Heterogeneity" if self.has_mods else "Test for Heterogeneity"
        qname = "QE" if self.has_mods else "Q"
        lines += [
            f"{test_name}:",
            f"{qname}(df = {self.Q_df}) = {_fmt(self.Q, d)}, p-val {_p_eq(self.Q_pval, d)}",
            "",
        ]
        # metafor leaves the test out when QM is NA (knha with all residuals 0)
        if self.has_mods and self.QM is not None and not math.isnan(self.QM):
            if self.QM_ddf is not None:
                lines += [
                    f"Test of Moderators (coefficients 2:{self.p}):",
                    f"F(df1 = {self.QM_df}, df2 = {self.QM_ddf}) = {_fmt(self.QM, d)}, "
                    f"p-val {_p_eq(self.QM_pval, d)}",
                    "",
                ]
            else:
                lines += [
                    f"Test of Moderators (coefficients 2:{self.p}):",
                    f"QM(df = {self.QM_df}) = {_fmt(self.QM, d)}, p-val {_p_eq(self.QM_pval, d)}",
                    "",
                ]
        lines.append("Model Results:")
        lines.append("")
        stat = "tval" if self.dof is not None else "zval"
        header = ["", "estimate", "se", stat]
        if self.dof is not None:
            header.append("df")
        header += ["pval", "ci.lb", "ci.ub", ""]
        rows = []
        for j, name in enumerate(self.coef_names):
            row = [
                name if self.has_mods else "",
                _fmt(self.beta[j], d),
                _fmt(self.beta_se[j], d),
                _fmt(self.beta_stat[j], d),
            ]
            if self.dof is not None:
                row.append(str(self.dof))
            row += [
                _fmt_p(self.beta_pval[j], d),
                _fmt(self.beta_ci_lb[j], d),
                _fmt(self.beta_ci_ub[j], d),
                _stars(self.beta_pval[j]),
            ]
            rows.append(row)
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
        fmt_row = lambda r: "  ".join(  # noqa: E731
            (c.ljust(w) if i == 0 or i == len(r) - 1 else c.rjust(w))
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        lines.append(fmt_row(header))
        lines += [fmt_row(r) for r in rows]
        if self.pi_lb is not None:
            lines += [
                "",
                f"Prediction interval ({self.level:.0%}): "
                f"[{_fmt(self.pi_lb, d)}, {_fmt(self.pi_ub, d)}]",
            ]
        lines += ["", "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
        if self.algorithm and self.n_iter:
            conv = "converged" if self.converged else "did NOT converge"
            lines.append(f"tau^2 search: {self.algorithm}, {conv} after {self.n_iter} iteration(s)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        table = self.to_frame().to_html(float_format=lambda x: f"{x:.4f}")
        return f"<pre>{html.escape(self.summary())}</pre>{table}"

    def plot(self, **kwargs):
        """Forest plot; see :func:`sci_evidence.meta.plots.forest_plot` for the options."""
        from sci_evidence.meta.plots import forest_plot

        return forest_plot(self, **kwargs)


def require_pool_result(res: object, what: str, *, inverse_variance: bool = False) -> PoolResult:
    """``res`` if it is a fitted :class:`PoolResult`, else one :class:`InputError` line.

    The one check of the analyses that take a fitted model (leave-one-out, influence,
    cumulative, trim-and-fill, GOSH, plots), instead of probing attributes with ``hasattr``.
    ``inverse_variance=True`` also refuses Mantel-Haenszel/Peto fits.
    """
    from sci_evidence.errors import InputError

    if not isinstance(res, PoolResult):
        raise InputError(f"{what} needs a fitted model (a PoolResult from pool())")
    if inverse_variance and res.model != "rma.uni":
        raise InputError(f"{what} needs an inverse-variance model (pool), not MH/Peto")
    return res


def _p_eq(p: float, digits: int = 4) -> str:
    s = _fmt_p(p, digits)
    if s.startswith("<"):
        return "< " + s[1:]
    return s if s == "NA" else f"= {s}"


@dataclass(frozen=True, eq=False, repr=False)
class SubgroupResult:
    """Per-subgroup pooled results and the test for subgroup differences.

    ``Q_between`` is the Wald-type test that the subgroup effects are equal: under
    ``tau2="separate"`` it is the equal-effect Q of the subgroup estimates (weights 1/SE²),
    under ``tau2="common"`` the omnibus test QM of the meta-regression on the subgroup factor
    (chi² under ``test="z"``, F under ``knha``, then reported as ``Q_between = F·df``
    with ``Q_between_pval`` from the F distribution).
    """

    groups: tuple[str, ...]
    results: dict  # group → PoolResult
    Q_between: float
    Q_between_df: int
    Q_between_pval: float
    tau2_mode: str  # "separate" or "common"
    overall: PoolResult
    method: str
    test: str
    level: float
    measure: str | None = None
    moderator_fit: PoolResult | None = None  # the common-tau² meta-regression (common only)
    group_of: tuple[str, ...] = ()  # the group of each study, in input order

    def __repr__(self) -> str:
        return (
            f"SubgroupResult(groups={list(self.groups)}, tau2={self.tau2_mode!r}, "
            f"Q_between={self.Q_between:.4g}, df={self.Q_between_df}, p={self.Q_between_pval:.4g})"
        )

    def to_frame(self):
        """One row per subgroup (k, estimate, se, ci, tau2, I2, Q) and a final "overall" row."""
        import pandas as pd

        rows = []
        for g in self.groups:
            r = self.results[g]
            rows.append(_group_row(g, r))
        rows.append(_group_row("overall", self.overall))
        return pd.DataFrame(rows).set_index("group")

    def to_dict(self) -> dict:
        return _json_safe(
            {
                "tau2_mode": self.tau2_mode,
                "method": self.method,
                "test": self.test,
                "level": self.level,
                "measure": self.measure,
                "groups": {g: self.results[g].to_dict() for g in self.groups},
                "Q_between": self.Q_between,
                "Q_between_df": self.Q_between_df,
                "Q_between_pval": self.Q_between_pval,
                "overall": self.overall.to_dict(),
            }
        )

    def summary(self, digits: int = 4) -> str:
        d = digits
        lines = [
            f"Subgroup analysis ({self.tau2_mode} tau^2; "
            f"estimator {self.method}, test {self.test})",
            "",
        ]
        df = self.to_frame()
        lines.append(df.to_string(float_format=lambda x: f"{x:.{d}f}"))
        lines += [
            "",
            "Test for subgroup differences:",
            f"Q_between(df = {self.Q_between_df}) = {_fmt(self.Q_between, d)}, "
            f"p-val {_p_eq(self.Q_between_pval, d)}",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.summary())}</pre>"

    def plot(self, **kwargs):
        """Forest plot with one block and diamond per subgroup."""
        from sci_evidence.meta.plots import forest_plot

        return forest_plot(self.overall, subgroups=self, **kwargs)


def _group_row(name: str, r: PoolResult) -> dict:
    return {
        "group": name,
        "k": r.k,
        "estimate": r.estimate,
        "se": r.se,
        "pval": r.pval,
        "ci_lb": r.ci_lb,
        "ci_ub": r.ci_ub,
        "tau2": r.tau2,
        "I2": r.I2,
        "Q": r.Q,
        "Q_pval": r.Q_pval,
    }
