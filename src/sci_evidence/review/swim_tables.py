"""Direction of each study's summary effect for outcomes synthesised without pooling.

The rule (SWiM item 4, Campbell et al. 2020, BMJ 368:l6890; effect direction categories of
Thomson & Thomas 2013, Res Synth Methods 4:95) is :data:`DIRECTION_RULE`, printed in the
report's methods and in ``results.json``. In short: a study counts by the direction of its
*summary* effect, never by one patient.

* Count outcomes (``events`` of ``n`` patients measured improved): in a controlled study the
  treated arm's share improved against the control arm's (higher → benefit, lower → harm,
  equal → no change); in a single arm, benefit when the patients who improved outnumber those
  who worsened (``<stem>_worsened`` rows where reported, else 0) *and* are at least half of
  those measured; harm when those who worsened outnumber those who improved and are at least
  half; no change when nobody improved or worsened; otherwise no clear effect (1 of 14 improved
  is no clear effect, 9 of 14 is benefit).
* Continuous outcomes: the mean change from baseline to the last follow-up (treated minus
  control where the control arm reports it); lower is better for residual urine, detrusor
  pressure, lesion size and walking time, higher otherwise; 0 is no change.
* A row with neither is read from its verbatim text (``improv``/``increas``/``recover`` →
  benefit, ``worse``/``deterior`` → harm, ``no change``/``unchanged``/``no improvement`` → no
  change), else unclear.

Each row also says how many patients the study measured (``measured``) and what was compared
(``comparison``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

LOWER_IS_BETTER = ("residual_urine", "detrusor_pressure", "mri_lesion_size", "walk_10m_time")

#: The share of the patients measured who must have improved (and outnumber those who
#: worsened) for a single-arm count outcome to count as benefit.
MIN_SHARE = 0.5

DIRECTION_RULE = (
    "Each study counts by the direction of its summary effect (SWiM, Campbell et al. 2020). "
    "Count outcomes: in a controlled study, benefit when the share of treated patients who "
    "improved exceeds the control arm's share, harm when it is lower, no change when equal; "
    "in a single arm, benefit when the patients who improved outnumber those who worsened and "
    f"are at least {MIN_SHARE:.0%} of the patients measured, harm when those who worsened "
    f"outnumber those who improved and are at least {MIN_SHARE:.0%}, no change when nobody "
    "improved or worsened, otherwise no clear effect. Continuous outcomes: the sign of the "
    "mean change from baseline to the last follow-up (treated minus control where a control "
    "arm reports it; lower is better for residual urine, detrusor pressure and lesion size). "
    "Otherwise the source's words. A study with several outcomes counts once, by the majority "
    "of its benefit and harm outcomes (a tie is no clear effect)."
)

COLUMNS = ["study_id", "label", "outcome", "direction", "measured", "comparison", "detail"]

_NO = re.compile(r"no (significant )?(change|improvement|difference)|unchanged|did not", re.I)
_BAD = re.compile(r"wors|deterior|declin", re.I)
_GOOD = re.compile(r"improv|increas|recover|restor|better|reinnervat|new signal", re.I)
_STEM = re.compile(r"_(improved|changed|worsened)$")


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


def count_direction(improved: int, n: int, worsened: int = 0) -> str:
    """Direction of a single arm's count outcome under :data:`DIRECTION_RULE`.

    ``improved`` and ``worsened`` of ``n`` patients measured: benefit when
    ``improved > worsened`` and ``improved >= MIN_SHARE * n``; harm when
    ``worsened > improved`` and ``worsened >= MIN_SHARE * n``; no change when both are 0;
    otherwise ``no_clear_effect``.
    """
    if n <= 0:
        return "unclear"
    if improved > worsened and improved >= MIN_SHARE * n:
        return "benefit"
    if worsened > improved and worsened >= MIN_SHARE * n:
        return "harm"
    if improved == 0 and worsened == 0:
        return "no_change"
    return "no_clear_effect"


def direction_rows(
    outcomes: pd.DataFrame, arms: pd.DataFrame, outcome_keys, labels
) -> pd.DataFrame:
    """One row per (study, outcome): ``study_id, label, outcome, direction, measured,
    comparison, detail`` under :data:`DIRECTION_RULE` (also in the frame's
    ``attrs["rule"]``, which :func:`~sci_evidence.review.synthesis.vote_count` carries)."""
    keys = set(outcome_keys)
    worse_keys = {_STEM.sub("", k) + "_worsened" for k in keys}
    o = outcomes[outcomes["outcome"].isin(keys | worse_keys)]
    role = dict(zip(arms["arm_id"], arms["role"], strict=True))
    # records grouped by (study, outcome) in order of first appearance, read once: one
    # pandas frame per group would cost more than the whole table
    groups: dict[tuple, dict[str, list[dict]]] = {}
    worse: dict[tuple, dict[str, list[dict]]] = {}
    for r in o.to_dict(orient="records"):
        if pd.isna(r["study_id"]) or pd.isna(r["outcome"]):
            continue
        arm_role = role.get(r["arm_id"], "")
        if arm_role not in ("treated", "control"):
            continue
        sink = groups if r["outcome"] in keys else worse
        key = (r["study_id"], _STEM.sub("", r["outcome"]) if sink is worse else r["outcome"])
        sink.setdefault(key, {}).setdefault(arm_role, []).append(r)
    recs = []
    for (sid, key), by_role in groups.items():
        if "treated" not in by_role:
            continue
        w = worse.get((sid, _STEM.sub("", key)), {})
        direction, detail, measured, comparison = _direction(by_role, w, key)
        recs.append(
            {
                "study_id": sid,
                "label": labels.get(sid, sid),
                "outcome": key,
                "direction": direction,
                "measured": measured,
                "comparison": comparison,
                "detail": detail,
            }
        )
    out = pd.DataFrame(recs, columns=COLUMNS)
    out["measured"] = pd.array(out["measured"], dtype="Int64")
    out.attrs["rule"] = DIRECTION_RULE
    return out


def _count(g: list[dict]) -> tuple[int, int] | None:
    """(events, n) of the last row with both, or None."""
    binary = [r for r in g if pd.notna(r.get("events")) and pd.notna(r.get("n"))]
    if not binary:
        return None
    r = binary[-1]
    return int(r["events"]), int(r["n"])


def _direction(by_role: dict, worse: dict, key: str) -> tuple[str, str, int | None, str]:
    """(direction, detail, patients measured, comparison) of one study's outcome."""
    g = by_role["treated"]
    ctrl = by_role.get("control", [])
    treated = _count(g)
    if treated is not None:
        e, n = treated
        control = _count(ctrl)
        if control is not None and control[1] > 0 and n > 0:
            ce, cn = control
            diff = e / n - ce / cn
            direction = (
                "no_change" if np.isclose(diff, 0.0) else ("benefit" if diff > 0 else "harm")
            )
            detail = f"{e}/{n} treated vs {ce}/{cn} control patients"
            return direction, detail, n + cn, "treated vs control"
        w = _count(worse.get("treated", []))
        wn = w[0] if w is not None else 0
        detail = f"{e}/{n} patients" + (f", {wn}/{n} worsened" if w is not None else "")
        return count_direction(e, n, wn), detail, n, "treated arm"
    change = _mean_change(g, key)
    if change is not None:
        d, detail, n = change
        comparison = "treated arm, before vs after"
        c = _mean_change(ctrl, key) if ctrl else None
        if c is not None:
            d, detail = d - c[0], f"treated {detail} vs control {c[1]}"
            n = None if n is None or c[2] is None else n + c[2]
            comparison = "treated vs control, change from baseline"
        if np.isclose(d, 0.0):
            return "no_change", detail, n, comparison
        good = d < 0 if key in LOWER_IS_BETTER else d > 0
        return ("benefit" if good else "harm"), detail, n, comparison
    n = _measured(g)
    return text_direction(" ".join(str(r["verbatim"]) for r in g)), _short(g), n, "source's words"


