"""Patient-level trial analysis: ``analyze_trial(df) -> TrialAnalysis``.

Every exam is classified by the ISNCSCI engine; each patient's first exam (the baseline) is
read against the last one; arms are summarised (conversion with an exact interval, the
transition matrix, mean score changes), compared with spontaneous recovery from the
natural-history benchmarks, and — with two arms — with each other (risk ratio, risk
difference, ANCOVA of score changes adjusted for the baseline score).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sci_evidence.errors import DataWarning, InputError
from sci_evidence.isncsci.levels import INPUT_COLUMNS
from sci_evidence.trials.io import validate_trial_table
from sci_evidence.trials.natural_history import (
    ArmNaturalHistory,
    compare_arm,
    conversion_benchmarks,
    expected_conversion,
    phase_of,
)
from sci_evidence.trials.outcomes import (
    SCORES,
    exam_outcomes,
    patient_outcomes,
    transition_group,
)
from sci_evidence.trials.stats import (
    CI_METHODS,
    AncovaResult,
    MeanCI,
    ProportionCI,
    TwoByTwoEffect,
    ancova,
    mean_ci,
    proportion_ci,
    two_by_two_effect,
)

#: Score changes reported per arm (TMS = UEMS + LEMS is added in the tables).
CHANGE_SCORES = SCORES + ("TMS",)
#: Level changes reported per arm, in segments (positive = the level moved caudally).
LEVEL_CHANGES = ("nli", "right_motor", "left_motor")


def _clean(value: Any) -> Any:
    """JSON-safe scalar: NaN/inf → None, numpy → Python."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if np.isfinite(v) else None
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if value is pd.NA:
        return None
    return value


