"""From the evidence base to the input rows of one analysis.

Rules (stated in the report's methods):

* **Inclusion by flag** — with ``culture_expanded_msc_only`` a study flagged
  ``not_culture_expanded_msc`` is excluded; with ``exclude_combination_products`` one
  flagged ``combination_product`` or ``scaffold``. Every excluded study is listed with its
  flag.
* **Possible duplicates** — with ``exclude_possible_duplicates`` (default) a study whose
  ``duplicate_of`` names another study of the base is excluded (reason
  ``possible_duplicate_of:<id>``); the study it may duplicate stays.
* **Rows** — treated arms (``role == "treated"``), whole-arm rows (``subgroup == ""``).
  Outcome rows flagged ``not_ais_grade`` or ``responders_only`` never enter a pooled
  analysis (they do not measure what the analysis pools).
* **Time point** — the last reported follow-up of each arm (largest ``timepoint_months``;
  rows with an unparsed time point come after the parsed ones).
* **One row per arm**; a study with several treated arms contributes each (independent
  patients), labelled "Author Year (arm)". A controlled analysis pairs each study's first
  treated arm with its first control arm.
* **Dose** for meta-regression: ``log10`` of cells per administration; ``cells/kg`` are
  converted at an assumed 70 kg body weight (an assumption, stated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sci_evidence.review.protocol import AnalysisSpec, InclusionRules
from sci_evidence.review.scores import summary, with_components

EXCLUDED_OUTCOME_FLAGS = ("not_ais_grade", "responders_only")
ASSUMED_BODY_WEIGHT_KG = 70.0


@dataclass(frozen=True)
class Selection:
    """Input rows of one analysis and what was left out.

    ``rows`` has one row per study arm with ``study_id, arm_id, label, year`` and the raw
    numbers of the measure (``xi, ni`` / ``ai, n1i, ci, n2i`` / ``m1i, m2i, sd1i, sd2i,
    ni`` / ``mi, sdi, ni`` …), plus the study characteristics used by subgroups and
    moderators. ``excluded`` lists ``study_id, reason``.
    """

    rows: pd.DataFrame
    excluded: pd.DataFrame


def _flags(s: str) -> set[str]:
    return {f for f in str(s or "").split(";") if f}


def excluded_flags(rules: InclusionRules) -> set[str]:
    """Study flags that exclude a study under ``rules``."""
    out = set()
    if rules.culture_expanded_msc_only:
        out.add("not_culture_expanded_msc")
    if rules.exclude_combination_products:
        out |= {"combination_product", "scaffold"}
    return out


DUPLICATE_REASON = "possible_duplicate_of:"


def study_exclusions(studies: pd.DataFrame, rules: InclusionRules) -> pd.DataFrame:
    """Studies excluded by the protocol's inclusion rules, with the flag (or
    ``possible_duplicate_of:<id>``) that excluded them."""
    bad = excluded_flags(rules)
    n = len(studies)
    flags = studies["flags"] if "flags" in studies.columns else [""] * n
    dup = studies["duplicate_of"] if "duplicate_of" in studies.columns else [""] * n
    known = set(studies["study_id"])
    rows = []
    for sid, f, d in zip(studies["study_id"], flags, dup, strict=True):
        hit = sorted(_flags(f) & bad)
        d = "" if pd.isna(d) else str(d).strip()
        if rules.exclude_possible_duplicates and d and d in known and d != sid:
            hit.append(f"{DUPLICATE_REASON}{d}")
        if hit:
            rows.append({"study_id": sid, "reason": ";".join(hit)})
    return pd.DataFrame(rows, columns=["study_id", "reason"])


def study_labels(studies: pd.DataFrame) -> dict[str, str]:
    """study_id → "Author Year" (a letter appended when two studies share a label); the
    stored ``label`` column where the evidence base has one."""
    base = {}
    cols = [c for c in ("study_id", "first_author", "year") if c in studies.columns]
    for s in studies[cols].to_dict(orient="records"):
        author = str(s.get("first_author") or s["study_id"]).strip()
        parts = author.split()
        # "Cheng H" -> "Cheng": initials after the surname are dropped, as forest plots cite
        if len(parts) > 1 and parts[-1].isupper() and len(parts[-1]) <= 3:
            author = " ".join(parts[:-1])
        year = s.get("year")
        has_year = pd.notna(year) and str(int(year)) in author
        base[s["study_id"]] = f"{author} {int(year)}" if pd.notna(year) and not has_year else author
    counts: dict[str, int] = {}
    for v in base.values():
        counts[v] = counts.get(v, 0) + 1
    taken = {v for v, c in counts.items() if c == 1}
    seen: dict[str, int] = {}
    out = {}
    for sid, v in base.items():
        if counts[v] == 1:
            out[sid] = v
            continue
        # a, b, …, z, aa, ab, …: as many as needed, never a label another study already has
        while True:
            seen[v] = seen.get(v, 0) + 1
            label = f"{v}{letter_suffix(seen[v])}"
            if label not in taken:
                break
        taken.add(label)
        out[sid] = label
    # The evidence base stores the label a person reads (evidence schema 0003): it wins.
    if "label" in studies.columns:
        stored = zip(studies["study_id"], studies["label"], strict=True)
        out.update({s: str(lab).strip() for s, lab in stored if pd.notna(lab) and str(lab).strip()})
    return out


def letter_suffix(i: int) -> str:
    """1 → ``a``, 26 → ``z``, 27 → ``aa``, 28 → ``ab``… (bijective base 26)."""
    if i < 1:
        raise ValueError("suffixes start at 1")
    letters = ""
    while i:
        i, r = divmod(i - 1, 26)
        letters = chr(ord("a") + r) + letters
    return letters


def baseline_group(arm: pd.Series) -> str:
    """``A`` when every patient is AIS A, ``B–D`` when none is, ``mixed`` or ``unknown``."""
    counts = [arm.get(c) for c in ("ais_a", "ais_b", "ais_c", "ais_d")]
    known = [int(c) for c in counts if pd.notna(c)]
    n = arm.get("n")
    a = counts[0]
    if pd.notna(a) and pd.notna(n) and int(a) == int(n) and int(n) > 0:
        return "A"
    if pd.notna(a) and int(a) == 0 and sum(known) > 0:
        return "B–D"
    if pd.notna(a) and int(a) > 0:
        return "mixed"
    return "unknown"


def log_dose(arm: pd.Series) -> float:
    """log10 cells per administration (cells/kg at 70 kg); NaN when unknown."""
    d = arm.get("dose_cells")
    if d is None or pd.isna(d) or d <= 0:
        return float("nan")
    unit = arm.get("dose_unit", "")
    if unit == "cells/kg":
        return float(np.log10(d * ASSUMED_BODY_WEIGHT_KG))
    if unit == "cells":
        return float(np.log10(d))
    return float("nan")


def characteristics(arm: pd.Series, study: pd.Series) -> dict:
    """Subgroup and moderator variables of a treated arm."""
    controlled = study.get("controlled")
    return {
        "baseline_group": baseline_group(arm),
        "route": arm.get("route_group") or "unknown",
        "cell_source": arm.get("cell_source") or "unknown",
        "injury_phase": arm.get("injury_phase") or "unknown",
        "auto_allo": arm.get("auto_allo") or "unknown",
        "controlled": "controlled" if (pd.notna(controlled) and bool(controlled)) else "single-arm",
        "injury_level": arm.get("level_group") or "unknown",
        "log_dose": log_dose(arm),
        "n_administrations": float(arm["n_administrations"])
        if pd.notna(arm.get("n_administrations"))
        else float("nan"),
        "design": study.get("design", ""),
        "randomised": study.get("design", "") == "rct",
        "flags": study.get("flags", ""),
        "level_group": arm.get("level_group") or "unknown",
        "time_since_injury_months": arm.get("time_since_injury_months"),
        "follow_up_months": arm.get("follow_up_months"),
        "grade_counts": {
            g: int(arm[c]) if pd.notna(arm.get(c)) else 0
            for g, c in zip("ABCD", ("ais_a", "ais_b", "ais_c", "ais_d"), strict=True)
        },
    }


def _last_timepoint(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: the last follow-up (parsed time points first, then file order)."""
    r = rows.assign(_t=rows["timepoint_months"].fillna(-1.0), _i=np.arange(len(rows)))
    r = r.sort_values(["arm_id", "_t", "_i"], kind="stable")
    return r.groupby("arm_id", sort=False).tail(1).drop(columns=["_t", "_i"])