def _measured(g: list[dict]) -> int | None:
    ns = [int(r["n"]) for r in g if pd.notna(r.get("n"))]
    return max(ns) if ns else None


def _mean_change(g: list[dict], key: str) -> tuple[float, str, int | None] | None:
    """(mean change, detail, n) of an arm's continuous rows, or None."""
    cont = [r for r in g if pd.notna(r.get("mean"))]
    if not cont:
        return None
    change = [r for r in cont if bool(r["is_change"])]
    if change:
        d = float(change[-1]["mean"])
        n = change[-1].get("n")
        return d, f"mean change {d:g}", None if pd.isna(n) else int(n)
    base = [r for r in cont if bool(r["is_baseline"])]
    post = [r for r in cont if not bool(r["is_baseline"])]
    if not base or not post:
        return None
    # the last follow-up: largest parsed time point, unparsed ones first
    last = sorted(post, key=lambda r: _months(r["timepoint_months"]))[-1]
    b, p = base[0]["mean"], last["mean"]
    n = last.get("n")
    return float(p - b), f"{b:g} → {p:g}", None if pd.isna(n) else int(n)


def _months(t) -> float:
    return -1.0 if pd.isna(t) else float(t)


def _short(g: list[dict]) -> str:
    t = " | ".join(str(r["verbatim"]) for r in g if str(r["verbatim"]))
    return t if len(t) <= 160 else t[:157] + "…"
