"""Per-exam and per-patient outcomes from classified exams.

Reads the classification engine's result strings (comma-joined possible values, a trailing
``*`` when a value depends on a tagged score, ``ND`` for a total with an NT) and turns them
into numbers, keeping ambiguity explicit: a multi-valued AIS stays a set, and a conversion
that depends on how the ambiguity resolves is neither counted nor dropped — the patient gets
``converted = <NA>`` with ``converted_lower = False`` and ``converted_upper = True``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sci_evidence.errors import InputError
from sci_evidence.isncsci.levels import AIS_GRADES, Level

SCORES = ("UEMS", "LEMS", "LT", "PP")
#: Engine result column → our score name.
TOTAL_COLUMNS = {
    "upperMotorTotal": "UEMS",
    "lowerMotorTotal": "LEMS",
    "touchTotal": "LT",
    "prickTotal": "PP",
}


def parse_grades(text: str) -> tuple[frozenset[str], bool]:
    """``"A,B*"`` → (``{"A", "B"}``, True): the possible grades and whether any is starred."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    grades = frozenset(p.rstrip("*") for p in parts)
    if not grades or not grades <= set(AIS_GRADES):
        raise InputError("not an AIS result", value=text)
    return grades, any(p.endswith("*") for p in parts)


def grades_text(grades: frozenset[str]) -> str:
    """Grades in A→E order, comma-joined: ``{"B", "A"}`` → ``"A,B"``."""
    return ",".join(g for g in AIS_GRADES if g in grades)