def _last(items: list[tuple[int, dict]]) -> dict:
    """The record of the last follow-up among ``(position, record)`` pairs of one arm: the
    largest parsed time point (unparsed ones count as before all), then the later row."""

    def key(item):
        t = item[1]["timepoint_months"]
        return (-1.0 if pd.isna(t) else float(t), item[0])

    return max(items, key=key)[1]


def _known(r: dict, *cols: str) -> bool:
    return all(pd.notna(r[c]) for c in cols)


def _usable(outcomes: pd.DataFrame, outcome: str) -> pd.DataFrame:
    o = outcomes[(outcomes["outcome"] == outcome) & (outcomes["subgroup"].fillna("") == "")]
    keep = [not (_flags(f) & set(EXCLUDED_OUTCOME_FLAGS)) for f in o["flags"]]
    return o[np.asarray(keep, dtype=bool)] if len(o) else o


def _grouped(frame: pd.DataFrame, key: str) -> dict[str, list[tuple[int, dict]]]:
    """``(position, record)`` pairs of ``frame`` by ``key``, groups in order of first
    appearance (as ``groupby(sort=False)``; rows without a key are left out)."""
    out: dict[str, list[tuple[int, dict]]] = {}
    for i, r in enumerate(frame.to_dict(orient="records")):
        if pd.notna(r[key]):
            out.setdefault(r[key], []).append((i, r))
    return out


