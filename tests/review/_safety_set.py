"""A hand-made evidence set for the adverse-event rules (derived lower bounds, serious-graded
events, routes): every edge case the bundled base does not cover, with the reason beside
each study. ``make_metafor_safety_route.R`` fits its route comparison in metafor."""

from __future__ import annotations

from _handmade import _frame

from sci_evidence.evidence import load_evidence
from sci_evidence.evidence.model import EvidenceSet

# study: (n, route, why)
STUDIES = {
    "a1": (
        20,
        "intrathecal",
        "an explicit any row; a serious row AND the same event graded serious",
    ),
    "a2": (15, "intrathecal", "no any row: the largest type (4) is the derived count"),
    "a3": (12, "intravenous", "an explicit any row"),
    "a4": (18, "intravenous", "no any row; one type without patients (NA), one with 2"),
    "a5": (10, "intralesional", "any row; a serious row of 0 below an event graded serious"),
    "a6": (25, "intralesional", "an explicit any row"),
    "a7": (8, "intrathecal+intravenous", "the only study of its route (combined)"),
    "a8": (9, "intrathecal", "types with event counts only (patients NA): no bound"),
    "a9": (6, "intravenous", "only a serious row of 0: no bound for any"),
    "a10": (7, "", "route not reported"),
}
# ae rows: (study, ae_type, severity, patients, events)
AE = [
    ("a1", "any", "", 3, None),
    ("a1", "serious", "serious", 1, None),
    ("a1", "meningitis", "serious", 1, None),
    ("a2", "headache", "mild", 4, None),
    ("a2", "fever", "", 2, None),
    ("a2", "myelitis", "serious", 1, None),
    ("a3", "any", "", 1, None),
    ("a4", "rash", "", None, 2),
    ("a4", "fever", "", 2, None),
    ("a5", "any", "", 5, None),
    ("a5", "serious", "serious", 0, None),
    ("a5", "acute_disseminated_encephalomyelitis", "serious", 1, None),
    ("a6", "any", "", 2, None),
    ("a7", "any", "", 1, None),
    ("a8", "headache", "", None, 3),
    ("a8", "nausea", "", None, 1),
    ("a9", "serious", "serious", 0, None),
    ("a10", "any", "", 0, None),
]


def safety_evidence() -> EvidenceSet:
    base = load_evidence()
    studies = [
        {
            "study_id": s,
            "first_author": f"Author{s.upper()}",
            "year": 2000 + i,
            "design": "case_series",
            "controlled": False,
        }
        for i, s in enumerate(STUDIES)
    ]
    arms = [
        {
            "study_id": s,
            "arm_id": f"{s}:treated",
            "arm_label": "treated",
            "role": "treated",
            "n": n,
            "route": route,
            "route_group": route,
            "cell_source": "bone_marrow",
            "product": "culture_expanded_msc",
        }
        for s, (n, route, _) in STUDIES.items()
    ]
    ae = [
        {
            "ae_id": f"{s}:{j}",
            "study_id": s,
            "arm_id": f"{s}:treated",
            "ae_type": t,
            "severity": sev,
            "n": STUDIES[s][0],
            "patients": pat,
            "events": ev,
            "source_tier": "primary",
        }
        for j, (s, t, sev, pat, ev) in enumerate(AE)
    ]
    frames = base.frames()
    frames["studies"] = _frame(base.studies, studies)
    frames["arms"] = _frame(base.arms, arms)
    frames["outcomes"] = _frame(base.outcomes, [])
    frames["adverse_events"] = _frame(base.adverse_events, ae)
    frames["screening"] = _frame(
        base.screening,
        [{"review": "bundled", "stage": "included", "count": 1, "study_id": s} for s in STUDIES],
    )
    return EvidenceSet.from_frames(frames, origin="handmade-safety")
