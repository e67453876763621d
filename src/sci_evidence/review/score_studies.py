"""A score analysis with fewer studies than it needs to pool: each study on its own and a
sentence, generated from the numbers, that says what they show.

The analysis names each study that reports the outcome (for the motor total, also both of
its parts: :func:`sci_evidence.review.scores.with_components`), gives its estimate with a 95%
CI (normal approximation, as the forest plots) where its numbers allow one, and says in words
why the others cannot be weighted (excluded by rule, number of patients not reported, one
patient, no SD, no control group, flags of the evidence base).
"""

from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from sci_evidence import meta
from sci_evidence.review.scores import CHANGE_CORRELATIONS, SCALES, number, with_components

INDIVIDUAL_COLUMNS = (
    "study_id",
    "label",
    "n",
    "estimate",
    "ci_lb",
    "ci_ub",
    "timepoint",
    "data",
    "converted",
    "status",
)


def _ci(yi: float, vi: float, level: float) -> tuple[float, float]:
    z = float(stats.norm.ppf(0.5 + level / 2))
    h = z * math.sqrt(vi)
    return yi - h, yi + h


def _n_text(r: dict) -> int | str | None:
    if "n1i" in r and number(r.get("n1i")) is not None:
        return f"{int(r['n1i'])} vs {int(r['n2i'])}"
    n = number(r.get("ni"))
    return None if n is None else int(n)


def _used_rows(rows: pd.DataFrame, status: str, level: float, spec) -> list[dict]:
    out = []
    for r in rows.to_dict(orient="records"):
        lo, hi = _ci(float(r["yi"]), float(r["vi"]), level)
        data = str(r.get("kind", ""))
        if data == "pre-post":
            data = f"change SD from baseline and follow-up SDs, r = {spec.ri:g}"
        elif data == "change":
            data = "change reported"
        elif data == "follow-up":
            data = "follow-up means"
        out.append(
            {
                "study_id": r["study_id"],
                "label": r["label"],
                "n": _n_text(r),
                "estimate": float(r["yi"]),
                "ci_lb": lo,
                "ci_ub": hi,
                "timepoint": r.get("timepoint", ""),
                "data": data,
                "converted": str(r.get("converted") or ""),
                "status": status,
                "_rows": r,
            }
        )
    return out


def _raw_change(g: pd.DataFrame, controlled: bool, role: dict) -> tuple[float | None, str]:
    """A study's reported change (or difference) without a usable variance, for display."""
    if controlled:
        t = g[[role.get(a) == "treated" for a in g["arm_id"]] & g["mean"].notna().to_numpy()]
        c = g[[role.get(a) == "control" for a in g["arm_id"]] & g["mean"].notna().to_numpy()]
        t, c = t[~t["is_baseline"].astype(bool)], c[~c["is_baseline"].astype(bool)]
        if len(t) and len(c):
            tt, cc = t.iloc[-1], c.iloc[-1]
            return float(tt["mean"]) - float(cc["mean"]), str(tt["timepoint"])
        return None, ""
    g = g[[role.get(a) == "treated" for a in g["arm_id"]] & g["mean"].notna().to_numpy()]
    ch = g[g["is_change"].astype(bool)]
    if len(ch):
        last = ch.assign(_t=ch["timepoint_months"].fillna(-1.0)).sort_values("_t").iloc[-1]
        return float(last["mean"]), str(last["timepoint"])
    base = g[g["is_baseline"].astype(bool)]
    post = g[~g["is_baseline"].astype(bool) & ~g["is_change"].astype(bool)]
    if len(base) and len(post):
        last = post.assign(_t=post["timepoint_months"].fillna(-1.0)).sort_values("_t").iloc[-1]
        return float(last["mean"]) - float(base.iloc[0]["mean"]), str(last["timepoint"])
    return None, ""


def _why_unweighted(
    g: pd.DataFrame, arms_n: dict, role: dict, controlled: bool, ruled_out: set[str]
) -> list[str]:
    """Plain reasons why a study's score rows give no effect size with a variance
    (``ruled_out``: flags already named as the exclusion rule)."""
    why = []
    if controlled and not any(role.get(a) == "control" for a in g["arm_id"]):
        why.append("no control group reports this outcome")
    whole = g[g["subgroup"].fillna("") == ""]
    flags = {f for s in g["flags"].fillna("") for f in str(s).split(";") if f}
    if whole.empty:
        subs = sorted(set(g["subgroup"].fillna("")))
        why.append(f"reported only for a subgroup ({'; '.join(subs)})")
    rows = whole if len(whole) else g
    ns = [number(x) for x in rows["n"]]
    known = [x for x in ns if x is not None]
    # the arm's n stands for whole-arm rows only (a subgroup's size is its own)
    arm_n = len(whole) and any(number(arms_n.get(a)) for a in rows["arm_id"])
    if not known and not arm_n:
        why.append("number of patients not reported, so it cannot be weighted")
    elif known and max(known) < 2:
        why.append("one patient: no variance, so it cannot be weighted")
    if rows["sd"].isna().all() and rows["median"].isna().all():
        why.append("no SD (nor a median with IQR or range)")
    rest = sorted(flags - {"subgroup_n_missing"} - ruled_out)
    if rest:
        why.append("flagged " + ", ".join(f.replace("_", " ") for f in rest))
    return why or ["the numbers the measure needs are missing"]


