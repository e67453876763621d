"""Validation of evidence files: every problem at once, each with file, row, column, value, why.

Errors block an import (nothing is written); warnings (soft problems) are reported and do not
block. The checks, in order:

1. **Headers** — unknown columns, missing key columns.
2. **Cells** — each value parses as its column's kind (integer, number, true/false) and lies in
   its controlled vocabulary (design, route, phase, AIS grade, status, …).
3. **Rows** — counts above n (events, transitions, AE patients, baseline AIS and level counts),
   negative n/SD/counts, scores outside their range, a dose without a unit, an AIS grade outside
   A–E, a missing provenance status, unknown references (arm of another study, unknown study).
4. **Groups** — AIS transitions of one arm/time point that add up to more than n (error) or to
   less than n without the ``transitions_partial``/``counts_do_not_add_up`` flag (error),
   duplicate keys.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd

from sci_evidence.evidence.columns import (
    AIS_GRADES,
    FRAMES,
    KEYS,
    OUTCOME_DOMAINS,
    RISK_OF_BIAS_JUDGEMENTS,
    SCORE_RANGES,
    SINGLE_ROUTES,
    STATUS,
    VOCAB,
    coerce_frame,
)
from sci_evidence.evidence.io import RawTable

REQUIRED_TEXT: dict[str, tuple[str, ...]] = {
    "studies": ("study_id", "design", "status"),
    "arms": ("study_id", "arm_id", "role", "status"),
    "outcomes": ("outcome_id", "study_id", "arm_id", "outcome", "status"),
    "adverse_events": ("ae_id", "study_id", "arm_id", "ae_type", "status"),
    "risk_of_bias": ("study_id", "tool", "domain", "judgement", "status"),
    "screening": ("review", "stage", "status"),
    "natural_history_conversion": ("nh_id", "source", "baseline_grade", "endpoint", "status"),
    "natural_history_scores": ("cohort", "outcome", "baseline_grade", "level_group", "status"),
    "published_pooled": ("pooled_id", "review", "outcome", "measure", "status"),
    "provenance": ("table", "key", "field", "status"),
}
PARTIAL_FLAGS = ("transitions_partial", "counts_do_not_add_up")
#: Largest whole number a column holds (SQL BIGINT, 64-bit signed).
MAX_INT = 2**63 - 1
_INTEGER = re.compile(r"[+-]?\d+")
#: Characters no database stores: NUL (PostgreSQL) and lone UTF-16 surrogates (from JSON).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class Issue:
    """One problem: where (file, row, column), the value, why, and how bad."""

    severity: str  # "error" | "warning"
    location: str
    row: int | None
    column: str
    value: str
    message: str

    def line(self) -> str:
        where = self.location
        if self.row is not None:
            where += f", row {self.row}"
        if self.column:
            where += f", column '{self.column}'"
        value = f" (value: {self.value!r})" if self.value != "" else ""
        return f"{self.severity}: {where}: {self.message}{value}"

    def to_dict(self) -> dict:
        return {
            "severity": self.severity,
            "location": self.location,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "message": self.message,
        }


@dataclass(frozen=True)
class ValidationReport:
    """All problems of a file, and its typed frames (usable only when ``ok``)."""

    issues: tuple[Issue, ...]
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        rows = sum(len(df) for df in self.frames.values())
        head = (
            f"{len(self.errors)} errors, {len(self.warnings)} warnings in {rows} rows of "
            f"{len(self.frames)} tables"
        )
        return "\n".join([head, *(i.line() for i in self.issues)])

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "issues": [i.to_dict() for i in self.issues],
            "rows": {n: len(df) for n, df in self.frames.items()},
        }


class _Collector:
    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def error(self, t: RawTable, i: int | None, col: str, value: object, msg: str) -> None:
        self._add("error", t, i, col, value, msg)

    def warn(self, t: RawTable, i: int | None, col: str, value: object, msg: str) -> None:
        self._add("warning", t, i, col, value, msg)

    def _add(self, sev: str, t: RawTable, i: int | None, col: str, value: object, msg: str):
        row = t.rows[i] if i is not None else 1
        self.issues.append(Issue(sev, t.location, row, col, _show(value), msg))


def _printable(text: str) -> str:
    """Text safe to print and to encode: controls and lone surrogates as ``\\uXXXX``."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