def _clean_dict(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out[k] = _clean_dict(v)
        elif isinstance(v, (list, tuple)):
            out[k] = [_clean_dict(x) if isinstance(x, dict) else _clean(x) for x in v]
        else:
            out[k] = _clean(v)
    return out


@dataclass(frozen=True)
class ArmSummary:
    """One arm: conversion, transitions and mean score changes.

    ``n`` counts patients with a baseline and at least one later exam. ``converted`` counts
    patients who improved by at least one AIS grade whatever their ambiguous grades resolve
    to; ``converted_upper`` also counts those who *may* have converted (sensitivity).
    ``transitions[baseline][last]`` is the count (grades as reported, ambiguous sets like
    ``"A,B"`` kept as their own category). ``changes[score]`` is the mean change with its
    t interval over patients whose score was determinable at both exams.
    """

    arm: str
    n: int
    n_single_exam: int
    converted: int
    converted_upper: int
    n_ambiguous: int
    share: ProportionCI
    share_upper: ProportionCI
    transitions: dict[str, dict[str, int]]
    transition_groups: dict[str, int]
    changes: dict[str, MeanCI]
    level_changes: dict[str, MeanCI] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {
            "arm": self.arm,
            "n": self.n,
            "converted": self.converted,
            "converted_upper": self.converted_upper,
            "n_ambiguous": self.n_ambiguous,
            "n_single_exam": self.n_single_exam,
            "share_converted": self.share.to_dict(),
            "share_converted_upper": self.share_upper.to_dict(),
            "transitions": {b: dict(t) for b, t in self.transitions.items()},
            "transition_groups": dict(self.transition_groups),
        }
        for s in SCORES:
            d[s] = self.changes[s].mean
        d["changes"] = {s: self.changes[s].to_dict() for s in CHANGE_SCORES}
        d["level_changes"] = {k: v.to_dict() for k, v in self.level_changes.items()}
        return _clean_dict(d)


@dataclass(frozen=True)
class TwoArmComparison:
    """Treated against control: conversion (RR, RD; also with ambiguous patients counted as
    converted) and ANCOVA of each score change adjusted for its baseline score."""

    treated: str
    control: str
    rr: TwoByTwoEffect
    rd: TwoByTwoEffect
    rr_upper: TwoByTwoEffect
    rd_upper: TwoByTwoEffect
    ancova: dict[str, AncovaResult | None]

    def to_dict(self) -> dict:
        return _clean_dict(
            {
                "treated": self.treated,
                "control": self.control,
                "risk_ratio": self.rr.to_dict(),
                "risk_difference": self.rd.to_dict(),
                "sensitivity_ambiguous_as_converted": {
                    "risk_ratio": self.rr_upper.to_dict(),
                    "risk_difference": self.rd_upper.to_dict(),
                },
                "ancova": {s: (None if r is None else r.to_dict()) for s, r in self.ancova.items()},
            }
        )


@dataclass(frozen=True)
class TrialAnalysis:
    """The analysis of one trial's patient-level exams.

    Attributes
    ----------
    exams : DataFrame
        One row per exam with its classification (see
        :func:`~sci_evidence.trials.outcomes.exam_outcomes`).
    patients : DataFrame
        One row per analysed patient (see :func:`~sci_evidence.trials.outcomes.patient_outcomes`),
        with the natural-history columns ``phase, nh_p, nh_p_low, nh_p_high, nh_sources``.
    arms : tuple of ArmSummary
    comparison : TwoArmComparison or None
        Present with exactly two arms.
    natural_history : tuple of ArmNaturalHistory
        Empty when no benchmarks were given.
    benchmarks : DataFrame or None
        The per-source conversion benchmarks used.
    excluded : dict
        ``no_baseline`` (patients without an exam by ``baseline_max_day``) and
        ``no_follow_up`` (a single exam).
    settings : dict
    """

    exams: pd.DataFrame
    patients: pd.DataFrame
    arms: tuple[ArmSummary, ...]
    comparison: TwoArmComparison | None
    natural_history: tuple[ArmNaturalHistory, ...]
    benchmarks: pd.DataFrame | None
    excluded: dict[str, list[str]]
    settings: dict[str, Any] = field(default_factory=dict)

    def arm(self, name: str) -> ArmSummary:
        for a in self.arms:
            if a.arm == name:
                return a
        raise KeyError(name)

    def to_frame(self) -> pd.DataFrame:
        """The per-patient table."""
        return self.patients.copy()

    def arms_frame(self) -> pd.DataFrame:
        """One row per arm: n, conversion with interval and mean changes."""
        rows = []
        for a in self.arms:
            r = {
                "arm": a.arm,
                "n": a.n,
                "converted": a.converted,
                "converted_upper": a.converted_upper,
                "share": a.share.estimate,
                "share_ci_lb": a.share.ci_lb,
                "share_ci_ub": a.share.ci_ub,
            }
            for s in CHANGE_SCORES:
                c = a.changes[s]
                r.update(
                    {
                        f"{s}_n": c.n,
                        f"{s}_mean": c.mean,
                        f"{s}_sd": c.sd,
                        f"{s}_ci_lb": c.ci_lb,
                        f"{s}_ci_ub": c.ci_ub,
                    }
                )
            rows.append(r)
        return pd.DataFrame(rows)

    def transitions_frame(self) -> pd.DataFrame:
        """Long table ``arm, baseline, last, count``."""
        rows = [
            {"arm": a.arm, "baseline": b, "last": f, "count": c}
            for a in self.arms
            for b, t in a.transitions.items()
            for f, c in t.items()
        ]
        return pd.DataFrame(rows, columns=["arm", "baseline", "last", "count"])

    def natural_history_frame(self) -> pd.DataFrame:
        return pd.DataFrame([nh.to_dict() for nh in self.natural_history])

    def to_dict(self) -> dict:
        """JSON-safe summary (the CLI's ``summary.json``)."""
        return _clean_dict(
            {
                "arms": [a.to_dict() for a in self.arms],
                "comparison": None if self.comparison is None else self.comparison.to_dict(),
                "natural_history": [nh.to_dict() for nh in self.natural_history],
                "excluded": {k: list(v) for k, v in self.excluded.items()},
                "n_patients": int(len(self.patients)),
                "n_exams": int(len(self.exams)),
                "settings": dict(self.settings),
            }
        )

    def summary(self) -> str:
        """Plain-text report."""
        lines = [f"Trial analysis: {len(self.patients)} patients, {len(self.exams)} exams"]
        for k, v in self.excluded.items():
            if v:
                lines.append(f"  {k.replace('_', ' ')}: {len(v)} ({', '.join(v[:10])})")
        for a in self.arms:
            s = a.share
            lines.append(
                f"Arm {a.arm}: n={a.n}, converted {a.converted}/{a.n} = {s.estimate:.1%} "
                f"({s.level:.0%} CI {s.ci_lb:.1%} to {s.ci_ub:.1%}, {s.method})"
            )
            if a.n_ambiguous:
                lines.append(
                    f"  sensitivity: {a.n_ambiguous} ambiguous patient(s); counted as converted "
                    f"{a.converted_upper}/{a.n} = {a.share_upper.estimate:.1%}"
                )
            for sc in CHANGE_SCORES:
                c = a.changes[sc]
                if c.n:
                    lines.append(
                        f"  Δ{sc}: {c.mean:+.2f} (CI {c.ci_lb:+.2f} to {c.ci_ub:+.2f}), n={c.n}"
                    )
        for nh in self.natural_history:
            lines.append(
                f"Natural history, {nh.arm}: observed {nh.observed} vs expected "
                f"{nh.expected:.2f} (range {nh.expected_low:.2f}–{nh.expected_high:.2f}) "
                f"of {nh.n}; exact P(X ≥ obs) = {nh.pval:.4g} "
                f"(benchmark range {nh.pval_range[0]:.4g}–{nh.pval_range[1]:.4g})"
            )
        c = self.comparison
        if c is not None:
            lines.append(
                f"{c.treated} vs {c.control}: RR {c.rr.estimate:.3g} "
                f"({c.rr.ci_lb:.3g} to {c.rr.ci_ub:.3g}), RD {c.rd.estimate:+.3f} "
                f"({c.rd.ci_lb:+.3f} to {c.rd.ci_ub:+.3f})"
            )
            for sc, r in c.ancova.items():
                if r is not None:
                    lines.append(
                        f"  ANCOVA Δ{sc}: {r.estimate:+.2f} ({r.ci_lb:+.2f} to {r.ci_ub:+.2f}), "
                        f"p = {r.pval:.4g}"
                    )
        return "\n".join(lines)

    def evidence_rows(
        self,
        study_id: str = "trial",
        *,
        source_key: str = "trial_data",
        control_type: str = "standard_care",
    ) -> dict[str, pd.DataFrame]:
        """The trial as evidence-base rows (``studies``, ``arms``, ``outcomes`` frames).

        The frames have exactly the evidence base's columns and dtypes
        (``docs/evidence_schema.md``) and pass its validation; every value has status
        ``derived`` (computed from the patient-level data). Outcomes: ``ais_improved``
        (events/n), ``ais_transition`` (one row per baseline→last grade pair) and the
        changes of ``uems``, ``lems``, ``lt_total``, ``pp_total``, ``motor_total``
        (``is_change=True``, mean/SD/n). Each arm's population (baseline AIS counts, level
        group, level, injury phase) comes from the baseline exams; ``control_type`` (default
        ``standard_care``) is the control arm's, which the exams cannot tell.

        A transition whose baseline grade is ambiguous (``A,B``) cannot be an
        ``ais_transition`` row (its ``from_grade`` must be one grade): it is left out, the
        arm's transition rows are flagged ``transitions_partial`` and ``ais_improved``'s
        notes say how many patients were ambiguous. An ambiguous follow-up grade is written
        ``C or D``.
        """
        controlled = self.comparison is not None
        control = self.comparison.control if controlled else None
        prov = {
            "source_key": source_key,
            "where_in_source": "patient-level data",
            "verbatim": "",
            "status": "derived",
        }
        studies = pd.DataFrame(
            [
                {
                    "study_id": study_id,
                    "design": "rct" if controlled else "single_arm_trial",
                    "controlled": controlled,
                    "n_arms": len(self.arms),
                    "n_total": int(sum(a.n for a in self.arms)),
                    "flags": "",
                    "notes": "",
                    **prov,
                }
            ]
        )
        arm_rows, outcome_rows = [], []
        names = {
            "UEMS": "uems",
            "LEMS": "lems",
            "LT": "lt_total",
            "PP": "pp_total",
            "TMS": "motor_total",
        }
        patients = self.patients[self.patients["n_exams"] >= 2]
        for a in self.arms:
            arm_id = f"{study_id}:{a.arm}"
            role = "control" if a.arm == control else "treated"
            arm_rows.append(
                {
                    "study_id": study_id,
                    "arm_id": arm_id,
                    "arm_label": a.arm,
                    "role": role,
                    "control_type": control_type if role == "control" else "",
                    "n": a.n,
                    **_arm_population(patients[patients["arm"] == a.arm]),
                    **prov,
                }
            )

            def add(arm_id: str = arm_id, **kw) -> None:
                base = {
                    "outcome_id": f"{study_id}:{len(outcome_rows) + 1}",
                    "study_id": study_id,
                    "arm_id": arm_id,
                    "subgroup": "",
                    "baseline_grade": "",
                    "timepoint": "last visit",
                    "is_baseline": False,
                    "is_change": False,
                    "flags": "",
                    "notes": "",
                    **prov,
                }
                base.update(kw)
                outcome_rows.append(base)

            add(
                outcome="ais_improved",
                domain="ais",
                n=a.n,
                events=a.converted,
                unit="patients",
                notes=f"{a.n_ambiguous} patient(s) with an ambiguous conversion counted as "
                f"not converted; counted as converted: {a.converted_upper}",
            )
            partial = any("," in b for b in a.transitions)
            for b, t in a.transitions.items():
                if "," in b:
                    continue
                for f_, c in t.items():
                    add(
                        outcome="ais_transition",
                        domain="ais",
                        from_grade=b,
                        to_grade=f_.replace(",", " or "),
                        count=c,
                        n=a.n,
                        baseline_grade=b,
                        unit="patients",
                        flags="transitions_partial" if partial else "",
                    )
            for sc, name in names.items():
                ch = a.changes[sc]
                if ch.n:
                    add(
                        outcome=name,
                        domain="motor" if "EMS" in sc or sc == "TMS" else "sensory",
                        is_change=True,
                        n=ch.n,
                        mean=ch.mean,
                        sd=ch.sd,
                        unit="points",
                    )
        from sci_evidence.evidence.columns import coerce_frame

        return {
            "studies": coerce_frame(studies, "studies"),
            "arms": coerce_frame(pd.DataFrame(arm_rows), "arms"),
            "outcomes": coerce_frame(pd.DataFrame(outcome_rows), "outcomes"),
        }

    # Figures live in trials.plots; these are conveniences.
    def plot_transitions(self, arm: str | None = None, **kw):
        from sci_evidence.trials.plots import transition_plot

        return transition_plot(self, arm=arm, **kw)

    def plot_trajectories(self, score: str = "TMS", **kw):
        from sci_evidence.trials.plots import trajectory_plot

        return trajectory_plot(self, score=score, **kw)

    def plot_natural_history(self, **kw):
        from sci_evidence.trials.plots import natural_history_plot

        return natural_history_plot(self, **kw)

    def plot(self, **kw):
        """The transition (alluvial) figure of every arm."""
        return self.plot_transitions(**kw)


def _arm_population(p: pd.DataFrame) -> dict[str, Any]:
    """An arm's baseline population in the evidence schema's vocabulary."""
    out: dict[str, Any] = {}
    for g in ("A", "B", "C", "D"):
        out[f"ais_{g.lower()}"] = int((p["baseline_ais"] == g).sum())
    groups = set(p["level_group"]) - {""}
    out["level_group"] = groups.pop() if len(groups) == 1 else ("mixed" if groups else "unknown")
    regions = {_region(n) for n in p["baseline_nli"]} - {""}
    out["level"] = regions.pop() if len(regions) == 1 else ("mixed" if regions else "unknown")
    # The evidence schema's phases: acute < 2 weeks, subacute 2 weeks-6 months, chronic later.
    phases = {
        "acute" if d < 14 else ("subacute" if d <= 182 else "chronic") for d in p["baseline_visit"]
    }
    out["injury_phase"] = phases.pop() if len(phases) == 1 else ("mixed" if phases else "unknown")
    return out


def _region(nli: str) -> str:
    first = str(nli).split(",")[0].strip().rstrip("*").upper()
    return {"C": "cervical", "T": "thoracic", "L": "lumbar", "S": "lumbar"}.get(first[:1], "")


def _default_classify() -> Callable[[pd.DataFrame], pd.DataFrame]:
    from sci_evidence.isncsci import classify_table

    return classify_table


def analyze_trial(
    df: pd.DataFrame,
    *,
    natural_history: pd.DataFrame | None = None,
    treated: str | None = None,
    control: str | None = None,
    baseline_max_day: float | None = None,
    ci_method: str = "clopper-pearson",
    level: float = 0.95,
    classify: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> TrialAnalysis:
    """Analyse a trial's long exam table.

    Parameters
    ----------
    df : DataFrame
        ``patient_id, arm, visit`` (days since injury), the exam in the ISNCSCI flat layout,
        optional covariates ``age, sex, aetiology, centre``. Validated with
        :func:`~sci_evidence.trials.io.validate_trial_table`.
    natural_history : DataFrame, optional
        The evidence base's ``natural_history_conversion`` frame; without it there is no
        comparison with spontaneous recovery.
    treated, control : str, optional
        Names of the two arms to compare. With two arms and neither given, an arm named
        like a control (``control``, ``placebo``, ``standard care``, ``rehab*``) is the
        control; otherwise the first arm in sorted order.
    baseline_max_day : float, optional
        A patient's baseline is the first exam; with this set, a patient whose first exam
        is later than this day has no baseline and is excluded (and reported).
    ci_method : {"clopper-pearson", "wilson"}, default "clopper-pearson"
        Interval of the share converting.
    level : float, default 0.95
    classify : callable, optional
        Exam classifier (default :func:`sci_evidence.isncsci.classify_table`).

    Returns
    -------
    TrialAnalysis
    """
    if ci_method not in CI_METHODS:
        raise InputError(f"ci_method must be {' or '.join(CI_METHODS)}", value=ci_method)
    data = validate_trial_table(df)
    classify = classify or _default_classify()
    cols = [c for c in INPUT_COLUMNS if c in data.columns]
    to_classify = data[cols].copy()
    to_classify.insert(0, "id", [f"row{i + 2}" for i in range(len(data))])
    classified = classify(to_classify)
    exams = exam_outcomes(data, classified)

    excluded: dict[str, list[str]] = {"no_baseline": [], "no_follow_up": []}
    first = exams.groupby("patient_id")["visit"].min()
    if baseline_max_day is not None:
        late = first[first > baseline_max_day].index.tolist()
        excluded["no_baseline"] = sorted(map(str, late))
        exams_used = exams[~exams["patient_id"].isin(late)]
    else:
        exams_used = exams
    patients = patient_outcomes(exams_used) if len(exams_used) else patient_outcomes(exams)
    if not len(exams_used):
        raise InputError("no patient has a baseline exam", column="visit")
    excluded["no_follow_up"] = sorted(map(str, patients.loc[patients["n_exams"] < 2, "patient_id"]))
    patients["transition_group"] = [
        transition_group(b, f)
        for b, f in zip(patients["baseline_ais"], patients["last_ais"], strict=False)
    ]

    benchmarks = None
    nh_results: list[ArmNaturalHistory] = []
    patients["phase"] = [phase_of(v) for v in patients["baseline_visit"]]
    if natural_history is not None:
        benchmarks = conversion_benchmarks(natural_history)
        patients = _add_expected(patients, benchmarks)

    analysed = patients[patients["n_exams"] >= 2]
    arm_names = sorted(patients["arm"].unique())
    arms = tuple(_summarise_arm(a, patients, ci_method, level) for a in arm_names)
    if natural_history is not None:
        for a in arm_names:
            p = analysed[analysed["arm"] == a]
            nh_results.append(
                compare_arm(
                    a,
                    p["converted_lower"].to_numpy(bool),
                    p["converted_upper"].to_numpy(bool),
                    p["nh_p"].to_numpy(float),
                    p["nh_p_low"].to_numpy(float),
                    p["nh_p_high"].to_numpy(float),
                )
            )

    comparison = None
    if len(arm_names) == 2 or (treated and control):
        treated, control = _pick_arms(arm_names, treated, control)
        comparison = _compare(analysed, treated, control, level)
    settings = {
        "ci_method": ci_method,
        "level": level,
        "baseline": "first exam" + (f" by day {baseline_max_day}" if baseline_max_day else ""),
        "follow_up": "last exam",
        "converted": "improved by >= 1 AIS grade from baseline to last exam, whatever "
        "ambiguous grades resolve to; converted_upper counts patients who may have converted",
        "level_group": "tetraplegia: baseline NLI C1-C8; paraplegia: T1 and below",
        "phase": "acute: baseline <= 30 d after injury; chronic: >= 365 d; subacute between "
        "(acute benchmarks, range over acute and chronic)",
        "benchmarks": "mostly 1-year conversion rates of tetraplegic, paraplegic or mixed "
        "samples; with shorter follow-up the expected count is an overestimate, so the "
        "comparison errs against the treatment",
        "treated": comparison.treated if comparison else None,
        "control": comparison.control if comparison else None,
    }
    return TrialAnalysis(
        exams, patients, arms, comparison, tuple(nh_results), benchmarks, excluded, settings
    )


def _add_expected(patients: pd.DataFrame, benchmarks: pd.DataFrame) -> pd.DataFrame:
    p, lo, hi, src = [], [], [], []
    for grades, group, phase in zip(
        patients["baseline_ais"], patients["level_group"], patients["phase"], strict=False
    ):
        # An ambiguous baseline averages its possible grades' probabilities (range over all).
        found = [expected_conversion(g, group, phase, benchmarks) for g in grades.split(",")]
        found = [f for f in found if f is not None]
        if not found or not group:
            p.append(np.nan), lo.append(np.nan), hi.append(np.nan), src.append("")
            continue
        p.append(float(np.mean([f.p for f in found])))
        lo.append(min(f.p_low for f in found))
        hi.append(max(f.p_high for f in found))
        src.append("; ".join(sorted({s for f in found for s in f.sources})))
    out = patients.copy()
    out["nh_p"], out["nh_p_low"], out["nh_p_high"], out["nh_sources"] = p, lo, hi, src
    return out


_CONTROL_WORDS = ("control", "placebo", "standard", "rehab", "usual", "sham")


def _pick_arms(names: list[str], treated: str | None, control: str | None) -> tuple[str, str]:
    for given in (treated, control):
        if given is not None and given not in names:
            raise InputError(
                f"no arm named {given!r}; arms are {', '.join(names)}", column="arm", value=given
            )
    if treated and control:
        return treated, control
    if control:
        return next(n for n in names if n != control), control
    if treated:
        return treated, next(n for n in names if n != treated)
    ctrl = [n for n in names if any(w in n.lower() for w in _CONTROL_WORDS)]
    control = ctrl[0] if len(ctrl) == 1 else names[0]
    return next(n for n in names if n != control), control


def _summarise_arm(arm: str, patients: pd.DataFrame, ci_method: str, level: float) -> ArmSummary:
    p_all = patients[patients["arm"] == arm]
    p = p_all[p_all["n_exams"] >= 2]
    n = int(len(p))
    lower = int(p["converted_lower"].sum())
    upper = int(p["converted_upper"].sum())
    trans: dict[str, dict[str, int]] = {}
    for (b, f), c in p.groupby(["baseline_ais", "last_ais"]).size().items():
        trans.setdefault(b, {})[f] = int(c)
    groups = {k: int(v) for k, v in p["transition_group"].value_counts().sort_index().items()}
    changes = {s: mean_ci(p[f"delta_{s}"].to_numpy(float), level=level) for s in CHANGE_SCORES}
    levels = {k: mean_ci(p[f"delta_{k}"].to_numpy(float), level=level) for k in LEVEL_CHANGES}
    return ArmSummary(
        arm,
        n,
        int(len(p_all) - n),
        lower,
        upper,
        int(p["converted"].isna().sum()),
        proportion_ci(lower, n, method=ci_method, level=level),
        proportion_ci(upper, n, method=ci_method, level=level),
        trans,
        groups,
        changes,
        levels,
    )


def _compare(p: pd.DataFrame, treated: str, control: str, level: float) -> TwoArmComparison | None:
    t, c = p[p["arm"] == treated], p[p["arm"] == control]
    a, n1 = int(t["converted_lower"].sum()), len(t)
    cc, n2 = int(c["converted_lower"].sum()), len(c)
    au, ccu = int(t["converted_upper"].sum()), int(c["converted_upper"].sum())
    if n1 == 0 or n2 == 0:
        warnings.warn(
            f"arm {treated if n1 == 0 else control!r} has no patient with a follow-up exam; "
            "no two-arm comparison",
            DataWarning,
            stacklevel=3,
        )
        return None
    both = pd.concat([t, c])
    flag = (both["arm"] == treated).to_numpy(float)
    results: dict[str, AncovaResult | None] = {}
    for s in CHANGE_SCORES:
        try:
            results[s] = ancova(
                both[f"delta_{s}"].to_numpy(float),
                flag,
                both[f"baseline_{s}"].to_numpy(float),
                level=level,
            )
        except ValueError:
            results[s] = None  # e.g. every baseline equal (all paraplegic UEMS = 50)
    return TwoArmComparison(
        treated,
        control,
        two_by_two_effect("RR", a, n1, cc, n2, level=level),
        two_by_two_effect("RD", a, n1, cc, n2, level=level),
        two_by_two_effect("RR", au, n1, ccu, n2, level=level),
        two_by_two_effect("RD", au, n1, ccu, n2, level=level),
        results,
    )
