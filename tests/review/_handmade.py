"""A small hand-made evidence set whose numbers the tests can check against R (see
make_metafor_review_extra.R): five MSC studies and one flagged study."""

from __future__ import annotations

import pandas as pd

from sci_evidence.evidence import load_evidence
from sci_evidence.evidence.model import EvidenceSet
from tolerances import REVIEW_VS_METAFOR

TOL = REVIEW_VS_METAFOR  # see tests/tolerances.py


def _frame(template: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    """Rows with every column of ``template`` (missing text "" and numbers NA)."""
    out = []
    for r in rows:
        full = {}
        for c in template.columns:
            if c in r:
                full[c] = r[c]
            elif template[c].dtype == object or str(template[c].dtype) == "string":
                full[c] = ""
            elif pd.api.types.is_float_dtype(template[c].dtype):
                full[c] = float("nan")
            else:
                full[c] = pd.NA
        out.append(full)
    df = pd.DataFrame(out, columns=template.columns)
    for c in template.columns:
        try:
            df[c] = df[c].astype(template[c].dtype)
        except (TypeError, ValueError):
            pass
    return df


STUDIES = [
    # id, author, year, design, controlled, flags
    ("s1", "Alpha", 2010, "single_arm_trial", False, ""),
    ("s2", "Beta", 2012, "case_series", False, ""),
    ("s3", "Gamma", 2014, "rct", True, ""),
    ("s4", "Delta", 2016, "non_randomised_controlled", True, ""),
    ("s5", "Epsilon", 2018, "rct", True, ""),
    ("s6", "Zeta", 2019, "case_series", False, "not_culture_expanded_msc"),
]
# treated arm: n, route, phase, level, (ais_a, ais_b, ais_c, ais_d), dose, unit, events
TREATED = {
    "s1": (14, "intrathecal", "chronic", "paraplegia", (14, 0, 0, 0), 1e6, "cells/kg", 7),
    "s2": (31, "intralesional", "acute", "paraplegia", (31, 0, 0, 0), 4e7, "cells", 13),
    "s3": (20, "intrathecal", "subacute", "tetraplegia", (0, 8, 8, 4), 1e8, "cells", 9),
    "s4": (11, "intravenous", "chronic", "tetraplegia", (11, 0, 0, 0), 2e6, "cells/kg", 5),
    "s5": (10, "intrathecal", "chronic", "paraplegia", (10, 0, 0, 0), 3e7, "cells", 2),
    "s6": (10, "intrathecal", "chronic", "paraplegia", (10, 0, 0, 0), None, "", 8),
}
CONTROL = {"s3": (20, 3), "s4": (12, 1), "s5": (10, 0)}
AE_ANY = {"s1": 0, "s2": 3, "s3": 1, "s4": 0, "s5": 2, "s6": 0}


def handmade_evidence() -> EvidenceSet:
    base = load_evidence()
    studies = _frame(
        base.studies,
        [
            {"study_id": s, "first_author": a, "year": y, "design": d, "controlled": c, "flags": f}
            for s, a, y, d, c, f in STUDIES
        ],
    )
    arms, outcomes, ae = [], [], []
    for sid, (n, route, phase, level, ais, dose, unit, ev) in TREATED.items():
        flags = dict((s, f) for s, *_, f in STUDIES)[sid]
        arms.append(
            {
                "study_id": sid,
                "arm_id": f"{sid}:treated",
                "arm_label": "treated",
                "role": "treated",
                "n": n,
                "route": route,
                "route_group": route,
                "cell_source": "bone_marrow",
                "product": "culture_expanded_msc",
                "auto_allo": "autologous",
                "injury_phase": phase,
                "level_group": level,
                "ais_a": ais[0],
                "ais_b": ais[1],
                "ais_c": ais[2],
                "ais_d": ais[3],
                "dose_cells": dose if dose else float("nan"),
                "dose_unit": unit,
                "flags": flags,
            }
        )
        outcomes.append(
            {
                "outcome_id": f"{sid}:1",
                "study_id": sid,
                "arm_id": f"{sid}:treated",
                "outcome": "ais_improved",
                "domain": "ais",
                "timepoint": "12 months",
                "timepoint_months": 12.0,
                "is_baseline": False,
                "is_change": False,
                "n": n,
                "events": ev,
                "flags": flags,
            }
        )
        ae.append(
            {
                "ae_id": f"{sid}:ae",
                "study_id": sid,
                "arm_id": f"{sid}:treated",
                "ae_type": "any",
                "n": n,
                "patients": AE_ANY[sid],
            }
        )
    for sid, (n, ev) in CONTROL.items():
        arms.append(
            {
                "study_id": sid,
                "arm_id": f"{sid}:control",
                "arm_label": "control",
                "role": "control",
                "n": n,
                "control_type": "rehabilitation",
                "injury_phase": TREATED[sid][2],
                "level_group": TREATED[sid][3],
            }
        )
        outcomes.append(
            {
                "outcome_id": f"{sid}:2",
                "study_id": sid,
                "arm_id": f"{sid}:control",
                "outcome": "ais_improved",
                "domain": "ais",
                "timepoint": "12 months",
                "timepoint_months": 12.0,
                "is_baseline": False,
                "is_change": False,
                "n": n,
                "events": ev,
            }
        )
    # an earlier time point that must not be used (the last follow-up is)
    outcomes.append(
        {
            "outcome_id": "s1:0",
            "study_id": "s1",
            "arm_id": "s1:treated",
            "outcome": "ais_improved",
            "domain": "ais",
            "timepoint": "6 months",
            "timepoint_months": 6.0,
            "is_baseline": False,
            "is_change": False,
            "n": 14,
            "events": 3,
        }
    )
    # a composite "improved" row flagged not_ais_grade: never pooled
    outcomes.append(
        {
            "outcome_id": "s2:9",
            "study_id": "s2",
            "arm_id": "s2:treated",
            "outcome": "ais_improved",
            "domain": "ais",
            "timepoint": "24 months",
            "timepoint_months": 24.0,
            "is_baseline": False,
            "is_change": False,
            "n": 31,
            "events": 30,
            "flags": "not_ais_grade",
        }
    )
    cont = [
        ("s1:m0", "s1", "s1:treated", True, False, 14, 20.0, 10.0, 0.0),
        ("s1:m1", "s1", "s1:treated", False, False, 14, 24.0, 11.0, 12.0),
        ("s2:m1", "s2", "s2:treated", False, True, 31, 5.0, 4.0, 6.0),
        ("s3:m1", "s3", "s3:treated", False, False, 20, 30.0, 8.0, 12.0),
        ("s3:m2", "s3", "s3:control", False, False, 20, 27.0, 9.0, 12.0),
        ("s4:m1", "s4", "s4:treated", False, False, 11, 25.0, 10.0, 12.0),
        ("s4:m2", "s4", "s4:control", False, False, 12, 24.0, 9.0, 12.0),
    ]
    for oid, sid, arm, base_, change, n, m, sd, t in cont:
        outcomes.append(
            {
                "outcome_id": oid,
                "study_id": sid,
                "arm_id": arm,
                "outcome": "motor_total",
                "domain": "motor",
                "timepoint": "baseline" if base_ else f"{t:g} months",
                "timepoint_months": t,
                "is_baseline": base_,
                "is_change": change,
                "n": n,
                "mean": m,
                "sd": sd,
            }
        )
    # SWiM: neurophysiology
    for sid, ev, n in (("s1", 2, 14), ("s2", 0, 31), ("s3", 5, 20)):
        outcomes.append(
            {
                "outcome_id": f"{sid}:n",
                "study_id": sid,
                "arm_id": f"{sid}:treated",
                "outcome": "ssep_improved",
                "domain": "neurophysiology",
                "timepoint": "6 months",
                "timepoint_months": 6.0,
                "is_baseline": False,
                "is_change": False,
                "n": n,
                "events": ev,
            }
        )
    frames = base.frames()
    frames["studies"] = studies
    frames["arms"] = _frame(base.arms, arms)
    frames["outcomes"] = _frame(base.outcomes, outcomes)
    frames["adverse_events"] = _frame(base.adverse_events, ae)
    frames["screening"] = _frame(
        base.screening,
        [
            {"review": "bundled", "stage": "included", "count": 1, "study_id": s}
            for s, *_ in STUDIES
        ],
    )
    return EvidenceSet.from_frames(frames, origin="handmade")