def _show(v: object) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def validate_tables(
    tables: list[RawTable], existing: dict[str, pd.DataFrame] | None = None
) -> ValidationReport:
    """Check text tables read from a file; return every issue and the typed frames.

    Parameters
    ----------
    tables : list of RawTable
        From :func:`sci_evidence.evidence.io.read_evidence_file`.
    existing : dict of DataFrame, optional
        Frames already stored (e.g. the database), so that references (an outcome's arm, an
        arm's study) may point at rows that are not in the file.
    """
    c = _Collector()
    typed: dict[str, pd.DataFrame] = {}
    seen: dict[str, RawTable] = {}
    for t in tables:
        if t.name in seen:
            c.error(t, None, "", t.name, "the table appears twice in the file")
            continue
        seen[t.name] = t
        df = _check_cells(t, c)
        typed[t.name] = df
    for name, df in typed.items():
        _check_rows(seen[name], df, c)
    _check_references(seen, typed, existing or {}, c)
    _check_transitions(seen, typed, c)
    issues = sorted(c.issues, key=lambda x: (x.severity != "error", x.location, x.row or 0))
    return ValidationReport(issues=tuple(issues), frames=typed)


# ----------------------------------------------------------------------------- cells
def _check_cells(t: RawTable, c: _Collector) -> pd.DataFrame:
    name = t.name
    df = t.df
    for col in t.extra_columns:
        c.error(t, None, _printable(col), "", f"unknown column for table '{name}'")
    for key in KEYS[name]:
        if key not in df.columns:
            c.error(t, None, key, "", f"missing key column of table '{name}'")
    parsed: dict[str, list] = {}
    for col, kind in FRAMES[name]:
        values = df[col].tolist() if col in df.columns else [""] * len(df)
        out = []
        for i, raw in enumerate(values):
            text = "" if raw is None else str(raw).strip()
            try:
                out.append(_parse(text, kind))
            except ValueError as exc:
                c.error(t, i, col, _printable(text), str(exc))
                out.append(None)
        parsed[col] = out
    typed = coerce_frame(pd.DataFrame(parsed, index=range(len(df))), name)
    for (frame, col), allowed in VOCAB.items():
        if frame != name:
            continue
        for i, v in enumerate(typed[col]):
            if v not in allowed:
                c.error(t, i, col, v, _vocab_message(col, allowed))
    if "status" in typed.columns:
        for i, v in enumerate(typed["status"]):
            if v and v not in STATUS:
                c.error(t, i, "status", v, _vocab_message("status", STATUS))
    for col in REQUIRED_TEXT.get(name, ()):
        for i, v in enumerate(typed[col]):
            if v == "":
                c.error(
                    t,
                    i,
                    col,
                    "",
                    "required value is empty"
                    + (
                        " (provenance status: reported, derived, interpreted or unverified)"
                        if col == "status"
                        else ""
                    ),
                )
    return typed


def _vocab_message(col: str, allowed: tuple[str, ...]) -> str:
    shown = ", ".join(a for a in allowed if a) + (" or empty" if "" in allowed else "")
    return f"unknown {col.replace('_', ' ')}; allowed: {shown}"


def _parse(text: str, kind: str) -> object:
    if kind == "str":
        bad = _UNSTORABLE.search(text)
        if bad:
            ch = bad.group(0)
            if ch == "\x00":
                raise ValueError("contains a NUL character (\\x00), which cannot be stored")
            raise ValueError(
                f"contains an invalid character (a lone surrogate \\u{ord(ch):04x}), "
                "which cannot be stored"
            )
        return text
    if text == "" or text.lower() in ("na", "nan", "<na>", "none", "null"):
        return None
    if kind == "int":
        if _INTEGER.fullmatch(text):
            value = int(text)
        else:
            try:
                x = float(text)
            except ValueError:
                raise ValueError("not a whole number") from None
            if not x.is_integer():
                raise ValueError("not a whole number")
            value = int(x)
        if not -MAX_INT <= value <= MAX_INT:
            raise ValueError(f"too large for a whole-number column (largest: {MAX_INT})")
        return value
    if kind == "float":
        try:
            x = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        if math.isinf(x):
            raise ValueError("not a finite number")
        return x
    if kind == "bool":
        low = text.lower()
        if low in ("true", "yes", "1", "1.0"):
            return True
        if low in ("false", "no", "0", "0.0"):
            return False
        raise ValueError("not true/false")
    raise AssertionError(kind)


