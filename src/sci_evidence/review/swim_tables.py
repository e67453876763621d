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
    role = arms.set_index("arm_id")["role"]
    o = o[[role.get(a, "") == "treated" for a in o["arm_id"]]] if len(o) else o
    recs = []
    for (sid, key), g in o.groupby(["study_id", "outcome"], sort=False):
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


def _direction(g: pd.DataFrame, key: str) -> tuple[str, str]:
    binary = g[g["events"].notna() & g["n"].notna()]
    if len(binary):
        r = binary.iloc[-1]
        e, n = int(r["events"]), int(r["n"])
        return ("benefit" if e > 0 else "no_change"), f"{e}/{n} patients"
    cont = g[g["mean"].notna()]
    if len(cont):
        change = cont[cont["is_change"].astype(bool)]
        if len(change):
            d = float(change["mean"].iloc[-1])
            detail = f"mean change {d:g}"
        else:
            base = cont[cont["is_baseline"].astype(bool)]
            post = cont[~cont["is_baseline"].astype(bool)]
            if base.empty or post.empty:
                return text_direction(" ".join(g["verbatim"].astype(str))), _short(g)
            post = post.assign(_t=post["timepoint_months"].fillna(-1)).sort_values("_t")
            d = float(post["mean"].iloc[-1] - base["mean"].iloc[0])
            detail = f"{base['mean'].iloc[0]:g} → {post['mean'].iloc[-1]:g}"
        if np.isclose(d, 0.0):
            return "no_change", detail
        good = d < 0 if key in LOWER_IS_BETTER else d > 0
        return ("benefit" if good else "harm"), detail
    return text_direction(" ".join(g["verbatim"].astype(str))), _short(g)


def _short(g: pd.DataFrame) -> str:
    t = " | ".join(str(v) for v in g["verbatim"] if str(v))
    return t if len(t) <= 160 else t[:157] + "…"
