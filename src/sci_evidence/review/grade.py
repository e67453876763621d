"""GRADE certainty of evidence per outcome, by stated rules.

GRADE (Guyatt et al. 2008, BMJ 336:924, doi:10.1136/bmj.39489.470347.AD; GRADE handbook,
2013) rates the certainty of a body of evidence: randomised evidence starts *high*,
non-randomised evidence *low*; it is then downgraded for risk of bias, inconsistency,
imprecision, indirectness and publication bias (each by 0, 1 or 2 levels). The judgements
here follow fixed, documented rules so that a run is reproducible; a reviewer may overrule
them, and the reasons are printed beside each downgrade.

Rules (thresholds in :class:`~sci_evidence.review.protocol.GradeRules`):

* **Start**: ``start_randomised`` if every study is randomised, else ``start_nonrandomised``.
* **Risk of bias**: rests on each study's overall judgement by the tool fitting its design
  (RoB 2, ROBINS-I, MINORS), weighted by the study's weight in the analysis. A judgement of
  low risk counts 0, "some concerns" / "moderate" / "no information" 0.5, high / serious /
  critical 1 ("no information" is the tool's own judgement that the reports cannot
  support a lower risk; it is never read as "not assessed"). A weighted concern above
  ``rob_serious_share`` → −1; above 0.8 with studies judged at high, serious or critical
  risk making up more than half of the weight → −2. A study without any assessment
  counts 1 and is named; when no study was assessed at all → −1 ("not assessed"), never −2.
  The reason is a generated sentence naming the shares and the studies carrying most weight.
* **Upgrading** (large effect, dose–response, opposing confounding) is never applied to
  uncontrolled (single-arm) evidence, and these rules apply none to controlled evidence
  either; the assessment says so in ``upgrading``.
* **Inconsistency** (k ≥ 2): I² > ``inconsistency_I2_very_serious`` → −2; I² >
  ``inconsistency_I2`` or a prediction interval that crosses the null while the confidence
  interval does not → −1.
* **Imprecision**: fewer than ``min_patients_very_serious`` patients → −2; fewer than
  ``ois_patients`` (the optimal information size) or a confidence interval that includes
  the null (comparative measures) → −1; both → −2.
* **Indirectness**: single-arm evidence compared with natural history, not a concurrent
  control → −1 (when ``single_arm_indirect``).
* **Publication bias**: Egger's test only when k ≥ ``egger_min_k``; p < ``egger_alpha`` → −1.
  With fewer studies the domain is "not assessable" and not downgraded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sci_evidence.review.protocol import GradeRules
from sci_evidence.review.safety import DERIVED

LEVELS = ("very low", "low", "moderate", "high")
DOMAINS = ("risk_of_bias", "inconsistency", "imprecision", "indirectness", "publication_bias")
#: Concern a study's overall judgement adds to the risk-of-bias domain (module docstring).
ROB_CONCERN = {
    "low": 0.0,
    "some concerns": 0.5,
    "moderate": 0.5,
    "no information": 0.5,
    "high": 1.0,
    "serious": 1.0,
    "critical": 1.0,
}
#: Judgements that count as high risk for the two-level downgrade.
ROB_HIGH = frozenset({"high", "serious", "critical"})


@dataclass(frozen=True)
class Downgrade:
    """One GRADE domain: by how many levels (0–2) and why."""

    domain: str
    levels: int
    reason: str


@dataclass(frozen=True)
class GradeAssessment:
    """Certainty of the evidence for one outcome (one row of a summary-of-findings table).

    Attributes
    ----------
    analysis_id, outcome : str
    k, n_patients : int
    start : str
        Certainty before downgrading.
    downgrades : tuple of Downgrade
        One per domain, in :data:`DOMAINS` order.
    certainty : str
        ``high``, ``moderate``, ``low`` or ``very low``.
    effect : str
        The pooled effect in words (as the summary-of-findings table shows it).
    caveat : str
        What the reader must know to read the effect (e.g. a GLMM whose counts cannot
        identify the between-study variance); empty when there is nothing to say.
    """

    analysis_id: str
    outcome: str
    k: int
    n_patients: int
    start: str
    downgrades: tuple[Downgrade, ...]
    certainty: str
    effect: str = ""
    upgrading: str = ""
    caveat: str = ""

    @property
    def total_downgrade(self) -> int:
        return sum(d.levels for d in self.downgrades)

    def summary(self) -> str:
        reasons = "; ".join(
            f"{d.domain} −{d.levels}: {d.reason}" for d in self.downgrades if d.levels
        )
        return f"{self.outcome}: {self.certainty} (start {self.start}; {reasons or 'no downgrade'})"

    def to_row(self) -> dict:
        row = {
            "analysis_id": self.analysis_id,
            "outcome": self.outcome,
            "studies": self.k,
            "patients": self.n_patients,
            "effect": self.effect,
            "caveat": self.caveat,
            "start": self.start,
        }
        for d in self.downgrades:
            row[d.domain] = f"−{d.levels}: {d.reason}" if d.levels else f"0: {d.reason}"
        row["upgrading"] = self.upgrading
        row["certainty"] = self.certainty
        return row

    def to_dict(self) -> dict:
        return {
            "analysis_id": self.analysis_id,
            "outcome": self.outcome,
            "k": self.k,
            "n_patients": self.n_patients,
            "start": self.start,
            "downgrades": [
                {"domain": d.domain, "levels": d.levels, "reason": d.reason}
                for d in self.downgrades
            ],
            "certainty": self.certainty,
            "effect": self.effect,
            "caveat": self.caveat,
            "upgrading": self.upgrading,
        }


def summary_of_findings(assessments: Sequence[GradeAssessment]) -> pd.DataFrame:
    """The summary-of-findings table: one row per outcome."""
    return pd.DataFrame([a.to_row() for a in assessments])


def assess_certainty(
    *,
    analysis_id: str,
    outcome: str,
    n_patients: int,
    randomised: Sequence[bool],
    rob: Sequence[str | None],
    weights: Sequence[float],
    I2: float | None,
    ci: tuple[float, float],
    pi: tuple[float, float] | None,
    null: float | None,
    egger_pval: float | None,
    single_arm: bool,
    rules: GradeRules | None = None,
    effect: str = "",
    labels: Sequence[str] | None = None,
    caveat: str = "",
) -> GradeAssessment:
    """Rate the certainty of one pooled outcome by the module's rules.

    Parameters
    ----------
    analysis_id, outcome : str
    n_patients : int
        Patients contributing (treated + control).
    randomised : sequence of bool
        Per study: randomised or not.
    rob : sequence of str or None
        Per study overall risk-of-bias judgement of its tool (``low``, ``some_concerns``,
        ``moderate``, ``serious``, ``high``, ``critical``, ``no_information``; ``None`` when
        the study has no assessment).
    weights : sequence of float
        Per study weight in the analysis (any scale; normalised here).
    I2 : float or None
        I² in percent (None for a single study).
    ci, pi : (float, float)
        Confidence and prediction interval on the analysis scale.
    null : float or None
        Value of no effect on that scale (0 for log RR, MD, RD); None when there is no null
        (single-arm proportions).
    egger_pval : float or None
        Egger's test p-value (None if not run).
    single_arm : bool
    rules : GradeRules, optional
    effect : str
        The effect in words, for the table.
    labels : sequence of str, optional
        Per study label, named in the risk-of-bias sentence.
    caveat : str, optional
        Shown beside the effect (see :class:`GradeAssessment`).

    Returns
    -------
    GradeAssessment
    """
    rules = rules or GradeRules()
    k = len(weights)
    if not (len(randomised) == len(rob) == k):
        raise ValueError("randomised, rob and weights must have one entry per study")
    start = rules.start_randomised if k and all(randomised) else rules.start_nonrandomised

    downs = [
        _risk_of_bias(rob, weights, rules, labels),
        _inconsistency(k, I2, ci, pi, null, rules),
        _imprecision(n_patients, ci, null, rules),
        _indirectness(single_arm, rules),
        _publication_bias(k, egger_pval, rules),
    ]
    total = sum(d.levels for d in downs)
    certainty = LEVELS[max(0, LEVELS.index(start) - total)]
    if single_arm or not k or not all(randomised):
        upgrading = (
            "not applied: uncontrolled evidence (no concurrent control)"
            if single_arm
            else "not applied: these rules never upgrade (non-randomised controlled evidence)"
        )
    else:
        upgrading = "not applied: randomised evidence starts high"
    return GradeAssessment(
        analysis_id=analysis_id,
        outcome=outcome,
        k=k,
        n_patients=int(n_patients),
        start=start,
        downgrades=tuple(downs),
        certainty=certainty,
        effect=effect,
        upgrading=upgrading,
        caveat=caveat,
    )


def _judgement(r: str | None) -> str | None:
    return None if r is None or str(r) in ("", "nan") else str(r).lower().replace("_", " ")


def _risk_of_bias(rob, weights, rules: GradeRules, labels=None) -> Downgrade:
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0:
        w = np.ones_like(w)
    w = w / w.sum()
    judged = [_judgement(r) for r in rob]
    # a judgement is about the study, not about how one of its counts was obtained: the
    # row label's "[derived (lower bound)]" marker is dropped
    labels = (
        [str(x).removesuffix(f" [{DERIVED}]") for x in labels]
        if labels is not None
        else [f"study {i + 1}" for i in range(len(w))]
    )
    missing = np.array([j is None for j in judged])
    # an unknown word of a tool is a concern, not a pass
    concern = np.array([1.0 if j is None else ROB_CONCERN.get(j, 1.0) for j in judged])
    high = np.array([j in ROB_HIGH for j in judged])
    middle = np.array([j is not None and 0 < ROB_CONCERN.get(j, 1.0) < 1 for j in judged])
    share = float(np.sum(w * concern))
    if missing.all():
        # not assessed is a reason for caution, not evidence of high risk: one level
        return Downgrade("risk_of_bias", 1, "serious: risk of bias not assessed for any study")
    text = rob_sentence(w, judged, labels, high, middle, missing, share)
    if share > 0.8 and float(np.sum(w * high)) > 0.5:
        return Downgrade("risk_of_bias", 2, f"very serious: {text}")
    if share > rules.rob_serious_share:
        return Downgrade("risk_of_bias", 1, f"serious: {text}")
    return Downgrade("risk_of_bias", 0, f"not serious: {text}")


def rob_sentence(w, judged, labels, high, middle, missing, share) -> str:
    """The generated reason of the risk-of-bias domain: weight shares by judgement, the
    heaviest studies of the worst group named, and the weighted concern."""

    def named(mask) -> str:
        idx = [i for i in np.argsort(-w, kind="stable") if mask[i]]
        names = [f"{labels[i]} {judged[i] or 'not assessed'}" for i in idx[:3]]
        more = len(idx) - len(names)
        return ", ".join(names) + (f" and {more} more" if more > 0 else "")

    parts = []
    if high.any():
        parts.append(
            f"studies judged at high/serious/critical risk carry {100 * np.sum(w * high):.0f}% "
            f"of the weight ({named(high)})"
        )
    if middle.any():
        parts.append(
            f"studies with some concerns, moderate risk or no information "
            f"{100 * np.sum(w * middle):.0f}% ({named(middle)})"
        )
    if missing.any():
        parts.append(f"studies not assessed {100 * np.sum(w * missing):.0f}% ({named(missing)})")
    low = ~(high | middle | missing)
    if low.any():
        parts.append(f"studies at low risk {100 * np.sum(w * low):.0f}%")
    return "; ".join(parts) + f" (weighted concern {100 * share:.0f}%)"


def _crosses(lo: float, hi: float, null: float) -> bool:
    return lo < null < hi


def _inconsistency(k, I2, ci, pi, null, rules: GradeRules) -> Downgrade:
    if k < 2 or I2 is None or not np.isfinite(I2):
        return Downgrade("inconsistency", 0, "not assessable (one study)")
    if I2 > rules.inconsistency_I2_very_serious:
        return Downgrade("inconsistency", 2, f"very serious: I² = {I2:.0f}%")
    if I2 > rules.inconsistency_I2:
        return Downgrade("inconsistency", 1, f"serious: I² = {I2:.0f}%")
    if (
        null is not None
        and pi is not None
        and np.all(np.isfinite(pi))
        and _crosses(pi[0], pi[1], null)
        and not _crosses(ci[0], ci[1], null)
    ):
        return Downgrade(
            "inconsistency",
            1,
            f"serious: I² = {I2:.0f}% but the prediction interval crosses the null",
        )
    return Downgrade("inconsistency", 0, f"not serious: I² = {I2:.0f}%")


def _imprecision(n, ci, null, rules: GradeRules) -> Downgrade:
    crosses = null is not None and _crosses(ci[0], ci[1], null)
    if n < rules.min_patients_very_serious:
        return Downgrade("imprecision", 2, f"very serious: {n} patients")
    if n < rules.ois_patients and crosses:
        return Downgrade(
            "imprecision",
            2,
            f"very serious: {n} patients (< {rules.ois_patients}) and the CI includes no effect",
        )
    if n < rules.ois_patients:
        return Downgrade(
            "imprecision",
            1,
            f"serious: {n} patients, below the optimal information size {rules.ois_patients}",
        )
    if crosses:
        return Downgrade("imprecision", 1, "serious: the CI includes no effect")
    return Downgrade("imprecision", 0, f"not serious: {n} patients")


def _indirectness(single_arm: bool, rules: GradeRules) -> Downgrade:
    if single_arm and rules.single_arm_indirect:
        return Downgrade(
            "indirectness", 1, "serious: single-arm evidence, compared with natural history only"
        )
    return Downgrade("indirectness", 0, "not serious")


def _publication_bias(k, egger_pval, rules: GradeRules) -> Downgrade:
    if k < rules.egger_min_k or egger_pval is None:
        return Downgrade("publication_bias", 0, f"not assessable (k = {k} < {rules.egger_min_k})")
    if egger_pval < rules.egger_alpha:
        return Downgrade("publication_bias", 1, f"suspected: Egger p = {egger_pval:.3f}")
    return Downgrade("publication_bias", 0, f"not detected: Egger p = {egger_pval:.3f}")