# ----------------------------------------------------------------------------- rows
def _nn(v: object) -> bool:
    """Not missing."""
    return not (v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)))


def _check_rows(t: RawTable, df: pd.DataFrame, c: _Collector) -> None:
    name = t.name
    # duplicate keys
    keys = list(KEYS[name])
    dup = df.duplicated(subset=keys, keep="first")
    for i in df.index[dup]:
        c.error(
            t,
            int(i),
            keys[0],
            ":".join(str(df.at[i, k]) for k in keys),
            "duplicate key (already on an earlier row)",
        )
    for col, kind in FRAMES[name]:
        if kind in ("int", "float") and col not in (
            "mean",
            "estimate",
            "ci_lb",
            "ci_ub",
            "timepoint_months",
            "year",
        ):
            for i, v in enumerate(df[col]):
                if _nn(v) and v < 0:
                    what = "SD" if col == "sd" else col
                    c.error(t, i, col, v, f"negative {what}")
    check = {
        "studies": _rows_studies,
        "arms": _rows_arms,
        "outcomes": _rows_outcomes,
        "adverse_events": _rows_aes,
        "risk_of_bias": _rows_rob,
        "natural_history_conversion": _rows_nh,
        "published_pooled": _rows_pooled,
    }.get(name)
    if check is not None:
        for i, r in enumerate(df.to_dict("records")):
            check(t, i, r, c)
    if "status" in df.columns and "notes" in df.columns:
        for i, r in enumerate(df.to_dict("records")):
            if r["status"] == "interpreted" and not r["notes"] and not r.get("verbatim"):
                c.warn(t, i, "notes", "", "an interpreted value should say why (notes/verbatim)")


def _rows_studies(t, i, r, c) -> None:
    y = r["year"]
    if _nn(y) and not 1900 <= y <= 2100:
        c.error(t, i, "year", y, "year outside 1900-2100")


def _rows_arms(t, i, r, c) -> None:
    sid, aid = r["study_id"], r["arm_id"]
    if sid and aid and not aid.startswith(sid + ":"):
        c.error(t, i, "arm_id", aid, f"arm id must start with its study id '{sid}:'")
    n = r["n"]
    if not _nn(n):
        c.warn(t, i, "n", "", "arm size not stated")
    if r["role"] == "treated":
        if r["control_type"]:
            c.error(t, i, "control_type", r["control_type"], "a treated arm has no control type")
        route = r["route"]
        if route:
            parts = route.split("+")
            for p in parts:
                if p not in SINGLE_ROUTES:
                    c.error(
                        t,
                        i,
                        "route",
                        route,
                        f"unknown route '{p}'; allowed: {', '.join(SINGLE_ROUTES)} "
                        "(combine with '+')",
                    )
            expected = "combination" if len(parts) > 1 else parts[0]
            if (
                r["route_group"]
                and r["route_group"] != expected
                and all(p in SINGLE_ROUTES for p in parts)
            ):
                c.error(
                    t,
                    i,
                    "route_group",
                    r["route_group"],
                    f"route group does not match route '{route}' (expected '{expected}')",
                )
    elif r["role"] == "control" and not r["control_type"]:
        c.error(t, i, "control_type", "", "a control arm needs a control type")
    dose = r["dose_cells"]
    if _nn(dose) and not r["dose_unit"]:
        c.error(t, i, "dose_unit", "", "a dose without a unit (cells, cells/kg or cells/ml)")
    if _nn(dose) and dose <= 0:
        c.error(t, i, "dose_cells", dose, "dose must be positive")
    na = r["n_administrations"]
    if _nn(na) and na < 1:
        c.error(t, i, "n_administrations", na, "number of administrations must be at least 1")
    if _nn(n):
        ais = [r[f"ais_{g}"] for g in "abcd"]
        total = sum(x for x in ais if _nn(x))
        if total > n:
            c.error(t, i, "ais_a", total, f"baseline AIS counts add up to {total}, above n={n}")
        lv = [r[k] for k in ("n_cervical", "n_thoracic", "n_lumbar")]
        total = sum(x for x in lv if _nn(x))
        if total > n:
            c.error(t, i, "n_cervical", total, f"level counts add up to {total}, above n={n}")
        sex = sum(x for x in (r["n_male"], r["n_female"]) if _nn(x))
        if sex > n:
            c.error(t, i, "n_male", sex, f"male + female = {sex}, above n={n}")
        if _nn(r["n_safety"]) and r["n_safety"] < n:
            c.warn(t, i, "n_safety", r["n_safety"], f"safety set smaller than n={n}")
    if _nn(r["age_mean"]) and not 0 <= r["age_mean"] <= 120:
        c.error(t, i, "age_mean", r["age_mean"], "age outside 0-120")