@dataclass(frozen=True)
class EvidenceIndex:
    """The studies and arms of an evidence set as records by id, and the study labels:
    read once per review (per-row pandas look-ups would make the selection cost grow with
    the square of the number of rows)."""

    studies: dict
    arms: dict
    role: dict
    labels: dict

    @classmethod
    def of(cls, evidence) -> EvidenceIndex:
        arms = {r["arm_id"]: r for r in evidence.arms.to_dict(orient="records")}
        return cls(
            studies={r["study_id"]: r for r in evidence.studies.to_dict(orient="records")},
            arms=arms,
            role={a: r["role"] for a, r in arms.items()},
            labels=study_labels(evidence.studies),
        )


def select_rows(
    evidence, spec: AnalysisSpec, rules: InclusionRules, *, index: EvidenceIndex | None = None
) -> Selection:
    """Input rows for ``spec`` from an evidence set (``studies``, ``arms``, ``outcomes``,
    ``adverse_events`` frames), after the inclusion rules. ``index`` (made here when not
    given) is :meth:`EvidenceIndex.of` the same evidence set."""
    index = EvidenceIndex.of(evidence) if index is None else index
    studies, arms, role, labels = index.studies, index.arms, index.role, index.labels
    excl = study_exclusions(evidence.studies, rules)
    excluded_ids = set(excl["study_id"])
    if spec.outcome.startswith("ae_"):
        rows = _adverse_event_rows(evidence, spec.outcome[3:], role)
    elif spec.design == "single_arm":
        rows = _single_arm_rows(with_components(evidence.outcomes, spec.outcome), spec, role)
    else:
        rows = _controlled_rows(with_components(evidence.outcomes, spec.outcome), spec, role)
    records = []
    for r in rows:
        sid = r["study_id"]
        if sid in excluded_ids or sid not in studies:
            continue
        study = studies[sid]
        chars = characteristics(arms[r["arm_id"]], study)
        if spec.baseline_ais:
            present = {g for g, c in chars["grade_counts"].items() if c}
            if not present or not present <= set(spec.baseline_ais):
                continue
        year = study.get("year")
        records.append(
            {
                "study_id": sid,
                "label": labels.get(sid, sid),
                "year": int(year) if pd.notna(year) else None,
                **r,
                **chars,
            }
        )
    df = pd.DataFrame(records)
    if len(df):
        # several arms of one study: name the arm in the label
        dup = df["study_id"].duplicated(keep=False)
        df.loc[dup, "label"] = [
            f"{lab} ({arms[a]['arm_label']})"
            for lab, a in zip(df.loc[dup, "label"], df.loc[dup, "arm_id"], strict=True)
        ]
    if "count" in df.columns:
        from sci_evidence.review.safety import DERIVED

        derived = df["count"] == DERIVED
        df.loc[derived, "label"] = [f"{lab} [{DERIVED}]" for lab in df.loc[derived, "label"]]
    used = set(df["study_id"]) if len(df) else set()
    excl = excl[excl["study_id"].isin(set(r["study_id"] for r in rows) - used)]
    return Selection(rows=df, excluded=excl.reset_index(drop=True))


