"""ASIA motor, light touch and pin prick scores: the numbers behind a score analysis, the
correlation sensitivity of change scores, and what the review says when fewer than two
studies can be pooled.

Rules (stated in the report's methods):

* **Reported or converted** — an arm's mean and SD are taken as reported; otherwise a median
  with its interquartile range and/or range (``q1``/``q3``; ``min``/``max`` where the
  evidence has such columns) is converted with :func:`sci_evidence.meta.fivenum_to_mean_sd`
  (default Luo et al. 2018 mean, Wan et al. 2014 / Shi et al. 2020 SD; metafor
  ``conv.fivenum``), and the row is marked "converted" with the method.
* **Motor total from its parts** — an arm without a motor total whose upper- and
  lower-extremity motor scores (UEMS, LEMS) are both reported at the same time point gets
  ``motor_total = UEMS + LEMS``; the SD of the sum is ``sd_U + sd_L`` (correlation 1
  between the parts: the largest SD the two allow, a conservative choice) and is marked.
* **SD from a CI** — a reported mean (change) with its 95% CI and n, without an SD:
  ``SD = √n·(upper − lower)/(2·t)`` (Cochrane Handbook §6.5.2.3; :func:`sd_from_ci`).
* **Change SD** — from baseline and follow-up SDs, ``sd_change = √(sd₁² + sd₂² − 2·r·sd₁·sd₂)``
  (Cochrane Handbook §6.5.2.8) with the protocol's ``ri`` (default 0.5); the sensitivity
  analysis ``change_correlation`` refits with r = 0.2, 0.5 and 0.8.
* **Fewer than two studies** — the analysis names each study that reports the outcome,
  gives its estimate with a 95% CI (normal approximation, as the forest plots) where its
  numbers allow one, and says in words why the others cannot be weighted.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from sci_evidence import meta
from sci_evidence.errors import InputError

#: The correlations of the change-score sensitivity analysis (Cochrane Handbook §6.5.2.8).
CHANGE_CORRELATIONS = (0.2, 0.5, 0.8)

#: Outcome → (name a reader knows, range of the scale). International Standards for
#: Neurological Classification of SCI: motor 0–100 (UEMS and LEMS 0–50 each), light touch
#: and pin prick 0–112 each; "sensory_total" is light touch + pin prick, 0–224.
SCALES = {
    "motor_total": ("ASIA motor score", "0–100"),
    "uems": ("upper-extremity motor score", "0–50"),
    "lems": ("lower-extremity motor score", "0–50"),
    "lt_total": ("ASIA light touch score", "0–112"),
    "pp_total": ("ASIA pin prick score", "0–112"),
    "sensory_total": ("ASIA sensory score (light touch + pin prick)", "0–224"),
}

#: A total that may be built from its parts when the total itself is not reported.
COMPONENTS = {"motor_total": ("uems", "lems")}

_KEY = ("study_id", "arm_id", "subgroup", "timepoint_months", "is_baseline", "is_change")


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def summary(r: dict, n: float | None = None) -> tuple[float, float, str] | None:
    """``(mean, sd, how)`` of one outcome record, or None when neither is available.

    ``how`` is ``""`` for a reported mean and SD (or the derivation note of a derived
    row); a mean with its 95% CI (``ci_lb``, ``ci_ub`` where an evidence set carries them)
    gives the SD by :func:`sd_from_ci`; else ``"converted from median and IQR (luo-wan)"``
    and the like: the median with ``q1``/``q3`` and/or ``min``/``max`` converted by
    :func:`meta.fivenum_to_mean_sd` (needs ``n`` ≥ 3: the record's own or the one given).

    Raises
    ------
    InputError
        A summary the conversion refuses (values out of order), naming the outcome row.
    """
    mean, sd = _num(r.get("mean")), _num(r.get("sd"))
    if mean is not None and sd is not None:
        d = r.get("derived")
        return mean, sd, "" if d is None or pd.isna(d) else f"derived: {d}"
    nn = _num(r.get("n"))
    nn = nn if nn is not None else n
    lo, hi = _num(r.get("ci_lb")), _num(r.get("ci_ub"))
    if mean is not None and lo is not None and hi is not None and nn is not None and nn >= 2:
        return mean, sd_from_ci(lo, hi, nn), "SD from the 95% CI of the mean (Cochrane 6.5.2.3)"
    med = _num(r.get("median"))
    if med is None or nn is None or nn < 3:
        return None
    q = {k: _num(r.get(k)) for k in ("min", "q1", "q3", "max")}
    iqr = q["q1"] is not None and q["q3"] is not None
    rng = q["min"] is not None and q["max"] is not None
    if not (iqr or rng):
        return None
    try:
        est = meta.fivenum_to_mean_sd(
            min=q["min"] if rng else None,
            q1=q["q1"] if iqr else None,
            median=med,
            q3=q["q3"] if iqr else None,
            max=q["max"] if rng else None,
            n=nn,
        )
    except InputError as e:
        raise InputError(f"outcome row {r.get('outcome_id')}: {e}") from e
    what = "IQR and range" if iqr and rng else ("IQR" if iqr else "range")
    return est.mean, est.sd, f"converted from median and {what} ({est.method})"


def sd_from_ci(lower: float, upper: float, n: float) -> float:
    """SD of a mean (or mean change) from its 95% confidence interval.

    ``SD = √n · (upper − lower) / (2·q)`` with ``q`` the 97.5% quantile of Student's t on
    n − 1 degrees of freedom for n < 60 and of the normal distribution (1.96) otherwise
    (Cochrane Handbook for Systematic Reviews of Interventions v6.4, §6.5.2.2–6.5.2.3).
    """
    if upper < lower:
        raise InputError(f"CI upper bound {upper:g} is below its lower bound {lower:g}")
    q = stats.t.ppf(0.975, n - 1) if n < 60 else stats.norm.ppf(0.975)
    return math.sqrt(n) * (upper - lower) / (2.0 * float(q))


def with_components(outcomes: pd.DataFrame, outcome: str) -> pd.DataFrame:
    """The rows of ``outcome``, plus rows summed from its parts (:data:`COMPONENTS`) for
    arms that report no ``outcome`` row: one per time point where every part has a mean
    (SD of the sum ``Σ sd`` when every part has one; n the smallest of the parts')."""
    parts = COMPONENTS.get(outcome, ())
    # filter first: the whole outcomes frame is large and copying it per analysis is slow
    o = outcomes[outcomes["outcome"] == outcome]
    if not parts:
        return o
    have = set(o["arm_id"])
    sub = outcomes[outcomes["outcome"].isin(parts) & ~outcomes["arm_id"].isin(have)]
    sub = sub[sub["mean"].notna()]
    if sub.empty:
        return o
    groups: dict[tuple, dict[str, dict]] = {}
    for r in sub.to_dict(orient="records"):
        key = tuple(
            ("" if pd.isna(r[c]) else r[c]) if c in ("subgroup", "timepoint_months") else r[c]
            for c in _KEY
        )
        groups.setdefault(key, {})[r["outcome"]] = r
    new = []
    for got in groups.values():
        if set(got) != set(parts):
            continue  # "only when both are given"
        first = got[parts[0]]
        sds = [_num(got[p]["sd"]) for p in parts]
        ns = [_num(got[p]["n"]) for p in parts]
        row = dict(first)
        row.update(
            outcome_id=";".join(str(got[p]["outcome_id"]) for p in parts),
            outcome=outcome,
            mean=sum(float(got[p]["mean"]) for p in parts),
            sd=sum(sds) if all(s is not None for s in sds) else np.nan,
            n=min(ns) if all(x is not None for x in ns) else pd.NA,
            median=np.nan,
            q1=np.nan,
            q3=np.nan,
            flags=";".join(
                sorted({f for p in parts for f in str(got[p]["flags"] or "").split(";") if f})
            ),
            derived=" + ".join(p.upper() for p in parts)
            + " (SD of the sum at correlation 1 between the parts, conservative)",
        )
        new.append(row)
    if not new:
        return o
    return pd.concat([o, pd.DataFrame(new)], ignore_index=True)


def correlation_fits(rows: pd.DataFrame, spec, fit) -> dict:
    """The change-correlation sensitivity analysis: the main model refitted with the change
    SD of every pre/post row computed at r = 0.2, 0.5 and 0.8 (:data:`CHANGE_CORRELATIONS`).

    ``fit(spec_at_r, r) -> Fit`` recomputes the effect sizes and refits. Returns
    ``{"change_correlation_r=0.2": Fit, …}``, or
    ``{"change_correlation": why}`` when no row has its change SD computed from baseline
    and follow-up SDs (nothing would change).
    """
    kind = rows["kind"] if "kind" in rows.columns else pd.Series("", index=rows.index)
    if not (kind == "pre-post").any():
        return {
            "change_correlation": "not run: every study reports its change SD "
            "(none was computed from baseline and follow-up SDs)"
        }
    out = {}
    for r in CHANGE_CORRELATIONS:
        s = replace(spec, ri=r)
        out[f"change_correlation_r={r:g}"] = fit(s, r)
    return out


# ---- fewer than two studies: each study on its own, and a sentence -------------------------

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
    if "n1i" in r and _num(r.get("n1i")) is not None:
        return f"{int(r['n1i'])} vs {int(r['n2i'])}"
    n = _num(r.get("ni"))
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
    ns = [_num(x) for x in rows["n"]]
    known = [x for x in ns if x is not None]
    # the arm's n stands for whole-arm rows only (a subgroup's size is its own)
    arm_n = len(whole) and any(_num(arms_n.get(a)) for a in rows["arm_id"])
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
        ns = [_num(x) for x in g["n"]]
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