def individual_studies(
    evidence,
    spec,
    protocol,
    sel,
    usable: pd.DataFrame,
    relaxed: pd.DataFrame | None,
    exclusions: pd.DataFrame,
) -> pd.DataFrame:
    """One row per study that reports the analysis's outcome (or, for the motor total, both
    of its parts): its estimate with a 95% CI where its numbers allow one, patients, what
    the numbers rest on (``data``, ``converted``) and ``status``: ``in the analysis`` (usable),
    ``excluded by rule: …`` (the protocol's inclusion rules; estimate from ``relaxed``, the
    rows under relaxed rules; ``exclusions`` are the protocol's study exclusions,
    :func:`~sci_evidence.review.select.study_exclusions`) or ``not weighted: …`` (why no
    variance can be had).

    Columns :data:`INDIVIDUAL_COLUMNS`; ``estimate`` is on the scale of the measure (points).
    """
    level = protocol.level
    recs = _used_rows(usable, "in the analysis", level, spec)
    seen = {r["study_id"] for r in recs}
    reasons = dict(zip(sel.excluded["study_id"], sel.excluded["reason"], strict=True))
    all_excl = exclusions
    reasons.update(
        {
            s: x
            for s, x in zip(all_excl["study_id"], all_excl["reason"], strict=True)
            if s not in reasons
        }
    )
    if relaxed is not None and len(relaxed):
        extra = relaxed[~relaxed["study_id"].isin(seen) & relaxed["study_id"].isin(set(reasons))]
        for r in _used_rows(extra, "", level, spec):
            r["status"] = f"excluded by rule: {_rule_text(reasons[r['study_id']])}"
            recs.append(r)
            seen.add(r["study_id"])
    o = with_components(evidence.outcomes, spec.outcome)
    o = o[(o["outcome"] == spec.outcome) & ~o["study_id"].isin(seen)]
    o = o[[("responders_only" not in str(f)) for f in o["flags"].fillna("")]] if len(o) else o
    role = dict(zip(evidence.arms["arm_id"], evidence.arms["role"], strict=True))
    arms_n = dict(zip(evidence.arms["arm_id"], evidence.arms["n"], strict=True))
    labels = dict(
        zip(
            evidence.studies["study_id"],
            evidence.studies.get("label", evidence.studies["study_id"]),
            strict=True,
        )
    )
    controlled = spec.design == "controlled"
    for sid, g in o.groupby("study_id", sort=False):
        est, tp = _raw_change(g, controlled, role)
        ns = [number(x) for x in g["n"]]
        known = [int(x) for x in ns if x is not None]
        ruled = set(reasons.get(sid, "").split(";")) - {""}
        why = _why_unweighted(g, arms_n, role, controlled, ruled)
        status = "not weighted: " + "; ".join(why)
        if ruled:
            status = f"excluded by rule: {_rule_text(reasons[sid])}; " + "; ".join(why)
        lab = labels.get(sid)
        recs.append(
            {
                "study_id": sid,
                "label": str(lab) if lab and pd.notna(lab) else sid,
                "n": max(known) if known else None,
                "estimate": est,
                "ci_lb": None,
                "ci_ub": None,
                "timepoint": tp,
                "data": "derived: " + str(g["derived"].dropna().iloc[0])
                if "derived" in g.columns and g["derived"].notna().any()
                else "",
                "converted": "",
                "status": status,
                "_rows": None,
            }
        )
    if "source_tier" in evidence.outcomes.columns:
        o_all = evidence.outcomes
        tiers = dict(zip(o_all["outcome_id"], o_all["source_tier"], strict=True))
        for r in recs:
            if r["_rows"] is None:
                continue
            ids = [i for i in str(r["_rows"].get("outcome_ids", "")).split(";") if i]
            # what primary_sources_only leaves out is said here (Liu 2013 rests on a review)
            other = {str(tiers.get(i) or "") for i in ids} - {"primary"}
            if other:
                what = (
                    f"values from a {other.pop().replace('_', '-')} source"
                    if len(other) == 1 and "" not in other
                    else "values whose source is not recorded as primary"
                )
                r["data"] += ("; " if r["data"] else "") + what
    df = pd.DataFrame(recs, columns=[*INDIVIDUAL_COLUMNS, "_rows"], dtype=object)
    for c in ("estimate", "ci_lb", "ci_ub"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    df.attrs["change_ci"] = {
        r["study_id"]: _correlation_cis(r["_rows"], spec, level)
        for r in recs
        if r["_rows"] is not None and r["_rows"].get("kind") == "pre-post"
    }
    return df.drop(columns=["_rows"])


def _rule_text(reason: str) -> str:
    return ", ".join(x.replace("_", " ").replace(":", " ") for x in reason.split(";") if x)


def _correlation_cis(row: dict, spec, level: float) -> dict[float, tuple[float, float]]:
    """A pre/post row's CI at each correlation of :data:`CHANGE_CORRELATIONS`."""
    out = {}
    for r in CHANGE_CORRELATIONS:
        sd = meta.sd_change(float(row["sd2i"]), float(row["sd1i"]), r)
        out[r] = _ci(float(row["yi"]), sd * sd / float(row["ni"]), level)
    return out


def _signed(v: float) -> str:
    return f"{v:+.1f}".replace("-", "−")


def _pts(lo: float, hi: float, level: float) -> str:
    return f"{int(round(100 * level))}% CI {_signed(lo)} to {_signed(hi)}"


def _patients(n) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "patients not reported"
    if isinstance(n, str):
        return f"{n} patients"
    return f"{int(n)} patient{'' if int(n) == 1 else 's'}"


def estimate_label(spec) -> str:
    """What the estimates of :func:`individual_studies` are, with their scale."""
    _, rng = SCALES.get(spec.outcome, ("", ""))
    what = "Mean difference, MSC − control" if spec.design == "controlled" else "Mean change"
    return f"{what} (points{', ' + rng + ' scale' if rng else ''})"


def one_study_effect(spec, level: float, individual: pd.DataFrame | None) -> str | None:
    """The one study an analysis could use, in words: ``"Liu 2013, 22 patients: mean change
    +3.4 points (95% CI −6.3 to +13.1) on the 0–100 scale"``; None unless exactly one study
    of ``individual`` (:func:`individual_studies`) is in the analysis with an estimate."""
    if individual is None or individual.empty:
        return None
    used = individual[individual["status"] == "in the analysis"]
    if len(used) != 1 or pd.isna(used["estimate"].iloc[0]):
        return None
    r = used.iloc[0]
    _, rng = SCALES.get(spec.outcome, ("", ""))
    what = "mean difference (MSC − control)" if spec.design == "controlled" else "mean change"
    text = f"{r['label']}, {_patients(r['n'])}: {what} {_signed(r['estimate'])} points"
    if pd.notna(r["ci_lb"]):
        text += f" ({_pts(r['ci_lb'], r['ci_ub'], level)})"
    return text + (f" on the {rng} scale" if rng else "")


def statement(spec, protocol, individual: pd.DataFrame) -> str:
    """What a not-pooled score analysis shows, in words generated from ``individual``
    (:func:`individual_studies`): how many studies give usable numbers, each one's estimate
    with its CI and scale, and why the others are not weighted."""
    name, rng = SCALES.get(spec.outcome, (spec.outcome.replace("_", " "), ""))
    scale = f" on the {rng} scale" if rng else ""
    what = "mean difference (MSC − control)" if spec.design == "controlled" else "mean change"
    used = individual[individual["status"] == "in the analysis"]
    level = protocol.level
    cis = individual.attrs.get("change_ci", {})
    parts = []
    if individual.empty:
        return f"No study reports the {name}."

    def effect(r: dict) -> str:
        if pd.isna(r["estimate"]):
            return ""
        text = f"{what} {_signed(r['estimate'])} points"
        if pd.notna(r["ci_lb"]):
            text += f" ({_pts(r['ci_lb'], r['ci_ub'], level)}){scale}"
        if r["timepoint"]:
            text += f" at {r['timepoint']}"
        return text

    if len(used) == 0:
        parts.append(f"No study gives the numbers needed to pool the {name}.")
    else:
        recs = used.to_dict(orient="records")
        one = len(recs) == 1
        if spec.design == "controlled":
            verb = "compares MSC with control on" if one else "compare MSC with control on"
        else:
            verb = "reports" if one else "report"
        who = "; ".join(f"{r['label']}, {_patients(r['n'])}" for r in recs)
        head = "Only one study" if len(recs) == 1 else f"Only {len(recs)} studies"
        items = []
        for r in recs:
            text = effect(r) if len(recs) == 1 else f"{r['label']}: {effect(r)}"
            if r["converted"]:
                text += f" ({r['converted']})"
            src = [x for x in r["data"].split("; ") if x.startswith("values ")]
            if src:
                text += f" ({src[0]})"
            if r["study_id"] in cis:
                c = cis[r["study_id"]]
                lo_r, hi_r = min(c), max(c)
                text += (
                    f"; its change SD rests on an assumed baseline–follow-up correlation "
                    f"r = {spec.ri:g} (r = {lo_r:g}: {_pts(*c[lo_r], level)}; "
                    f"r = {hi_r:g}: {_pts(*c[hi_r], level)})"
                )
            items.append(text)
        parts.append(
            f"{head} ({who}) {verb} the {name} with the numbers a meta-analysis needs: "
            + "; ".join(items)
            + "."
        )
    for r in individual[individual["status"] != "in the analysis"].to_dict(orient="records"):
        est = effect(r)
        parts.append(
            f"{r['label']} ({_patients(r['n'])}){': ' + est if est else ''}; {r['status']}."
        )
    return " ".join(parts)