def _single_arm_rows(outcomes: pd.DataFrame, spec: AnalysisSpec, role: dict) -> list[dict]:
    o = _usable(outcomes, spec.outcome)
    o = o[[role.get(a) == "treated" for a in o["arm_id"]]] if len(o) else o
    if spec.outcome_kind == "binary":
        o = o[o["events"].notna() & o["n"].notna() & ~o["is_baseline"].astype(bool)]
        o = _last_timepoint(o) if len(o) else o
        return [
            {
                "study_id": r["study_id"],
                "arm_id": r["arm_id"],
                "xi": int(r["events"]),
                "ni": int(r["n"]),
                "timepoint": r["timepoint"],
                "outcome_ids": r["outcome_id"],
            }
            for r in o.to_dict(orient="records")
        ]
    out = []
    for arm_id, g in _grouped(o, "arm_id").items():
        row = _arm_change(arm_id, g)
        if row is not None:
            out.append(row)
    return out


def _arm_change(arm_id: str, g: list[tuple[int, dict]]) -> dict | None:
    """The change from baseline of one arm: a reported change (mean and SD, or converted
    from a median), else the last follow-up against baseline (``pre-post``: the change SD
    comes from both SDs and the protocol's correlation); None without the numbers."""
    change = []
    for x in g:
        r = x[1]
        s = summary(r) if bool(r["is_change"]) and pd.notna(r["n"]) else None
        if s is not None:
            change.append((x[0], {**r, "_s": s}))
    if change:
        r = _last(change)
        m, sd, how = r["_s"]
        return {
            "study_id": r["study_id"],
            "arm_id": arm_id,
            "kind": "change",
            "mi": m,
            "sdi": sd,
            "ni": int(r["n"]),
            "converted": how,
            "timepoint": r["timepoint"],
            "timepoint_months": r["timepoint_months"],
            "outcome_ids": r["outcome_id"],
        }
    levels = [x for x in g if not bool(x[1]["is_change"])]
    n_known = [x[1]["n"] for x in levels if pd.notna(x[1]["n"])]
    n_arm = n_known[0] if n_known else None
    ok = []
    for i, r in levels:
        s = summary(r, n=None if pd.notna(r["n"]) else n_arm)
        if s is not None:
            ok.append((i, {**r, "_s": s}))
    base = [x for x in ok if bool(x[1]["is_baseline"])]
    post = [x for x in ok if not bool(x[1]["is_baseline"])]
    if not base or not post:
        return None
    b, p = base[0][1], _last(post)
    n = p["n"] if pd.notna(p["n"]) else b["n"]
    if pd.isna(n):
        return None
    how = "; ".join(
        f"{w}: {h}" for w, h in (("follow-up", p["_s"][2]), ("baseline", b["_s"][2])) if h
    )
    return {
        "study_id": p["study_id"],
        "arm_id": arm_id,
        "kind": "pre-post",
        "m1i": p["_s"][0],
        "m2i": b["_s"][0],
        "sd1i": p["_s"][1],
        "sd2i": b["_s"][1],
        "ni": int(n),
        "converted": how,
        "timepoint": p["timepoint"],
        "timepoint_months": p["timepoint_months"],
        "outcome_ids": f"{p['outcome_id']};{b['outcome_id']}",
    }