def _grades_in(text: str) -> list[str]:
    return re.findall(r"\b([A-Z])\b", text.split("(")[0])


def _rows_outcomes(t, i, r, c) -> None:
    out = r["outcome"]
    if out and out not in OUTCOME_DOMAINS:
        c.error(t, i, "outcome", out, "unknown outcome; see docs/evidence_schema.md for the list")
    elif out and r["domain"] and r["domain"] != OUTCOME_DOMAINS[out]:
        c.error(t, i, "domain", r["domain"], f"domain of '{out}' is '{OUTCOME_DOMAINS[out]}'")
    if not r["arm_id"].startswith(r["study_id"] + ":"):
        c.error(t, i, "arm_id", r["arm_id"], f"arm is not an arm of study '{r['study_id']}'")
    n = r["n"]
    for col in ("events", "count"):
        v = r[col]
        if _nn(v) and _nn(n) and v > n:
            c.error(t, i, col, v, f"count above n={n}")
    for col in ("to_grade",):
        v = r[col]
        if v:
            bad = [g for g in _grades_in(v) if g not in AIS_GRADES]
            if bad or not _grades_in(v):
                c.error(t, i, col, v, "AIS grade outside A-E")
    if out == "ais_transition":
        if not r["from_grade"]:
            c.error(t, i, "from_grade", "", "a transition needs its baseline grade")
        if not r["to_grade"]:
            c.error(t, i, "to_grade", "", "a transition needs its follow-up grade")
        if not _nn(r["count"]):
            c.error(t, i, "count", "", "a transition needs its count")
    if out == "ais_improved" and not _nn(r["events"]):
        c.error(t, i, "events", "", "responders (events) missing")
    if out in SCORE_RANGES and not r["is_change"]:
        lo, hi = SCORE_RANGES[out]
        for col in ("mean", "median", "q1", "q3"):
            v = r[col]
            if _nn(v) and not lo <= v <= hi:
                c.error(t, i, col, v, f"{out} outside its range {lo:g}-{hi:g}")
    if _nn(r["q1"]) and _nn(r["q3"]) and r["q1"] > r["q3"]:
        c.error(t, i, "q1", r["q1"], f"q1 above q3={r['q3']}")
    if _nn(r["sd"]) and not _nn(r["mean"]):
        c.warn(t, i, "mean", "", "SD given without a mean")
    if not any(_nn(r[k]) for k in ("mean", "median", "events", "count")):
        c.warn(t, i, "", out, "row holds no value (mean, median, events or count)")


def _rows_aes(t, i, r, c) -> None:
    n = r["n"]
    p = r["patients"]
    if _nn(p) and _nn(n) and p > n:
        c.error(t, i, "patients", p, f"patients with the event above n={n}")
    if _nn(r["percent"]) and not 0 <= r["percent"] <= 100:
        c.error(t, i, "percent", r["percent"], "percent outside 0-100")
    if not r["arm_id"].startswith(r["study_id"] + ":"):
        c.error(t, i, "arm_id", r["arm_id"], f"arm is not an arm of study '{r['study_id']}'")