def parse_levels(text: str) -> tuple[int, ...]:
    """``"C5,C6*"`` → (4, 5): indices of the possible levels (``INT`` → 29)."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    return tuple(_level_index(p) for p in parts if p.rstrip("*").upper() != "NA")


def _level_index(name: str) -> int:
    """Index of a level name (``"C5"`` → 4, ``"INT"`` → 29); stars are ignored."""
    return int(Level[name.strip().rstrip("*").upper()])


def parse_total(text: str) -> float:
    """``"23"`` → 23.0, ``"ND"`` (or anything not a number) → NaN."""
    try:
        return float(str(text).rstrip("*"))
    except ValueError:
        return float("nan")


def _single(levels: tuple[int, ...]) -> float:
    return float(levels[0]) if len(levels) == 1 else float("nan")


def exam_outcomes(exams: pd.DataFrame, classified: pd.DataFrame) -> pd.DataFrame:
    """One row per exam: identifiers, the classification as reported and parsed numbers.

    Parameters
    ----------
    exams : DataFrame
        The validated trial table (``patient_id, arm, visit`` …), in the same row order as
        ``classified``.
    classified : DataFrame
        The engine's result columns (``asiaImpairmentScale``, ``neurologicalLevelOfInjury``,
        ``rightMotor``, ``leftMotor``, ``rightSensory``, ``leftSensory`` and the totals).

    Returns
    -------
    DataFrame
        ``patient_id, arm, visit, ais`` (as reported), ``ais_grades`` (without stars, A→E),
        ``ais_ambiguous``, ``ais_variable``, ``nli`` (as reported), ``nli_index`` (NaN when
        ambiguous), ``right_motor_index``, ``left_motor_index``, ``UEMS, LEMS, LT, PP``
        (NaN when ND) and ``TMS`` (UEMS + LEMS), plus covariates present in ``exams``.
    """
    out = exams[["patient_id", "arm", "visit"]].reset_index(drop=True).copy()
    for cov in ("age", "sex", "aetiology", "centre"):
        if cov in exams.columns:
            out[cov] = exams[cov].to_numpy()
    cl = classified.reset_index(drop=True)
    parsed = []
    for i, text in enumerate(cl["asiaImpairmentScale"]):
        try:
            parsed.append(parse_grades(text))
        except ValueError:
            # A classifier that returns no grade is a bug upstream, but name the exam.
            raise InputError(
                "the exam could not be given an AIS grade", row=i + 2, value=str(text)
            ) from None
    out["ais"] = cl["asiaImpairmentScale"].astype(str).to_numpy()
    out["ais_grades"] = [grades_text(g) for g, _ in parsed]
    out["ais_ambiguous"] = [len(g) > 1 for g, _ in parsed]
    out["ais_variable"] = [v for _, v in parsed]
    out["nli"] = cl["neurologicalLevelOfInjury"].astype(str).to_numpy()
    nli = [parse_levels(t) for t in cl["neurologicalLevelOfInjury"]]
    out["nli_index"] = [_single(x) for x in nli]
    out["nli_rostral_index"] = [float(min(x)) if x else np.nan for x in nli]
    for side in ("right", "left"):
        out[f"{side}_motor_index"] = [_single(parse_levels(t)) for t in cl[f"{side}Motor"]]
        out[f"{side}_sensory_index"] = [_single(parse_levels(t)) for t in cl[f"{side}Sensory"]]
    for col, name in TOTAL_COLUMNS.items():
        out[name] = [parse_total(t) for t in cl[col]]
    out["TMS"] = out["UEMS"] + out["LEMS"]
    return out


def level_group_of(rostral_index: float) -> str:
    """``tetraplegia`` for an NLI at C1–C8, ``paraplegia`` below; ``""`` when unknown/INT."""
    if not np.isfinite(rostral_index) or rostral_index >= Level.INT:
        return ""
    return "tetraplegia" if rostral_index <= Level.C8 else "paraplegia"


def patient_outcomes(exam_frame: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: baseline (first exam) against the last exam.

    Returns
    -------
    DataFrame
        ``patient_id, arm, n_exams, baseline_visit, last_visit, baseline_ais, last_ais``
        (grades without stars), ``ambiguous`` (either is multi-valued), ``grades_gained``
        (NaN when ambiguous), ``gain_min``, ``gain_max``, ``converted`` (boolean, ``<NA>``
        when it depends on the ambiguity), ``converted_lower``, ``converted_upper``,
        ``transition`` (``"A→B"``), ``level_group`` (from the baseline NLI), ``delta_UEMS``,
        ``delta_LEMS``, ``delta_LT``, ``delta_PP``, ``delta_TMS``, ``delta_nli`` (segments
        the NLI moved caudally; NaN when ambiguous), ``delta_right_motor``,
        ``delta_left_motor``, the baseline scores (``baseline_UEMS`` …), covariates at
        baseline, and the time course: ``visits`` (days, ``;``-joined), ``ais_course``
        (``"A → A → B"``) and ``tms_course`` (motor totals, ``ND`` where not
        determinable). Patients with a single exam have NaN changes and
        ``converted = <NA>``.
    """
    e = exam_frame.sort_values(["patient_id", "visit"], kind="stable")
    rows = []
    for pid, g in e.groupby("patient_id", sort=False):
        b, last = g.iloc[0], g.iloc[-1]
        row = {
            "patient_id": pid,
            "arm": b["arm"],
            "n_exams": len(g),
            "baseline_visit": b["visit"],
            "last_visit": last["visit"],
            "baseline_ais": b["ais_grades"],
            "last_ais": last["ais_grades"] if len(g) > 1 else "",
        }
        for cov in ("age", "sex", "aetiology", "centre"):
            if cov in g.columns:
                row[cov] = b[cov]
        # The time course at a glance: grade and motor score at every visit, in order.
        row["visits"] = ";".join(f"{v:g}" for v in g["visit"])
        row["ais_course"] = " → ".join(g["ais_grades"])
        row["tms_course"] = ";".join("ND" if not np.isfinite(x) else f"{x:g}" for x in g["TMS"])
        row["level_group"] = level_group_of(b["nli_rostral_index"])
        row["baseline_nli"] = b["nli"]
        for s in SCORES + ("TMS",):
            row[f"baseline_{s}"] = b[s]
        if len(g) > 1:
            g0 = [AIS_GRADES.index(x) for x in b["ais_grades"].split(",")]
            g1 = [AIS_GRADES.index(x) for x in last["ais_grades"].split(",")]
            gains = [j - i for i in g0 for j in g1]
            lo, hi = min(gains), max(gains)
            row.update(
                ambiguous=len(g0) > 1 or len(g1) > 1,
                gain_min=lo,
                gain_max=hi,
                grades_gained=float(lo) if lo == hi else np.nan,
                converted_lower=lo >= 1,
                converted_upper=hi >= 1,
                converted=True if lo >= 1 else (False if hi < 1 else pd.NA),
                transition=f"{b['ais_grades']}→{last['ais_grades']}",
            )
            for s in SCORES + ("TMS",):
                row[f"delta_{s}"] = last[s] - b[s]
            row["delta_nli"] = last["nli_index"] - b["nli_index"]
            row["delta_right_motor"] = last["right_motor_index"] - b["right_motor_index"]
            row["delta_left_motor"] = last["left_motor_index"] - b["left_motor_index"]
        else:
            row.update(
                ambiguous=False,
                gain_min=np.nan,
                gain_max=np.nan,
                grades_gained=np.nan,
                converted_lower=False,
                converted_upper=False,
                converted=pd.NA,
                transition="",
            )
            for s in SCORES + ("TMS",):
                row[f"delta_{s}"] = np.nan
            row["delta_nli"] = row["delta_right_motor"] = row["delta_left_motor"] = np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    out["converted"] = out["converted"].astype("boolean")
    return out


def transition_group(baseline: str, last: str) -> str:
    """Coarse transition label: ``A→B``, ``A→C/D``, ``B→C/D``, ``C→D``, ``→E``,
    ``unchanged``, ``worse``, or ``ambiguous`` (a multi-valued grade on either side)."""
    if not baseline or not last:
        return ""
    if "," in baseline or "," in last:
        return "ambiguous"
    i, j = AIS_GRADES.index(baseline), AIS_GRADES.index(last)
    if j == i:
        return "unchanged"
    if j < i:
        return "worse"
    if last == "E":
        return f"{baseline}→E"
    if baseline in ("A", "B") and last in ("C", "D"):
        return f"{baseline}→C/D"
    return f"{baseline}→{last}"