def _controlled_rows(outcomes: pd.DataFrame, spec: AnalysisSpec, role: dict) -> list[dict]:
    o = _usable(outcomes, spec.outcome)
    out = []
    for sid, g in _grouped(o, "study_id").items():
        t_all = [x for x in g if role.get(x[1]["arm_id"], "") == "treated"]
        c_all = [x for x in g if role.get(x[1]["arm_id"], "") == "control"]
        if not t_all or not c_all:
            continue
        t_arm, c_arm = t_all[0][1]["arm_id"], c_all[0][1]["arm_id"]
        t_all = [x for x in t_all if x[1]["arm_id"] == t_arm]
        c_all = [x for x in c_all if x[1]["arm_id"] == c_arm]
        if spec.outcome_kind == "binary":
            t = [x for x in t_all if _known(x[1], "events", "n")]
            c = [x for x in c_all if _known(x[1], "events", "n")]
            if not t or not c:
                continue
            t, c = _last(t), _last(c)
            out.append(
                {
                    "study_id": sid,
                    "arm_id": t_arm,
                    "control_arm_id": c_arm,
                    "ai": int(t["events"]),
                    "n1i": int(t["n"]),
                    "ci": int(c["events"]),
                    "n2i": int(c["n"]),
                    "timepoint": t["timepoint"],
                    "outcome_ids": f"{t['outcome_id']};{c['outcome_id']}",
                }
            )
            continue
        pick = None
        for change in (True, False):

            def usable(x, change=change):
                r = x[1]
                if bool(r["is_change"]) != change or bool(r["is_baseline"]) or pd.isna(r["n"]):
                    return None
                s = summary(r)
                return None if s is None else (x[0], {**r, "_s": s})

            t = [u for u in map(usable, t_all) if u is not None]
            c = [u for u in map(usable, c_all) if u is not None]
            if t and c:
                pick = (_last(t), _last(c), change)
                break
        if pick is None:
            continue
        t, c, change = pick
        how = "; ".join(f"{w}: {x['_s'][2]}" for w, x in (("MSC", t), ("control", c)) if x["_s"][2])
        out.append(
            {
                "study_id": sid,
                "arm_id": t_arm,
                "control_arm_id": c_arm,
                "kind": "change" if change else "follow-up",
                "m1i": t["_s"][0],
                "sd1i": t["_s"][1],
                "n1i": int(t["n"]),
                "m2i": c["_s"][0],
                "sd2i": c["_s"][1],
                "n2i": int(c["n"]),
                "converted": how,
                "timepoint": t["timepoint"],
                "outcome_ids": f"{t['outcome_id']};{c['outcome_id']}",
            }
        )
    return out


def _adverse_event_rows(evidence, ae_type: str, role: dict) -> list[dict]:
    """Per treated arm, the patients with an ``ae_type`` event: the explicit row, or for
    ``any``/``serious`` a lower bound from single event types, marked in ``count``
    (:func:`sci_evidence.review.safety.event_counts` states the rules)."""
    from sci_evidence.review.safety import event_counts

    return event_counts(evidence.adverse_events, ae_type, role)[0]
