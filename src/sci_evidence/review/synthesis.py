"""Synthesis without meta-analysis (SWiM): direction of effect per study and a sign test.

Where outcomes cannot be pooled (neurophysiology, urodynamics, MRI reported in words or in
incompatible units) the SWiM guideline (Campbell et al. 2020, BMJ 368:l6890,
doi:10.1136/bmj.l6890) and the Cochrane Handbook (chapter 12.4.2.3) recommend vote counting
*by direction of effect* — never by statistical significance — with a sign test and the
proportion of studies favouring the intervention with its confidence interval.

What a study's direction is (the rule) is decided where the per-study table is made
(:mod:`sci_evidence.review.swim_tables`: the direction of the study's summary effect, never
one improved patient); the rule travels with the table (``table.attrs["rule"]``) into
:attr:`SignTestResult.rule`, ``results.json`` and the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sci_evidence.errors import InputError

#: Allowed values of ``direction``; only ``benefit`` and ``harm`` count in the sign test.
#: ``no_clear_effect``: measured, but the summary effect favours neither side (mixed or
#: conflicting, e.g. 1 of 14 patients improved); ``unclear``: no direction can be read.
DIRECTIONS = ("benefit", "harm", "no_change", "no_clear_effect", "unclear")
_ARROWS = {"benefit": "▲", "harm": "▼", "no_change": "◆", "no_clear_effect": "◇", "unclear": "?"}
#: The words the report uses for each direction.
WORDS = {
    "benefit": "benefit",
    "harm": "harm",
    "no_change": "no change",
    "no_clear_effect": "no clear effect",
    "unclear": "unclear",
}


@dataclass(frozen=True)
class SignTestResult:
    """Vote counting by direction of effect.

    Attributes
    ----------
    domain : str
        What was synthesised (for example "neurophysiology").
    n_studies : int
        Studies in the synthesis (all directions).
    n_benefit, n_harm, n_no_change, n_unclear : int
        Studies per direction (one vote per study).
    p_value : float or None
        Two-sided exact binomial (sign) test of ``n_benefit`` out of ``n_benefit + n_harm``
        against 0.5 (R ``binom.test(n_benefit, n_benefit + n_harm)``); ``None`` when no study
        has a clear direction.
    proportion : float or None
        ``n_benefit / (n_benefit + n_harm)``.
    ci_lb, ci_ub : float or None
        Clopper–Pearson interval of ``proportion`` at ``level`` (as R ``binom.test``).
    level : float
    table : pandas.DataFrame
        One row per study and outcome: ``study_id, label, outcome, direction, measured,
        comparison, detail`` (``measured``: patients the study measured, an integer).
    n_no_clear_effect : int
        Studies measured whose summary effect favours neither side.
    rule : str
        The rule that gave each study its direction (empty when the table did not say).
    """

    domain: str
    n_studies: int
    n_benefit: int
    n_harm: int
    n_no_change: int
    n_unclear: int
    p_value: float | None
    proportion: float | None
    ci_lb: float | None
    ci_ub: float | None
    level: float
    table: pd.DataFrame
    n_no_clear_effect: int = 0
    rule: str = ""

    def summary(self) -> str:
        """One paragraph in words."""
        n_clear = self.n_benefit + self.n_harm
        head = f"{self.domain}: {_studies(self.n_studies)}"
        measured = pd.to_numeric(self.table.get("measured"), errors="coerce")
        if measured is not None and measured.notna().any():
            # one count per study: the most patients any of its outcomes measured
            per = measured.groupby(self.table["study_id"]).max()
            head += f", {int(per.sum())} patients measured"
        rest = (
            f"{self.n_no_clear_effect} showed no clear effect, {self.n_no_change} no change "
            f"and {self.n_unclear} were unclear."
        )
        if n_clear == 0:
            return f"{head}. None has a clear direction of effect (no sign test); {rest}"
        pct = int(round(self.level * 100))
        verb = "favours" if self.n_benefit == 1 else "favour"
        return (
            f"{head}. {self.n_benefit} of {_studies(n_clear)} with a clear direction {verb} "
            f"the intervention ({100 * self.proportion:.0f}%, {pct}% CI "
            f"{100 * self.ci_lb:.0f}–{100 * self.ci_ub:.0f}%; sign test p = {self.p_value:.3g}); "
            f"{rest}"
        )

    def to_frame(self) -> pd.DataFrame:
        """The per-study table with a direction symbol column."""
        out = self.table.copy()
        out["symbol"] = [_ARROWS[d] for d in out["direction"]]
        out["direction_words"] = [WORDS[d] for d in out["direction"]]
        return out

    def to_dict(self) -> dict:
        """JSON-safe dict."""
        return {
            "domain": self.domain,
            "n_studies": self.n_studies,
            "n_benefit": self.n_benefit,
            "n_harm": self.n_harm,
            "n_no_change": self.n_no_change,
            "n_unclear": self.n_unclear,
            "n_no_clear_effect": self.n_no_clear_effect,
            "rule": self.rule,
            "test": "exact two-sided sign test (binomial, p=0.5) on studies with a direction",
            "p_value": self.p_value,
            "proportion_benefit": self.proportion,
            "ci_lb": self.ci_lb,
            "ci_ub": self.ci_ub,
            "level": self.level,
            "studies": [
                {k: _json_cell(v) for k, v in row.items()}
                for row in self.table.to_dict(orient="records")
            ],
        }


def _studies(n: int) -> str:
    return f"{n} stud{'y' if n == 1 else 'ies'}"


def _json_cell(v):
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.integer):
        return int(v)
    return v


def sign_test(n_benefit: int, n_harm: int, *, level: float = 0.95):
    """Exact two-sided sign test and Clopper–Pearson interval.

    Parameters
    ----------
    n_benefit, n_harm : int
        Studies whose effect points towards benefit and towards harm.
    level : float, default 0.95

    Returns
    -------
    (p_value, proportion, ci_lb, ci_ub) : tuple of float, or of None when both counts are 0.

    Notes
    -----
    The p-value is R's ``binom.test(x, n, p = 0.5)``: the sum of the probabilities of all
    outcomes no more likely than the one observed (which, for p = 0.5, is twice the smaller
    tail, capped at 1). The interval is the Clopper–Pearson interval
    :math:`[B(\\alpha/2; x, n-x+1),\\ B(1-\\alpha/2; x+1, n-x)]`.
    """
    if n_benefit < 0 or n_harm < 0:
        raise ValueError("counts must be non-negative")
    n = n_benefit + n_harm
    if n == 0:
        return None, None, None, None
    res = stats.binomtest(int(n_benefit), int(n), 0.5, alternative="two-sided")
    ci = res.proportion_ci(confidence_level=level, method="exact")
    return float(res.pvalue), n_benefit / n, float(ci.low), float(ci.high)


def vote_count(
    table: pd.DataFrame,
    *,
    domain: str,
    level: float = 0.95,
    per: str = "study",
    rule: str | None = None,
) -> SignTestResult:
    """Vote counting by direction of effect over a per-study table.

    Parameters
    ----------
    table : DataFrame
        Columns ``study_id``, ``direction`` (one of :data:`DIRECTIONS`) and optionally
        ``label``, ``outcome``, ``measured`` (patients measured), ``comparison``, ``detail``.
    domain : str
        Name of what is synthesised.
    level : float, default 0.95
    per : {"study"}, default "study"
        A study reporting several outcomes of the domain counts once: its direction is the
        majority of its clear directions (benefit vs harm); a tie is ``no_clear_effect``;
        with none clear, ``no_clear_effect`` if any outcome had no clear effect, ``no_change``
        if all (or all but unclear-free ones) showed no change, else ``unclear`` — so one
        study cannot cast several votes.
    rule : str, optional
        The rule that gave the directions; default ``table.attrs["rule"]`` (or "").

    Returns
    -------
    SignTestResult
    """
    if per != "study":
        raise ValueError("per must be 'study'")
    for col in ("study_id", "direction"):
        if col not in table.columns:
            raise InputError(f"synthesis table needs a '{col}' column", column=col)
    bad = ~table["direction"].isin(DIRECTIONS)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"direction must be one of {', '.join(DIRECTIONS)}",
            row=i + 1,
            column="direction",
            value=table["direction"].iloc[i],
        )
    if rule is None:
        rule = str(table.attrs.get("rule", ""))
    t = table.copy()
    for col in ("label", "outcome", "comparison", "detail"):
        if col not in t.columns:
            t[col] = t["study_id"] if col == "label" else ""
    if "measured" not in t.columns:
        t["measured"] = None
    t["measured"] = pd.array(pd.to_numeric(t["measured"], errors="coerce"), dtype="Int64")
    cols = ["study_id", "label", "outcome", "direction", "measured", "comparison", "detail"]
    t = t[cols].reset_index(drop=True)
    per_study = [_study_direction(g["direction"]) for _, g in t.groupby("study_id", sort=False)]
    counts = {d: per_study.count(d) for d in DIRECTIONS}
    p, prop, lo, hi = sign_test(counts["benefit"], counts["harm"], level=level)
    return SignTestResult(
        domain=domain,
        n_studies=len(per_study),
        n_benefit=counts["benefit"],
        n_harm=counts["harm"],
        n_no_change=counts["no_change"],
        n_unclear=counts["unclear"],
        n_no_clear_effect=counts["no_clear_effect"],
        rule=rule,
        p_value=p,
        proportion=prop,
        ci_lb=lo,
        ci_ub=hi,
        level=level,
        table=t,
    )


def _study_direction(directions: Sequence[str] | pd.Series) -> str:
    d = list(directions)
    b, h = d.count("benefit"), d.count("harm")
    if b > h:
        return "benefit"
    if h > b:
        return "harm"
    if b > 0 or "no_clear_effect" in d:  # conflicting outcomes, or a mixed one
        return "no_clear_effect"
    if b == 0 and all(x == "no_change" for x in d):
        return "no_change"
    if b == 0 and "no_change" in d and "unclear" not in d:
        return "no_change"
    return "unclear"