def _rows_rob(t, i, r, c) -> None:
    tool = r["tool"]
    allowed = RISK_OF_BIAS_JUDGEMENTS.get(tool)
    if allowed and r["judgement"] not in allowed:
        c.error(
            t,
            i,
            "judgement",
            r["judgement"],
            f"unknown judgement for {tool}; allowed: {', '.join(allowed)}",
        )


def _rows_nh(t, i, r, c) -> None:
    n, k = r["n"], r["count"]
    if _nn(k) and _nn(n) and k > n:
        c.error(t, i, "count", k, f"count above n={n}")
    if _nn(r["percent"]) and not 0 <= r["percent"] <= 100:
        c.error(t, i, "percent", r["percent"], "percent outside 0-100")
    if r["endpoint"] == "to_grade":
        bad = [g for g in r["to_grade"].split("/") if g not in AIS_GRADES]
        if bad:
            c.error(t, i, "to_grade", r["to_grade"], "AIS grade outside A-E")


def _rows_pooled(t, i, r, c) -> None:
    lb, ub, est = r["ci_lb"], r["ci_ub"], r["estimate"]
    if _nn(lb) and _nn(ub) and lb > ub:
        c.error(t, i, "ci_lb", lb, f"lower CI bound above the upper ({ub})")
    if _nn(lb) and _nn(ub) and _nn(est) and not lb <= est <= ub:
        c.error(t, i, "estimate", est, f"estimate outside its CI [{lb}, {ub}]")


# ----------------------------------------------------------------------------- cross-table
def _check_references(seen, typed, existing, c) -> None:
    def ids(name: str, col: str) -> set:
        out = set()
        if name in typed:
            out |= set(typed[name][col])
        if name in existing and len(existing[name]):
            out |= set(existing[name][col])
        return out

    study_ids = ids("studies", "study_id")
    arm_ids = ids("arms", "arm_id")
    for name in ("arms", "outcomes", "adverse_events", "risk_of_bias"):
        if name not in typed:
            continue
        for i, sid in enumerate(typed[name]["study_id"]):
            if sid and sid not in study_ids:
                c.error(
                    seen[name],
                    i,
                    "study_id",
                    sid,
                    "unknown study (not in the file or the database)",
                )
    for name in ("outcomes", "adverse_events"):
        if name not in typed:
            continue
        for i, aid in enumerate(typed[name]["arm_id"]):
            if aid and aid not in arm_ids:
                c.error(
                    seen[name], i, "arm_id", aid, "unknown arm (not in the file or the database)"
                )
    if "screening" in typed:
        for i, sid in enumerate(typed["screening"]["study_id"]):
            if sid and sid not in study_ids:
                c.warn(
                    seen["screening"], i, "study_id", sid, "screening record of an unknown study"
                )


def _check_transitions(seen, typed, c) -> None:
    if "outcomes" not in typed:
        return
    df = typed["outcomes"]
    tr = df[df["outcome"] == "ais_transition"]
    for (_arm, _tp, _sub), g in tr.groupby(["arm_id", "timepoint", "subgroup"], sort=False):
        ns = [x for x in g["n"] if _nn(x)]
        if not ns:
            continue
        n = int(max(ns))
        total = int(sum(x for x in g["count"] if _nn(x)))
        i = int(g.index[-1])
        flagged = any(f in fl for fl in g["flags"] for f in PARTIAL_FLAGS)
        if total > n:
            c.error(
                seen["outcomes"],
                i,
                "count",
                total,
                f"AIS transitions add up to {total}, above n={n}",
            )
        elif total < n and not flagged:
            c.error(
                seen["outcomes"],
                i,
                "count",
                total,
                f"AIS transitions add up to {total}, not n={n} (flag the rows "
                "'transitions_partial' when only some transitions are reported)",
            )
        elif total < n:
            c.warn(
                seen["outcomes"],
                i,
                "count",
                total,
                f"AIS transitions add up to {total} of n={n} (flagged)",
            )
