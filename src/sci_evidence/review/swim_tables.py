"""Direction of effect per study for outcomes that are synthesised without pooling.

Rules (in the report's methods): a binary row (``events``/``n``) points to benefit when at
least one treated patient improved (``*_improved``, ``*_changed``, ``*reinnervation``,
``mri_new_signal*``) and to no change when none did. A continuous row compares the last
follow-up with baseline in the treated arm; lower is better for residual urine, detrusor
pressure and lesion size, higher for bladder capacity. A row with neither is read from its
verbatim text (``improv``/``increas``/``recover`` → benefit, ``worse``/``deterior`` →
harm, ``no change``/``unchanged``/``no improvement`` → no change), else unclear. Controlled
studies are read in their treated arm (the within-arm direction), and the table says so.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

LOWER_IS_BETTER = ("residual_urine", "detrusor_pressure", "mri_lesion_size", "walk_10m_time")

_NO = re.compile(r"no (significant )?(change|improvement|difference)|unchanged|did not", re.I)
_BAD = re.compile(r"wors|deterior|declin", re.I)
_GOOD = re.compile(r"improv|increas|recover|restor|better|reinnervat|new signal", re.I)


def text_direction(text: str) -> str:
    """Direction read from a source's wording."""
    t = str(text or "")
    if _NO.search(t):
        return "no_change"
    if _BAD.search(t):
        return "harm"
    if _GOOD.search(t):
        return "benefit"
    return "unclear"


def direction_rows(
    outcomes: pd.DataFrame, arms: pd.DataFrame, outcome_keys, labels
) -> pd.DataFrame:
    """One row per (study, outcome) of the treated arms: ``study_id, label, outcome,
    direction, detail``."""
    o = outcomes[outcomes["outcome"].isin(outcome_keys)]
    role = dict(zip(arms["arm_id"], arms["role"], strict=True))
    o = o[[role.get(a, "") == "treated" for a in o["arm_id"]]] if len(o) else o
    # records grouped by (study, outcome) in order of first appearance, read once: one
    # pandas frame per group would cost more than the whole table
    groups: dict[tuple, list[dict]] = {}
    for r in o.to_dict(orient="records"):
        if pd.notna(r["study_id"]) and pd.notna(r["outcome"]):
            groups.setdefault((r["study_id"], r["outcome"]), []).append(r)
    recs = []
    for (sid, key), g in groups.items():
        direction, detail = _direction(g, key)
        recs.append(
            {
                "study_id": sid,
                "label": labels.get(sid, sid),
                "outcome": key,
                "direction": direction,
                "detail": detail,
            }
        )
    return pd.DataFrame(recs, columns=["study_id", "label", "outcome", "direction", "detail"])


def _direction(g: list[dict], key: str) -> tuple[str, str]:
    """Direction of one study's rows of one outcome (in file order)."""
    binary = [r for r in g if pd.notna(r["events"]) and pd.notna(r["n"])]
    if binary:
        r = binary[-1]
        e, n = int(r["events"]), int(r["n"])
        return ("benefit" if e > 0 else "no_change"), f"{e}/{n} patients"
    cont = [r for r in g if pd.notna(r["mean"])]
    if cont:
        change = [r for r in cont if bool(r["is_change"])]
        if change:
            d = float(change[-1]["mean"])
            detail = f"mean change {d:g}"
        else:
            base = [r for r in cont if bool(r["is_baseline"])]
            post = [r for r in cont if not bool(r["is_baseline"])]
            if not base or not post:
                return text_direction(" ".join(str(r["verbatim"]) for r in g)), _short(g)
            # the last follow-up: largest parsed time point, unparsed ones first
            last = sorted(post, key=lambda r: _months(r["timepoint_months"]))[-1]
            b, p = base[0]["mean"], last["mean"]
            d = float(p - b)
            detail = f"{b:g} → {p:g}"
        if np.isclose(d, 0.0):
            return "no_change", detail
        good = d < 0 if key in LOWER_IS_BETTER else d > 0
        return ("benefit" if good else "harm"), detail
    return text_direction(" ".join(str(r["verbatim"]) for r in g)), _short(g)


def _months(t) -> float:
    return -1.0 if pd.isna(t) else float(t)


def _short(g: list[dict]) -> str:
    t = " | ".join(str(r["verbatim"]) for r in g if str(r["verbatim"]))
    return t if len(t) <= 160 else t[:157] + "…"
